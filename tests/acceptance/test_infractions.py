"""The homologation's MED step through the API, with real processes: "create, acknowledge,
close and cancel at least one infraction report", in both roles. The infraction poll
runs here as the scheduler's cron would run it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import redis as redis_lib

from app.bridge import dict_bridge_pb2 as pb
from tests.acceptance.conftest import OTHER_ISPB, OUR_ISPB, Stack, wait_until

DAY = 86_400.0


def poll() -> int:
    from actors.infractions import poll as infraction_poll

    return infraction_poll()


def until_status(http: httpx.Client, report_id: str, status: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        report: dict[str, Any] = http.get(f"/v1/infraction-reports/{report_id}").json()
        return report if report["status"] == status else None

    found: dict[str, Any] = wait_until(shown, timeout=30, what=f"report {report_id} {status}")
    return found


def dict_report(stack: Stack, dict_id: str) -> pb.InfractionReport:
    with stack.dict_as(OTHER_ISPB) as other:
        return other.get_infraction_report(pb.GetInfractionReportRequest(id=dict_id)).report


def as_other(stack: Stack, call: str, dict_id: str, **fields: Any) -> pb.InfractionReport:
    """The other PSP acknowledges / closes / cancels a report, or opens one against us."""
    request = {
        "acknowledge": pb.AcknowledgeInfractionReportRequest,
        "close": pb.CloseInfractionReportRequest,
        "cancel": pb.CancelInfractionReportRequest,
    }[call]
    with stack.dict_as(OTHER_ISPB) as other:
        method = getattr(other, f"{call}_infraction_report")
        return method(request(id=dict_id, participant=OTHER_ISPB, **fields)).report  # type: ignore[no-any-return]


def other_reports(stack: Stack, transaction_id: str) -> pb.InfractionReport:
    with stack.dict_as(OTHER_ISPB) as other:
        return other.create_infraction_report(
            pb.CreateInfractionReportRequest(
                participant=OTHER_ISPB,
                transaction_id=transaction_id,
                reason="REFUND_REQUEST",
                situation_type="SCAM",
                contact_information=pb.ContactInformation(
                    email="med@outro.example", phone="+5511977776666"
                ),
                counterparty_participant=OUR_ISPB,
                request_id=str(uuid.uuid4()),
            )
        ).report


def test_our_report_is_created_acknowledged_closed_and_cancelled(stack: Stack) -> None:
    with stack.http() as http:
        r = http.post(
            "/v1/infraction-reports",
            json={
                "transaction_id": f"E{OUR_ISPB}20261203120000000000001",
                "reason": "REFUND_REQUEST",
                "situation_type": "OTHER",
                "report_details": "o cliente não reconhece o pagamento",
                "contact_information": {
                    "email": "cliente@banco.example",
                    "phone": "+5521988880000",
                },
                "counterparty_participant": OTHER_ISPB,
            },
        )
        assert r.status_code == 202, r.text
        report_id = r.json()["id"]
        dict_id = until_status(http, report_id, "open")["dict_id"]
        as_other(stack, "acknowledge", dict_id)
        as_other(stack, "close", dict_id, analysis_result="DISAGREED", analysis_details="legítima")
        poll()
        closed = until_status(http, report_id, "closed")
        assert closed["analysis_result"] == "DISAGREED"
        assert http.post(f"/v1/infraction-reports/{report_id}/cancel").status_code == 202
        done = until_status(http, report_id, "cancelled")
    assert dict_report(stack, dict_id).status == "CANCELLED"
    assert [h["to_status"] for h in done["history"]] == [
        "submitting",
        "open",
        "acknowledged",
        "closed",
        "cancelling",
        "cancelled",
    ]


def test_a_report_against_us_is_acknowledged_at_once_and_closed(stack: Stack) -> None:
    dict_id = other_reports(stack, f"E{OTHER_ISPB}20261203120000000000002").id
    assert poll() >= 1
    events = redis_lib.Redis.from_url(stack.redis_url)
    published = wait_until(
        lambda: events.xrange("dict-connect.events.infractions.received"),
        timeout=30,
        what="the infractions.received event",
    )
    received = json.loads(published[0][1][b"payload"])
    assert received["dict_id"] == dict_id and received["role"] == "COUNTERPARTY"
    report_id = received["report_id"]
    with stack.http() as http:
        until_status(http, report_id, "acknowledged")
        assert dict_report(stack, dict_id).status == "ACKNOWLEDGED"
        r = http.post(
            f"/v1/infraction-reports/{report_id}/close",
            json={
                "analysis_result": "AGREED",
                "fraud_type": "SCAMMER_ACCOUNT",
                "analysis_details": "conta aberta para golpes",
            },
        )
        assert r.status_code == 202, r.text
        closed = until_status(http, report_id, "closed")
        the_dict = dict_report(stack, dict_id)
        assert the_dict.status == "CLOSED"
        assert closed["fraud_marker_id"] == the_dict.fraud_marker_id != ""
        as_other(stack, "cancel", dict_id)  # the reporter withdraws it after the close
        poll()
        until_status(http, report_id, "cancelled")


def test_the_day_5_warning_and_the_day_7_miss_with_moved_clocks(stack: Stack) -> None:
    dict_id = other_reports(stack, f"E{OTHER_ISPB}20261203120000000000003").id
    poll()
    events = redis_lib.Redis.from_url(stack.redis_url)
    stream = "dict-connect.events.infractions.deadline_{}"
    stack.advance(5 * DAY + 60)
    stack.relay()
    warned = wait_until(lambda: events.xrange(stream.format("approaching")), timeout=30)
    assert json.loads(warned[0][1][b"payload"])["dict_id"] == dict_id
    assert events.xrange(stream.format("missed")) == []
    stack.advance(2 * DAY)
    stack.relay()
    missed = wait_until(lambda: events.xrange(stream.format("missed")), timeout=30)
    assert json.loads(missed[0][1][b"payload"])["status"] == "acknowledged"
