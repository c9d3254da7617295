"""The homologation's MED step through the API, with real processes: "create, acknowledge,
close and cancel at least one infraction report", in both roles. The infraction poll
runs here as the scheduler's cron would run it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis as redis_lib

from app.bridge import dict_bridge_pb2 as pb
from tests.acceptance.conftest import OTHER_ISPB, OUR_ISPB, Stack, wait_until

DAY = 86_400.0


def poll() -> int:
    from actors.infractions import poll as infraction_poll

    return infraction_poll()


def until_status(
    http: httpx.Client, report_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        report: dict[str, Any] = http.get(f"/v1/infraction-reports/{report_id}").json()
        return report if report["status"] == status else None

    found: dict[str, Any] = wait_until(shown, timeout=timeout, what=f"report {report_id} {status}")
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


def settled(stack: Stack, transaction_id: str, payer: str, payee: str) -> None:
    """The SPI settled the payment: the DICT knows it, so it may be reported."""
    with stack.admin() as admin:
        admin.add_transaction(transaction_id, payer, payee, "100.00")


def other_reports(stack: Stack, transaction_id: str) -> pb.InfractionReport:
    """The other PSP's customer paid ours, and the other PSP reports the payment."""
    settled(stack, transaction_id, OTHER_ISPB, OUR_ISPB)
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
            )
        ).report


def test_our_report_is_created_acknowledged_closed_and_cancelled(stack: Stack) -> None:
    transaction_id = f"E{OUR_ISPB}20261203120000000000001"
    settled(stack, transaction_id, OUR_ISPB, OTHER_ISPB)
    with stack.http() as http:
        r = http.post(
            "/v1/infraction-reports",
            json={
                "transaction_id": transaction_id,
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
    with stack.http() as http:  # its acknowledgement went through before the days pass
        [ours] = http.get("/v1/infraction-reports", params={"role": "COUNTERPARTY"}).json()["items"]
        until_status(http, ours["id"], "acknowledged")
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


def test_a_worker_killed_mid_flow_makes_each_dict_write_once(stack: Stack) -> None:
    """Reports of ours being created and reports against us being acknowledged and
    closed when the worker is SIGKILLed: after its restart each report of ours is in the
    DICT once, and each of theirs ends closed by our one analysis."""
    ours = [f"E{OUR_ISPB}2026120312000000000{30 + n:04d}" for n in range(5)]
    theirs = [
        other_reports(stack, f"E{OTHER_ISPB}2026120312000000000{40 + n:04d}").id for n in range(3)
    ]
    poll()  # learned and acknowledged at once
    with stack.http() as http:
        for tx in ours:
            settled(stack, tx, OUR_ISPB, OTHER_ISPB)
            r = http.post(
                "/v1/infraction-reports",
                json={
                    "transaction_id": tx,
                    "reason": "REFUND_REQUEST",
                    "situation_type": "SCAM",
                    "contact_information": {"email": "c@banco.example", "phone": "+5521900000000"},
                    "counterparty_participant": OTHER_ISPB,
                },
            )
            assert r.status_code == 202, r.text
        against_us = [
            i
            for i in http.get("/v1/infraction-reports", params={"role": "COUNTERPARTY"}).json()[
                "items"
            ]
            if i["dict_id"] in theirs
        ]
        for report in against_us:
            until_status(http, report["id"], "acknowledged")
            r = http.post(
                f"/v1/infraction-reports/{report['id']}/close",
                json={"analysis_result": "DISAGREED", "analysis_details": "legítima"},
            )
            assert r.status_code == 202, r.text
        stack.procs["worker"].kill()
        stack.procs["worker"].start()
        stack.advance(11 * 60)  # past the outbox lease: the relay hands the rows out again
        stack.relay()
        mine = http.get("/v1/infraction-reports", params={"role": "REPORTER"}).json()["items"]
        for report in mine:
            until_status(http, report["id"], "open", timeout=60)
        for report in against_us:
            until_status(http, report["id"], "closed", timeout=60)
        dict_ids = {http.get(f"/v1/infraction-reports/{r['id']}").json()["dict_id"] for r in mine}
    with stack.dict_as(OUR_ISPB) as client:
        listed = client.list_infraction_reports(
            pb.ListInfractionReportsRequest(participant=OUR_ISPB, is_reporter=True, limit=200)
        ).reports
    assert sorted(r.transaction_id for r in listed) == sorted(ours)  # one report each
    assert {r.id for r in listed} == dict_ids
    for dict_id in theirs:
        assert dict_report(stack, dict_id).analysis_result == "DISAGREED"


def test_a_refused_report_and_an_update(stack: Stack) -> None:
    """A report on a payment the SPI does not know is refused by the DICT and kept as
    rejected with its reason; our open report's situation and contact are updated."""
    body = {
        "reason": "REFUND_REQUEST",
        "situation_type": "SCAM",
        "contact_information": {"email": "cliente@banco.example", "phone": "+5521988880000"},
        "counterparty_participant": OTHER_ISPB,
    }
    unknown = f"E{OUR_ISPB}20261203120000000000060"
    known = f"E{OUR_ISPB}20261203120000000000061"
    settled(stack, known, OUR_ISPB, OTHER_ISPB)
    with stack.http() as http:
        refused = http.post("/v1/infraction-reports", json={**body, "transaction_id": unknown})
        rejected = until_status(http, refused.json()["id"], "rejected")
        assert rejected["problem_type"] == "InfractionReportTransactionNotFound"
        r = http.post("/v1/infraction-reports", json={**body, "transaction_id": known})
        report_id = r.json()["id"]
        dict_id = until_status(http, report_id, "open")["dict_id"]
        changed = http.put(
            f"/v1/infraction-reports/{report_id}",
            json={
                "situation_type": "OTHER",
                "report_details": "boleto falso",
                "contact_information": {"email": "novo@banco.example", "phone": "+5521911112222"},
            },
        )
        assert changed.status_code == 202 and changed.json()["status"] == "updating"
        updated = until_status(http, report_id, "open")
        assert updated["situation_type"] == "OTHER"
    the_dict = dict_report(stack, dict_id)
    assert (the_dict.situation_type, the_dict.report_details) == ("OTHER", "boleto falso")
    assert the_dict.contact_information.email == "novo@banco.example"
