"""/v1/refunds against the in-process world: validation naming every field, the AGREED
report a FRAUD request needs and its 72 h window, both roles' decisions, 409 with the
current status, filters and cursor pagination."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient

from app import clock, db
from app.api import auth
from app.api.app import create_app
from app.security import create_api_key
from tests.integration.bridge.builders import OTHER
from tests.integration.claims.conftest import World
from tests.integration.infractions import conftest as reports
from tests.integration.refunds.conftest import (
    RTR_ID,
    ours_for,
    ours_paid,
    poll,
    they_ask,
    they_paid,
)


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[TestClient[Any]]:
    auth.cache.clear()
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(conn, f"k-{uuid.uuid4().hex[:8]}", ["refunds:read", "refunds:write"])
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    auth.cache.clear()


def body(tx: str, **changes: Any) -> dict[str, Any]:
    return {
        "transaction_id": tx,
        "refund_reason": "OPERATIONAL_FLAW",
        "refund_amount": "100.00",
        "refund_details": "Transação em duplicidade",
        **changes,
    }


def _fields(r: Any) -> set[str]:
    assert r.status_code == 422, r.text
    return {e["field"] for e in r.json()["errors"]}


def test_a_bad_request_is_refused_naming_every_field(api: TestClient[Any]) -> None:
    r = api.post(
        "/v1/refunds",
        json=body("E1", refund_amount=10.005, refund_details=" ", refund_reason="OPERATIONAL_FLAW"),
    )
    assert _fields(r) == {"transaction_id", "refund_amount", "refund_details"}
    r = api.post("/v1/refunds", json=body("E" * 32, refund_reason="ERROR", refund_amount=0))
    assert _fields(r) == {"refund_reason", "refund_amount"}
    old = (clock.now() - timedelta(days=91)).isoformat()
    assert _fields(api.post("/v1/refunds", json=body("E" * 32, transaction_at=old))) == {
        "transaction_at"
    }


def test_a_fraud_request_needs_our_agreed_report_within_72_hours(
    api: TestClient[Any], world: World
) -> None:
    tx = ours_paid(world, 1)
    r = api.post("/v1/refunds", json=body(tx, refund_reason="FRAUD", refund_details=None))
    assert r.status_code == 422
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [
        ("transaction_id", "agreed_report_required")
    ]
    report_id = reports.submit(0, transaction_id=tx)
    world.run_due()
    dict_id = reports.row(report_id).dict_id
    assert dict_id
    reports.they(world, "acknowledge", dict_id)
    reports.they(world, "close", dict_id, analysis_result="AGREED", fraud_type="MULE_ACCOUNT")
    world.pass_time(6)
    reports.poll()
    assert reports.row(report_id).status == "closed"
    world.pass_time(timedelta(hours=73).total_seconds())
    r = api.post("/v1/refunds", json=body(tx, refund_reason="FRAUD", refund_details=None))
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [
        ("refund_reason", "window_expired")
    ]


def test_our_request_opens_is_listed_and_cancelled(api: TestClient[Any], world: World) -> None:
    tx = ours_paid(world, 2)
    r = api.post("/v1/refunds", json=body(tx, refund_amount=99.9))
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["refund_amount"]) == ("submitting", "99.90")
    location = r.headers["Location"]
    again = api.post("/v1/refunds", json=body(tx))
    assert again.status_code == 409 and again.json()["current"] == "submitting"
    world.run_due()
    got = api.get(location).json()
    assert (got["status"], got["role"], got["contested_participant"]) == (
        "open",
        "REQUESTING",
        OTHER,
    )
    assert [h["to_status"] for h in got["history"]] == ["submitting", "open"]
    close = api.post(f"{location}/close", json={"analysis_result": "REJECTED"})
    assert close.status_code == 409  # only the contested participant closes
    cancel = api.post(f"{location}/cancel")
    assert cancel.status_code == 202 and cancel.json()["status"] == "cancelling"
    assert api.post(f"{location}/cancel").status_code == 409  # already cancelling
    world.run_due()
    assert api.get(location).json()["status"] == "cancelled"


def test_we_close_a_request_against_us_through_the_api(api: TestClient[Any], world: World) -> None:
    theirs = they_ask(world, they_paid(world, 3, "50.00"), "50.00")
    world.pass_time(6)
    poll()
    location = f"/v1/refunds/{ours_for(theirs.id).id}"
    bad = api.post(
        f"{location}/close",
        json={"analysis_result": "PARTIALLY_ACCEPTED", "refunded_amount": "50.00"},
    )
    assert _fields(bad) == {"refund_transaction_id", "refunded_amount"}
    bad = api.post(
        f"{location}/close",
        json={"analysis_result": "REJECTED", "rejection_reason": "INVALID_REQUEST"},
    )
    assert _fields(bad) == {"analysis_details"}
    assert api.post(f"{location}/cancel").status_code == 409  # only the requester cancels
    ok = api.post(
        f"{location}/close",
        json={
            "analysis_result": "PARTIALLY_ACCEPTED",
            "refund_transaction_id": RTR_ID,
            "refunded_amount": 20.5,
        },
    )
    assert ok.status_code == 202 and ok.json()["status"] == "closing"
    world.run_due()
    got = api.get(location).json()
    assert (got["status"], got["analysis_result"], Decimal(got["refunded_amount"])) == (
        "closed",
        "PARTIALLY_ACCEPTED",
        Decimal("20.50"),
    )
    assert got["due_at"] is not None


def test_filters_and_pages(api: TestClient[Any], world: World) -> None:
    for n in range(3):
        assert api.post("/v1/refunds", json=body(ours_paid(world, 10 + n))).status_code == 202
    they_ask(world, they_paid(world, 20))
    world.pass_time(6)
    poll()
    first = api.get("/v1/refunds", params={"role": "REQUESTING", "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(
        "/v1/refunds", params={"role": "REQUESTING", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    contested = api.get("/v1/refunds", params={"role": "CONTESTED"}).json()["items"]
    assert [i["role"] for i in contested] == ["CONTESTED"]
    r = api.get("/v1/refunds", params={"role": "PAYER", "refund_reason": "X"})
    assert r.status_code == 422
