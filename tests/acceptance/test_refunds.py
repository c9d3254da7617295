"""The homologation's refund step through the API, with real processes: "create at least
one refund request for an operational failure of the payer's PSP and one for well-founded
suspicion of fraud, and complete the refund requests of both reasons opened by the
virtual payer PSP 99999003"; the deadline warnings with moved clocks, the DICT's refusals,
and a worker killed mid-flow. The refund and infraction polls run here as the
scheduler's cron would run them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis as redis_lib

from app.bridge import dict_bridge_pb2 as pb
from tests.acceptance.conftest import OTHER_ISPB, OUR_ISPB, Stack, wait_until
from tests.acceptance.test_infractions import as_other, settled
from tests.acceptance.test_infractions import poll as poll_reports

HOUR = 3600.0
RTR_ID = f"D{OUR_ISPB}202612031500{{:011d}}"  # our pacs.004 returning the funds


def poll() -> int:
    from actors.refunds import poll as refund_poll

    return refund_poll()


def e2e(n: int, payer: str = OUR_ISPB) -> str:
    return f"E{payer}202612031500{n:011d}"


def until_status(
    http: httpx.Client, refund_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        refund: dict[str, Any] = http.get(f"/v1/refunds/{refund_id}").json()
        return refund if refund["status"] == status else None

    found: dict[str, Any] = wait_until(shown, timeout=timeout, what=f"refund {refund_id} {status}")
    return found


def dict_refund(stack: Stack, dict_id: str) -> pb.Refund:
    with stack.dict_as(OTHER_ISPB) as other:
        return other.get_refund(pb.GetRefundRequest(refund_id=dict_id)).refund


def other_closes(stack: Stack, dict_id: str, n: int) -> None:
    with stack.dict_as(OTHER_ISPB) as other:
        other.close_refund(
            pb.CloseRefundRequest(
                refund_id=dict_id,
                participant=OTHER_ISPB,
                refund_analysis_result="TOTALLY_ACCEPTED",
                refund_transaction_id=f"D{OTHER_ISPB}202612031500{n:011d}",
            )
        )


def ask(http: httpx.Client, transaction_id: str, reason: str, **fields: Any) -> str:
    body = {"transaction_id": transaction_id, "refund_reason": reason, "refund_amount": "100.00"}
    if reason == "OPERATIONAL_FLAW":
        body["refund_details"] = "Transação em duplicidade"
    r = http.post("/v1/refunds", json={**body, **fields})
    assert r.status_code == 202, r.text
    refund_id: str = r.json()["id"]
    return refund_id


def agreed_report(stack: Stack, http: httpx.Client, transaction_id: str) -> str:
    """Our customer reports the payment; the other PSP agrees. Returns the DICT's id."""
    r = http.post(
        "/v1/infraction-reports",
        json={
            "transaction_id": transaction_id,
            "reason": "REFUND_REQUEST",
            "situation_type": "SCAM",
            "contact_information": {"email": "cliente@banco.example", "phone": "+5521988880000"},
            "counterparty_participant": OTHER_ISPB,
        },
    )
    assert r.status_code == 202, r.text
    report_id = r.json()["id"]

    def opened() -> str | None:
        report: dict[str, Any] = http.get(f"/v1/infraction-reports/{report_id}").json()
        return report["dict_id"] if report["status"] == "open" else None

    dict_id: str = wait_until(opened, timeout=30, what="our report open")
    as_other(stack, "acknowledge", dict_id)
    as_other(stack, "close", dict_id, analysis_result="AGREED", fraud_type="SCAMMER_ACCOUNT")
    stack.advance(6)  # the list lags writes by 5 s
    poll_reports()
    wait_until(
        lambda: http.get(f"/v1/infraction-reports/{report_id}").json()["status"] == "closed",
        timeout=30,
        what="our report closed AGREED",
    )
    return dict_id


