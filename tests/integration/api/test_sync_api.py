"""/v1/sync-runs, the scheduler and the VSync kept by the database, against a real
PostgreSQL and Redis (no DICT: what happens after the first call is the acceptance
tests' business, tests/acceptance/test_sync.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from app import db, outbox
from app.api.app import create_app
from app.domain.cid import compute_vsync
from app.domain.sync import KEY_TYPES
from app.repo import cids
from tests.integration.api.conftest import bearer


@pytest.fixture
def api(
    database_url: str, redis_url: str, make_key: Callable[..., str]
) -> Iterator[TestClient[Any]]:
    from app import queue

    queue.broker.cache_clear()
    with TestClient(create_app()) as client:
        client.headers.update(bearer(make_key("sync:read", "sync:write")))
        yield client
    queue.broker.cache_clear()


def rows(database_url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with db.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


def test_a_run_starts_verifying_with_its_call_written(api, database_url) -> None:
    r = api.post("/v1/sync-runs", json={"key_type": "EVP"})
    assert r.status_code == 201, r.text
    (run,) = r.json()["started"]
    assert run["status"] == "verifying" and run["cause"] == "requested"
    assert run["threshold"] == 100 and r.json()["already_open"] == []
    assert rows(database_url, "SELECT actor, args->>'run_id' AS run FROM outbox") == [
        {"actor": "verify_sync", "run": str(run["id"])}
    ]
    got = api.get(f"/v1/sync-runs/{run['id']}").json()
    assert [h["to_status"] for h in got["history"]] == ["verifying"]


def test_one_open_run_per_key_type(api) -> None:
    first = api.post("/v1/sync-runs", json={"key_type": "CPF"}).json()["started"][0]
    again = api.post("/v1/sync-runs", json={"key_type": "CPF"})
    assert again.status_code == 409
    assert f"CPF {first['id']}" in again.json()["detail"]
    every = api.post("/v1/sync-runs", json={})
    assert every.status_code == 201
    assert sorted(r["key_type"] for r in every.json()["started"]) == [
        "CNPJ",
        "EMAIL",
        "EVP",
        "PHONE",
    ]
    assert [r["id"] for r in every.json()["already_open"]] == [first["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"key_type": "IBAN"}, "key_type"), ({"key_type": "EVP", "extra": 1}, "extra")],
)
def test_a_bad_request_names_the_field(api, body: dict[str, Any], field: str) -> None:
    r = api.post("/v1/sync-runs", json=body)
    assert r.status_code in (400, 422), r.text
    assert field in r.text


def test_listing_filters_and_pages_newest_first(api) -> None:
    api.post("/v1/sync-runs", json={})
    page = api.get("/v1/sync-runs", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = api.get("/v1/sync-runs", params={"limit": 10, "cursor": page["next_cursor"]}).json()
    ids = [r["id"] for r in page["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5 and rest["next_cursor"] is None
    only = api.get("/v1/sync-runs", params={"key_type": "PHONE"}).json()["items"]
    assert [r["key_type"] for r in only] == ["PHONE"]
    assert api.get("/v1/sync-runs", params={"status": "nope"}).status_code in (400, 422)
    assert api.get("/v1/sync-runs", params={"cursor": "%%%"}).status_code in (400, 422)
    assert api.get("/v1/sync-runs/999999").status_code == 404
    assert api.get("/v1/sync-runs/999999/divergences").status_code == 404


def test_approving_a_run_not_awaiting_approval_is_a_conflict(api) -> None:
    run = api.post("/v1/sync-runs", json={"key_type": "EVP"}).json()["started"][0]
    r = api.post(f"/v1/sync-runs/{run['id']}/approve", json={})
    assert r.status_code == 409 and r.json()["current"] == "verifying"


def test_the_scope_is_required(api, make_key) -> None:
    api.headers.update(bearer(make_key("entries:read")))
    assert api.get("/v1/sync-runs").status_code == 403
    assert api.post("/v1/sync-runs", json={}).status_code == 403


# ---------------------------------------------------------------- the scheduler


def test_the_scheduler_starts_every_key_type_once_then_waits(database_url, redis_url) -> None:
    from actors.sync import start_due

    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # 07:00 in São Paulo
    started = start_due(now)
    assert sorted(r.key_type for r in started) == sorted(KEY_TYPES)
    assert {r.cause for r in started} == {"scheduled"}
    assert start_due(now + timedelta(minutes=1)) == []  # open runs
    with db.connect(database_url) as conn:  # they end OK at once
        conn.execute("SELECT dict_tag('test', 'in_sync', NULL, %s)", [now])
        conn.execute(
            "UPDATE sync_runs SET status = 'ok', verified_at = %s, finished_at = %s", [now, now]
        )
        conn.commit()
    assert start_due(now + timedelta(hours=12)) == []  # before tomorrow's 03:00
    tomorrow = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)  # 03:00 in São Paulo
    assert len(start_due(tomorrow)) == 5


def test_the_daily_summary_is_published_once_a_day(database_url, redis_url) -> None:
    from actors.sync import publish_summary

    now = datetime(2026, 12, 4, 3, 30, tzinfo=UTC)  # 00:30 in São Paulo
    assert publish_summary(now) is True
    assert publish_summary(now + timedelta(minutes=1)) is False
    (event,) = rows(database_url, "SELECT args FROM outbox WHERE actor = 'publish_event'")
    payload = event["args"]["payload"]
    assert event["args"]["topic"] == "sync.summary" and payload["day"] == "2026-12-03"
    assert [k["key_type"] for k in payload["key_types"]] == list(KEY_TYPES)


# ---------------------------------------------------------------- our CIDs


def _entry(database_url: str, key_type: str, cid: str) -> uuid.UUID:
    """An active entry of ours with ``cid``, made from psql (registering, then active)."""
    entry_id = uuid.uuid4()
    with db.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO entries (id, key, key_type, status, participant, account_number,
               account_type, opening_date, owner_type, owner_tax_id, owner_name, request_id,
               created_at, updated_at)
               VALUES (%s, %s, %s, 'registering', '12345678', '1', 'CACC', now(),
                       'NATURAL_PERSON', '52998224725', 'M', gen_random_uuid(), now(), now())""",
            [entry_id, f"k{entry_id.hex}@example.com", key_type],
        )
        conn.execute(
            "UPDATE entries SET status = 'active', cid = %s WHERE id = %s", [cid, entry_id]
        )
        conn.commit()
    return entry_id


