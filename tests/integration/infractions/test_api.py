"""/v1/infraction-reports against the in-process world: validation naming every field,
both roles' decisions, 409 with the current status, filters and cursor pagination."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from app import clock, db
from app.api import auth
from app.api.app import create_app
from app.security import create_api_key
from tests.integration.bridge.builders import OTHER, OURS
from tests.integration.claims.conftest import World
from tests.integration.infractions.conftest import e2e, ours_for, paid, poll, they_report


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[TestClient[Any]]:
    auth.cache.clear()
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(
            conn, f"k-{uuid.uuid4().hex[:8]}", ["infractions:read", "infractions:write"]
        )
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    auth.cache.clear()


def body(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "transaction_id": e2e(n),
        "reason": "REFUND_REQUEST",
        "situation_type": "SCAM",
        "contact_information": {"email": "cliente@banco.example", "phone": "+5521988887777"},
        "counterparty_participant": OTHER,
        **changes,
    }


def test_a_bad_report_is_refused_naming_every_field(api: TestClient[Any]) -> None:
    r = api.post(
        "/v1/infraction-reports",
        json=body(
            1,
            transaction_id="E1",
            situation_type="OTHER",
            contact_information={"email": "Not An Email", "phone": "021"},
            counterparty_participant=OURS,
        ),
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "transaction_id",
        "report_details",
        "contact_information.email",
        "contact_information.phone",
        "counterparty_participant",
    }


def test_a_transaction_older_than_80_days_cannot_be_reported(api: TestClient[Any]) -> None:
    old = (clock.now() - timedelta(days=81)).isoformat()
    r = api.post("/v1/infraction-reports", json=body(9, transaction_at=old))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "transaction_at"


def test_our_report_opens_and_is_cancelled_through_the_api(
    api: TestClient[Any], world: World
) -> None:
    paid(world, 2)
    r = api.post("/v1/infraction-reports", json=body(2))
    assert r.status_code == 202 and r.json()["status"] == "submitting"
    location = r.headers["Location"]
    again = api.post("/v1/infraction-reports", json=body(2))
    assert again.status_code == 409  # the DICT allows one live report per transaction
    assert again.json()["current"] == "submitting" and r.json()["id"] in again.json()["detail"]
    world.run_due()
    shown = api.get(location).json()
    assert (shown["status"], shown["role"]) == ("open", "REPORTER")
    assert shown["dict_id"] and shown["due_at"]
    assert [h["to_status"] for h in shown["history"]] == ["submitting", "open"]
    closing = api.post(f"{location}/close", json={"analysis_result": "DISAGREED"})
    assert closing.status_code == 409  # only the counterparty closes
    assert api.post(f"{location}/cancel").json()["status"] == "cancelling"
    world.run_due()
    assert api.get(location).json()["status"] == "cancelled"
    late = api.post(f"{location}/cancel")
    assert late.status_code == 409 and late.json()["current"] == "cancelled"


def test_a_report_against_us_is_closed_through_the_api(api: TestClient[Any], world: World) -> None:
    dict_id = they_report(world, 3).id
    poll()
    world.run_due()
    location = f"/v1/infraction-reports/{ours_for(dict_id).id}"
    assert api.post(f"{location}/cancel").status_code == 409  # only the reporter cancels
    missing = api.post(f"{location}/close", json={"analysis_result": "AGREED"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "fraud_type"
    r = api.post(
        f"{location}/close",
        json={"analysis_result": "AGREED", "fraud_type": "MULE_ACCOUNT", "analysis_details": "x"},
    )
    assert r.status_code == 202 and r.json()["status"] == "closing"
    world.run_due()
    shown = api.get(location).json()
    assert (shown["status"], shown["fraud_type"]) == ("closed", "MULE_ACCOUNT")
    assert shown["fraud_marker_id"]


def test_reports_are_listed_by_role_and_status_page_by_page(
    api: TestClient[Any], world: World
) -> None:
    for n in (4, 5, 6):
        assert api.post("/v1/infraction-reports", json=body(n)).status_code == 202
    they_report(world, 7)
    poll()
    first = api.get("/v1/infraction-reports", params={"role": "REPORTER", "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(
        "/v1/infraction-reports",
        params={"role": "REPORTER", "limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    theirs = api.get("/v1/infraction-reports", params={"role": "COUNTERPARTY"}).json()["items"]
    assert [r["status"] for r in theirs] == ["acknowledging"]
    by_status = api.get("/v1/infraction-reports", params={"status": "submitting"}).json()
    assert len(by_status["items"]) == 3
    bad = api.get("/v1/infraction-reports", params={"status": "OPEN"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