def test_the_homologation_refund_step(stack: Stack) -> None:
    with stack.http() as http:
        # i. an operational flaw of ours
        flaw_tx = e2e(1)
        settled(stack, flaw_tx, OUR_ISPB, OTHER_ISPB)
        flaw = until_status(http, ask(http, flaw_tx, "OPERATIONAL_FLAW"), "open")
        # ii. a well-founded suspicion of fraud, after the report the other PSP agreed with
        fraud_tx = e2e(2)
        settled(stack, fraud_tx, OUR_ISPB, OTHER_ISPB)
        report = agreed_report(stack, http, fraud_tx)
        fraud = until_status(http, ask(http, fraud_tx, "FRAUD"), "open")
        assert fraud["infraction_report_id"] == report
        assert dict_refund(stack, fraud["dict_id"]).refund_reason == "FRAUD"
        other_closes(stack, flaw["dict_id"], 1)
        stack.advance(6)
        poll()
        assert until_status(http, flaw["id"], "closed")["analysis_result"] == "TOTALLY_ACCEPTED"

        # iii and iv. the virtual payer PSP 99999003 asks us for both reasons
        with stack.admin() as admin:
            virtual = admin.open_virtual_payer_refunds(OUR_ISPB)
        assert {r.refund_reason for r in virtual} == {"OPERATIONAL_FLAW", "FRAUD"}
        stack.advance(6)
        assert poll() >= 2
        against_us = http.get("/v1/refunds", params={"role": "CONTESTED"}).json()["items"]
        assert {r["dict_id"] for r in against_us} == {r.id for r in virtual}
        for n, refund in enumerate(against_us, start=1):
            assert refund["requesting_participant"] == "99999003" and refund["due_at"]
            r = http.post(
                f"/v1/refunds/{refund['id']}/close",
                json={
                    "analysis_result": "TOTALLY_ACCEPTED",
                    "refund_transaction_id": RTR_ID.format(n),
                },
            )
            assert r.status_code == 202, r.text
            until_status(http, refund["id"], "closed")
    with stack.dict_as(OUR_ISPB) as ours:
        for refund in virtual:
            got = ours.get_refund(pb.GetRefundRequest(refund_id=refund.id)).refund
            assert (got.status, got.analysis_result) == ("CLOSED", "TOTALLY_ACCEPTED")


def test_the_dicts_refusal_is_kept_and_told(stack: Stack) -> None:
    """More than the payment's amount: our checks cannot know it, the DICT refuses."""
    tx = e2e(3)
    settled(stack, tx, OUR_ISPB, OTHER_ISPB)  # a payment of 100.00
    with stack.http() as http:
        refund_id = ask(http, tx, "OPERATIONAL_FLAW", refund_amount="100.01")
        rejected = until_status(http, refund_id, "rejected")
    assert rejected["problem_type"] == "RefundInvalid"
    events = redis_lib.Redis.from_url(stack.redis_url)
    told = wait_until(lambda: events.xrange("dict-connect.events.refunds.rejected"), timeout=30)
    assert json.loads(told[0][1][b"payload"])["refund_id"] == refund_id


def test_the_deadline_warnings_with_moved_clocks(stack: Stack) -> None:
    tx = e2e(4, OTHER_ISPB)
    settled(stack, tx, OTHER_ISPB, OUR_ISPB)
    with stack.dict_as(OTHER_ISPB) as other:
        theirs = other.create_refund(
            pb.CreateRefundRequest(
                participant=OTHER_ISPB,
                transaction_id=tx,
                refund_reason="OPERATIONAL_FLAW",
                refund_amount="10.00",
                refund_details="Transação em duplicidade",
            )
        ).refund
    stack.advance(6)
    poll()
    events = redis_lib.Redis.from_url(stack.redis_url)
    stream = "dict-connect.events.refunds.deadline_{}"
    stack.advance(18 * HOUR + 60)  # 75 % of the 24 h allowed
    stack.relay()
    warned = wait_until(lambda: events.xrange(stream.format("approaching")), timeout=30)
    assert json.loads(warned[0][1][b"payload"])["dict_id"] == theirs.id
    assert events.xrange(stream.format("missed")) == []
    stack.advance(6 * HOUR)
    stack.relay()
    missed = wait_until(lambda: events.xrange(stream.format("missed")), timeout=30)
    assert json.loads(missed[0][1][b"payload"])["status"] == "open"


