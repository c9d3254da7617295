"""/v1/rate-limits against a real PostgreSQL: the policies the poll stored with their
latest reading, a policy's readings newest first (filters, cursor), the thresholds'
PATCH, every 422 naming its field, 404 for a policy the DICT never reported, scopes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from app import clock, db
from app.api import auth
from app.api.app import create_app
from app.repo import rate_limits
from app.repo.rate_limits import Reading
from app.security import create_api_key

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
BASE = "/v1/rate-limits/policies"


def _key(database_url: str, *scopes: str) -> str:
    with db.connect(database_url, autocommit=True) as conn:
        return create_api_key(conn, f"k-{uuid.uuid4().hex[:8]}", scopes)


@pytest.fixture
def api(database_url: str, redis_url: str) -> Iterator[TestClient[Any]]:
    auth.cache.clear()
    key = _key(database_url, "rate_limits:read", "rate_limits:write")
    with clock.freeze(NOW), TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    auth.cache.clear()


def _read(at: datetime, **available: int) -> None:
    """A poll at ``at``: SYNC_VERIFICATIONS_WRITE (50) and ENTRIES_WRITE (36,000)."""
    sizes = {"SYNC_VERIFICATIONS_WRITE": (50, 10), "ENTRIES_WRITE": (36_000, 1_200)}
    found = [
        Reading(name, None, "PSP", available.get(name, capacity), capacity, refill, 60)
        for name, (capacity, refill) in sorted(sizes.items())
    ]
    with db.pool().connection() as conn, conn.transaction():
        rate_limits.record_policies(conn, found, at)
        rate_limits.record_readings(conn, found, at)


@pytest.fixture
def polled(api: TestClient[Any]) -> None:
    """Four polls, a minute apart, the newest at NOW: the bucket spent to 5 of 50."""
    for n, left in enumerate((50, 30, 12, 5)):
        _read(NOW - (3 - n) * MINUTE, SYNC_VERIFICATIONS_WRITE=left)


def _errors(r: Any) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    return [(e["field"], e["rule"]) for e in r.json()["errors"]]


def test_no_policy_before_the_first_poll(api: TestClient[Any]) -> None:
    assert api.get(BASE).json() == {"items": []}
    r = api.get(f"{BASE}/ENTRIES_WRITE")
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")


@pytest.mark.usefixtures("polled")
def test_the_policies_with_their_latest_reading(api: TestClient[Any]) -> None:
    items = api.get(BASE).json()["items"]
    assert [p["name"] for p in items] == ["ENTRIES_WRITE", "SYNC_VERIFICATIONS_WRITE"]
    one = api.get(f"{BASE}/SYNC_VERIFICATIONS_WRITE").json()
    assert one == items[1]
    assert one["latest"] == {
        "read_at": "2026-12-03T12:00:00Z",
        "available_tokens": 5,
        "percent_left": 10.0,
    }
    assert (one["capacity"], one["refill_tokens"], one["refill_period_s"]) == (50, 10, 60)
    assert (one["scope"], one["category"]) == ("PSP", None)
    assert (one["warning_pct"], one["critical_pct"], one["level"]) == (25.0, 10.0, "ok")


@pytest.mark.usefixtures("polled")
def test_the_readings_newest_first_page_by_page(api: TestClient[Any]) -> None:
    url = f"{BASE}/SYNC_VERIFICATIONS_WRITE/readings"
    first = api.get(url, params={"limit": 3}).json()
    assert [r["available_tokens"] for r in first["items"]] == [5, 12, 30]
    assert first["items"][0]["percent_left"] == 10.0
    rest = api.get(url, params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [r["available_tokens"] for r in rest["items"]] == [50]
    assert rest["next_cursor"] is None
    window = {"from": (NOW - 2 * MINUTE).isoformat(), "to": NOW.isoformat()}
    assert [r["available_tokens"] for r in api.get(url, params=window).json()["items"]] == [
        12,
        30,
    ]
    assert api.get(f"{BASE}/NOPE/readings").status_code == 404


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"from": "yesterday"}, [("from", "format")]),
        ({"to": "2026-12-03T12:00:00"}, [("to", "timezone")]),
        ({"from": "2026-12-03T12:00:00Z", "to": "2026-12-03T11:00:00Z"}, [("to", "after_from")]),
        ({"from": "2026-12-03T12:00:00Z", "to": "2026-12-03T12:00:00Z"}, [("to", "after_from")]),
        ({"cursor": "not-a-cursor!"}, [("cursor", "cursor")]),
        ({"limit": 0}, [("limit", "minimum")]),
        ({"limit": 1001}, [("limit", "maximum")]),
    ],
)
@pytest.mark.usefixtures("polled")
def test_a_bad_readings_query_names_its_parameter(
    api: TestClient[Any], params: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    r = api.get(f"{BASE}/SYNC_VERIFICATIONS_WRITE/readings", params=params)
    assert _errors(r) == errors


@pytest.mark.usefixtures("polled")
def test_the_thresholds_change_and_judge_the_next_reading(api: TestClient[Any]) -> None:
    url = f"{BASE}/SYNC_VERIFICATIONS_WRITE"
    r = api.patch(url, json={"warning_pct": 40, "critical_pct": 20.5})
    assert r.status_code == 200, r.text
    assert (r.json()["warning_pct"], r.json()["critical_pct"]) == (40.0, 20.5)
    assert api.patch(url, json={"warning_pct": 30}).json()["critical_pct"] == 20.5
    assert api.get(url).json()["warning_pct"] == 30.0
    assert api.get(f"{BASE}/ENTRIES_WRITE").json()["warning_pct"] == 25.0


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, [("warning_pct", "required")]),
        ({"warning_pct": None, "critical_pct": None}, [("warning_pct", "required")]),
        ({"warning": 30}, [("warning", "unknown_field")]),
        ({"warning_pct": "thirty"}, [("warning_pct", "type")]),
        ({"warning_pct": 100}, [("warning_pct", "range")]),
        ({"warning_pct": 0}, [("warning_pct", "range")]),
        ({"critical_pct": -5}, [("critical_pct", "range")]),
        (
            {"warning_pct": 120, "critical_pct": 0},
            [("warning_pct", "range"), ("critical_pct", "range")],
        ),
        ({"warning_pct": 20, "critical_pct": 20}, [("critical_pct", "below_warning")]),
        ({"critical_pct": 30}, [("critical_pct", "below_warning")]),  # warning stays 25
        ({"warning_pct": 8}, [("warning_pct", "above_critical")]),  # critical stays 10
    ],
)
@pytest.mark.usefixtures("polled")
def test_bad_thresholds_are_refused_naming_the_field(
    api: TestClient[Any], body: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    r = api.patch(f"{BASE}/SYNC_VERIFICATIONS_WRITE", json=body)
    assert _errors(r) == errors
    unchanged = api.get(f"{BASE}/SYNC_VERIFICATIONS_WRITE").json()
    assert (unchanged["warning_pct"], unchanged["critical_pct"]) == (25.0, 10.0)


def test_an_unknown_policy_is_404_on_patch(api: TestClient[Any]) -> None:
    r = api.patch(f"{BASE}/NOPE", json={"warning_pct": 30})
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]


@pytest.mark.usefixtures("polled")
def test_reading_needs_rate_limits_read_and_changing_rate_limits_write(
    api: TestClient[Any], database_url: str
) -> None:
    api.headers["Authorization"] = f"Bearer {_key(database_url, 'rate_limits:read')}"
    assert api.get(BASE).status_code == 200
    assert api.patch(f"{BASE}/ENTRIES_WRITE", json={"warning_pct": 30}).status_code == 403
    api.headers["Authorization"] = f"Bearer {_key(database_url, 'entries:read')}"
    assert api.get(BASE).status_code == 403