def test_cids_and_the_vsync_follow_every_entry_change_even_from_psql(database_url) -> None:
    a, b = "1" * 64, "a" * 64
    first = _entry(database_url, "EMAIL", a)
    _entry(database_url, "EMAIL", b)
    with db.connect(database_url) as conn:
        assert cids.vsync(conn, "EMAIL") == cids.recompute(conn, "EMAIL") == compute_vsync([a, b])
        conn.execute("UPDATE entries SET cid = %s WHERE id = %s", ["2" * 64, first])
        conn.execute("UPDATE entries SET status = 'deleted', cid = NULL WHERE cid = %s", [b])
        assert cids.vsync(conn, "EMAIL") == compute_vsync(["2" * 64])
        assert [r["cid"] for r in conn.execute("SELECT cid FROM cids")] == ["2" * 64]
        assert cids.vsync(conn, "EVP") == "0" * 64


def test_a_drifted_shard_is_repaired_from_the_cids(database_url) -> None:
    _entry(database_url, "PHONE", "3" * 64)
    with db.connect(database_url) as conn:
        conn.execute(
            "UPDATE vsyncs SET vsync = repeat('1', 256)::bit(256)"
            " WHERE key_type = 'PHONE' AND shard = 9"
        )
        assert cids.vsync(conn, "PHONE") != cids.recompute(conn, "PHONE")
        with conn.transaction():
            assert cids.repair(conn, "PHONE", outbox.clock.now()) == [9]
        assert cids.vsync(conn, "PHONE") == cids.recompute(conn, "PHONE") == "3" * 64


def test_a_run_whose_message_died_is_given_one_again(database_url, redis_url) -> None:
    from actors.sync import restart_stalled, start_due

    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    (run, *_) = start_due(now)
    with db.connect(database_url) as conn:  # its verify_sync became a dead letter
        conn.execute(
            "UPDATE outbox SET status = 'failed', finished_at = %s, lease_until = NULL", [now]
        )
        conn.commit()
    with outbox.step() as s:
        s.now = now + timedelta(minutes=5)
        assert restart_stalled(s) == []  # not stalled yet
    with outbox.step() as s:
        s.now = now + timedelta(minutes=11)
        assert sorted(restart_stalled(s))[0] == run.id
    with outbox.step() as s:
        s.now = now + timedelta(minutes=12)
        assert restart_stalled(s) == []  # each has a message again
    again = rows(
        database_url,
        "SELECT actor FROM outbox WHERE subject = %s AND status <> 'failed'",
        f"sync_run:{run.id}",
    )
    assert again == [{"actor": "verify_sync"}]
