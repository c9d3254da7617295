"""Fraud markers through the API, with real processes (api, worker, simulator): a marker
is registered in the DICT and cancelled; what the DICT refuses reaches the marker and
core banking with the DICT's own problem type."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis as redis_lib

from app import db
from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.domain.fixtures import make_cnpj, make_cpf
from tests.acceptance.conftest import OTHER_ISPB, OUR_ISPB, Stack, wait_until


def until_status(http: httpx.Client, marker_id: str, status: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        marker: dict[str, Any] = http.get(f"/v1/fraud-markers/{marker_id}").json()
        return marker if marker["status"] == status else None

    found: dict[str, Any] = wait_until(shown, timeout=30, what=f"marker {marker_id} {status}")
    return found


def dict_marker(stack: Stack, dict_id: str) -> pb.FraudMarker:
    with stack.dict_as(OTHER_ISPB) as other:
        return other.get_fraud_marker(pb.GetFraudMarkerRequest(id=dict_id)).marker


def published(stack: Stack, topic: str) -> list[dict[str, Any]]:
    events = redis_lib.Redis.from_url(stack.redis_url)
    found = wait_until(
        lambda: events.xrange(f"dict-connect.events.{topic}"), timeout=30, what=topic
    )
    return [json.loads(fields[b"payload"]) for _, fields in found]


def test_a_marker_is_registered_in_the_dict_and_cancelled(stack: Stack) -> None:
    with stack.http() as http:
        r = http.post(
            "/v1/fraud-markers",
            json={
                "tax_id_number": make_cpf(31),
                "key": "+55 21 98888 0031",
                "fraud_type": "SCAMMER_ACCOUNT",
            },
        )
        assert r.status_code == 202, r.text
        marker_id = r.json()["id"]
        registered = until_status(http, marker_id, "registered")
        dict_id = registered["dict_id"]
        the_dict = dict_marker(stack, dict_id)
        assert (the_dict.status, the_dict.tax_id_number, the_dict.key, the_dict.fraud_type) == (
            "REGISTERED",
            make_cpf(31),
            "+5521988880031",
            "SCAMMER_ACCOUNT",
        )
        (event,) = published(stack, "fraud_markers.registered")
        assert (event["marker_id"], event["dict_id"], event["origin"]) == (
            marker_id,
            dict_id,
            "OURS",
        )
        assert http.post(f"/v1/fraud-markers/{marker_id}/cancel").status_code == 202
        done = until_status(http, marker_id, "cancelled")
    assert dict_marker(stack, dict_id).status == "CANCELLED"
    assert [h["to_status"] for h in done["history"]] == [
        "submitting",
        "registered",
        "cancelling",
        "cancelled",
    ]
    assert published(stack, "fraud_markers.cancelled")[0]["marker_id"] == marker_id


def test_invalid_operations_get_the_dicts_errors(stack: Stack) -> None:
    with stack.http() as http:
        # Ours: refused before the DICT is asked, every field named.
        bad = http.post("/v1/fraud-markers", json={"tax_id_number": "123", "fraud_type": "X"})
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["errors"]} == {"tax_id_number", "fraud_type"}

        # The DICT's: another PSP may not cancel our marker.
        r = http.post(
            "/v1/fraud-markers", json={"tax_id_number": make_cnpj(32), "fraud_type": "OTHER"}
        )
        marker_id = r.json()["id"]
        dict_id = until_status(http, marker_id, "registered")["dict_id"]
        with stack.dict_as(OTHER_ISPB) as other, pytest.raises(problems.Forbidden):
            other.cancel_fraud_marker(
                pb.CancelFraudMarkerRequest(id=dict_id, participant=OTHER_ISPB)
            )
        assert dict_marker(stack, dict_id).status == "REGISTERED"
        assert http.get(f"/v1/fraud-markers/{marker_id}").json()["status"] == "registered"

        # The DICT's: a RequestId of ours already registered another marker.
        stack.procs["worker"].stop()  # the call waits in the outbox
        r = http.post(
            "/v1/fraud-markers", json={"tax_id_number": make_cpf(33), "fraud_type": "OTHER"}
        )
        refused_id = r.json()["id"]
        with db.connect(stack.database_url) as conn:
            found = conn.execute(
                "SELECT request_id FROM fraud_markers WHERE id = %s", (refused_id,)
            ).fetchone()
        assert found is not None
        with stack.dict_as(OUR_ISPB) as ours:
            ours.create_fraud_marker(
                pb.CreateFraudMarkerRequest(
                    participant=OUR_ISPB,
                    tax_id_number=make_cpf(34),
                    fraud_type="MULE_ACCOUNT",
                    request_id=str(found["request_id"]),
                )
            )
        stack.procs["worker"].start()
        rejected = until_status(http, refused_id, "rejected")
        assert (rejected["problem_type"], rejected["dict_id"]) == ("RequestIdAlreadyUsed", None)
        (event,) = published(stack, "fraud_markers.rejected")
        assert (event["marker_id"], event["problem_type"]) == (refused_id, "RequestIdAlreadyUsed")

        # And the machine's: a rejected marker cannot be cancelled.
        late = http.post(f"/v1/fraud-markers/{refused_id}/cancel")
        assert late.status_code == 409 and late.json()["current"] == "rejected"