def test_a_worker_killed_mid_flow_makes_each_dict_write_once(stack: Stack) -> None:
    """Requests of ours and closes of requests against us in flight when the worker is
    SIGKILLed: after its restart each request is in the DICT once, each close applied."""
    ours = [e2e(10 + n) for n in range(6)]
    theirs = [e2e(20 + n, OTHER_ISPB) for n in range(3)]
    for tx in ours:
        settled(stack, tx, OUR_ISPB, OTHER_ISPB)
    with stack.dict_as(OTHER_ISPB) as other:
        for tx in theirs:
            settled(stack, tx, OTHER_ISPB, OUR_ISPB)
            other.create_refund(
                pb.CreateRefundRequest(
                    participant=OTHER_ISPB,
                    transaction_id=tx,
                    refund_reason="OPERATIONAL_FLAW",
                    refund_amount="10.00",
                    refund_details="Transação em duplicidade",
                )
            )
    stack.advance(6)
    poll()
    with stack.http() as http:
        against_us = http.get("/v1/refunds", params={"role": "CONTESTED"}).json()["items"]
        assert len(against_us) == 3
        mine = [ask(http, tx, "OPERATIONAL_FLAW") for tx in ours]
        for n, refund in enumerate(against_us, start=1):
            http.post(
                f"/v1/refunds/{refund['id']}/close",
                json={
                    "analysis_result": "TOTALLY_ACCEPTED",
                    "refund_transaction_id": RTR_ID.format(n),
                },
            )
        stack.procs["worker"].kill()
        stack.procs["worker"].start()
        stack.advance(11 * 60)  # past the outbox lease: the relay hands the rows out again
        stack.relay()
        for refund_id in mine:
            until_status(http, refund_id, "open", timeout=60)
        for refund in against_us:
            until_status(http, refund["id"], "closed", timeout=60)
        dict_ids = {http.get(f"/v1/refunds/{i}").json()["dict_id"] for i in mine}
    with stack.dict_as(OUR_ISPB) as client:
        listed = client.list_refunds(
            pb.ListRefundsRequest(participant=OUR_ISPB, participant_role="REQUESTING", limit=200)
        ).refunds
    assert sorted(r.transaction_id for r in listed) == sorted(ours)  # one request each
    assert {r.id for r in listed} == dict_ids
    counts = stack.admin().get_call_counts().by_method
    assert counts["CloseRefund"] >= 3 and counts["CreateRefund"] >= 6


def test_the_other_statuses_and_an_idempotent_repeat(stack: Stack) -> None:
    """A repeat with the same Idempotency-Key gets the first answer (one request in the
    DICT); we cancel ours while it is open; the other PSP cancels theirs against us."""
    tx, theirs_tx = e2e(5), e2e(6, OTHER_ISPB)
    settled(stack, tx, OUR_ISPB, OTHER_ISPB)
    settled(stack, theirs_tx, OTHER_ISPB, OUR_ISPB)
    body = {
        "transaction_id": tx,
        "refund_reason": "OPERATIONAL_FLAW",
        "refund_amount": "12.34",
        "refund_details": "Transação em duplicidade",
    }
    with stack.http() as http:
        key = {"Idempotency-Key": "refund-e2e-5"}
        first = http.post("/v1/refunds", json=body, headers=key)
        again = http.post("/v1/refunds", json=body, headers=key)
        assert first.status_code == again.status_code == 202
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        refund_id = first.json()["id"]
        until_status(http, refund_id, "open")
        assert http.post(f"/v1/refunds/{refund_id}/cancel").status_code == 202
        cancelled = until_status(http, refund_id, "cancelled")
        assert [h["to_status"] for h in cancelled["history"]] == [
            "submitting",
            "open",
            "cancelling",
            "cancelled",
        ]
        with stack.dict_as(OTHER_ISPB) as other:
            asked = other.create_refund(
                pb.CreateRefundRequest(
                    participant=OTHER_ISPB,
                    transaction_id=theirs_tx,
                    refund_reason="OPERATIONAL_FLAW",
                    refund_amount="5.00",
                    refund_details="Transação em duplicidade",
                )
            ).refund
            stack.advance(6)
            poll()
            [ours] = [
                r
                for r in http.get("/v1/refunds", params={"role": "CONTESTED"}).json()["items"]
                if r["dict_id"] == asked.id
            ]
            assert ours["status"] == "open"
            other.cancel_refund(pb.CancelRefundRequest(refund_id=asked.id, participant=OTHER_ISPB))
        stack.advance(6)
        poll()
        until_status(http, ours["id"], "cancelled")
    with stack.dict_as(OUR_ISPB) as client:
        mine = client.list_refunds(
            pb.ListRefundsRequest(participant=OUR_ISPB, participant_role="REQUESTING", limit=200)
        ).refunds
    assert [r.transaction_id for r in mine] == [tx]  # the repeat made no second request
