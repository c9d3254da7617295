"""Our own refund requests (we are the payer's PSP): create, lost answers, refusals,
cancel, and the other PSP's close learned from the poll."""

from __future__ import annotations

from decimal import Decimal

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from tests.integration.bridge.builders import OTHER, OURS
from tests.integration.claims.conftest import World
from tests.integration.infractions import conftest as reports
from tests.integration.refunds.conftest import (
    RTR_ID,
    dict_refund,
    history,
    ours_paid,
    poll,
    request,
    row,
    submit,
    they_close,
)


def _flaw_request(tx: str) -> pb.CreateRefundRequest:
    return pb.CreateRefundRequest(
        participant=OURS,
        transaction_id=tx,
        refund_reason="OPERATIONAL_FLAW",
        refund_amount="100.00",
        refund_details="Transação em duplicidade",
    )


def test_an_operational_flaw_request_opens_and_is_closed_by_the_other_psp(world: World) -> None:
    tx = ours_paid(world, 1)
    refund_id = submit(tx)
    assert row(refund_id).status == "submitting"
    world.run_due()
    ours = row(refund_id)
    assert (ours.status, ours.contested_participant) == ("open", OTHER)
    assert ours.dict_id and ours.due_at is None  # the deadline is the other side's
    assert dict_refund(world, ours.dict_id).status == "OPEN"
    they_close(world, ours.dict_id, "PARTIALLY_ACCEPTED", refunded_amount="40.00")
    world.pass_time(6)  # the list lags writes by 5 s
    assert poll() >= 1
    ours = row(refund_id)
    assert (ours.status, ours.analysis_result, ours.refund_transaction_id) == (
        "closed",
        "PARTIALLY_ACCEPTED",
        RTR_ID,
    )
    assert history(refund_id) == [
        ("submit", "submitting"),
        ("submitted", "open"),
        ("closed", "closed"),
    ]
    closed = world.events("refunds.closed")
    assert [(e["refund_id"], e["role"], e["analysis_result"]) for e in closed] == [
        (refund_id, "REQUESTING", "PARTIALLY_ACCEPTED")
    ]
    assert poll() == 0 or row(refund_id).version == ours.version  # a repeat changes nothing


def test_a_fraud_request_follows_our_agreed_infraction_report(world: World) -> None:
    tx = ours_paid(world, 2)
    report_id = reports.submit(0, transaction_id=tx)
    world.run_due()
    dict_report = reports.row(report_id).dict_id
    assert dict_report
    reports.they(world, "acknowledge", dict_report)
    reports.they(
        world, "close", dict_report, analysis_result="AGREED", fraud_type="SCAMMER_ACCOUNT"
    )
    refund_id = submit(tx, "FRAUD", "55.10")
    world.run_due()
    ours = row(refund_id)
    assert (ours.status, ours.infraction_report_id, ours.refund_amount) == (
        "open",
        dict_report,
        Decimal("55.10"),
    )
    assert ours.dict_id and dict_refund(world, ours.dict_id).refund_amount == "55.10"


def test_a_request_the_dict_refuses_is_rejected_with_its_reason(world: World) -> None:
    """FRAUD without an AGREED report: the DICT refuses, the refusal is kept and told."""
    tx = ours_paid(world, 3)
    refund_id = submit(tx, "FRAUD")
    world.run_due()
    ours = row(refund_id)
    assert (ours.status, ours.problem_type) == ("rejected", "RefundInfractionReportNotFound")
    [event] = world.events("refunds.rejected")
    assert (event["refund_id"], event["problem_type"]) == (
        refund_id,
        "RefundInfractionReportNotFound",
    )
    # the transaction is free for another request of ours
    assert row(submit(tx)).status == "submitting"


def test_a_lost_create_answer_is_recovered_by_listing_our_requests(
    world: World, our_dict: DictClient
) -> None:
    tx = ours_paid(world, 4)
    refund_id = submit(tx)
    created = our_dict.create_refund(_flaw_request(tx)).refund  # the answer our worker lost
    world.pass_time(6)
    world.run_due()
    ours = row(refund_id)
    assert (ours.status, ours.dict_id, ours.problem_type) == ("open", created.id, None)
    assert world.admin.get_call_counts("").by_method["CreateRefund"] == 2


def test_a_lost_create_answer_is_adopted_by_the_poll(world: World, our_dict: DictClient) -> None:
    tx = ours_paid(world, 5)
    refund_id = submit(tx)
    created = our_dict.create_refund(_flaw_request(tx)).refund
    world.pass_time(6)
    poll()
    assert (row(refund_id).status, row(refund_id).dict_id) == ("open", created.id)
    world.run_due()  # the pending create finds it open and does nothing
    assert world.admin.get_call_counts("").by_method["CreateRefund"] == 1


def test_we_cancel_an_open_request(world: World) -> None:
    tx = ours_paid(world, 6)
    refund_id = submit(tx)
    world.run_due()
    request(refund_id, "cancel")
    assert row(refund_id).status == "cancelling"
    world.run_due()
    ours = row(refund_id)
    assert ours.status == "cancelled" and ours.dict_id
    assert dict_refund(world, ours.dict_id).status == "CANCELLED"
    assert [e["refund_id"] for e in world.events("refunds.cancelled")] == [refund_id]


def test_a_cancel_that_loses_to_their_close_ends_closed(world: World) -> None:
    """They closed it just before our cancel left: the DICT refuses the cancel, the
    request is read again and ends as the DICT holds it."""
    tx = ours_paid(world, 7)
    refund_id = submit(tx)
    world.run_due()
    dict_id = row(refund_id).dict_id
    assert dict_id
    request(refund_id, "cancel")
    they_close(world, dict_id, "REJECTED", refund_rejection_reason="NO_BALANCE")
    world.run_due()
    ours = row(refund_id)
    assert (ours.status, ours.analysis_result, ours.rejection_reason) == (
        "closed",
        "REJECTED",
        "NO_BALANCE",
    )
    assert [t for t, _ in history(refund_id)][-2:] == ["cancel_refused", "closed"]
    assert ours.problem_type is None  # the refusal is in the history, the request is settled


def test_an_operator_cancels_our_request_from_psql(world: World) -> None:
    """``SELECT ops.request('refund', id, 'cancel', reason)``: the worker takes the API's
    path; a trigger an operator may not ask for is refused, naming those it may."""
    import pytest

    from actors.spine import fire_trigger
    from app import db
    from statemachines.core import IllegalTrigger

    refund_id = submit(ours_paid(world, 8))
    world.run_due()
    with pytest.raises(IllegalTrigger) as refused:
        fire_trigger.fn("refund", refund_id, "close", None)
    assert refused.value.allowed == ["cancel"]
    with db.pool().connection() as conn:
        conn.execute(
            "SELECT ops.request('refund', %s, 'cancel', 'the customer gave up')", (refund_id,)
        )
    world.pass_time(30)  # the row is due at the database's clock, which ours catches up
    world.run_due()
    assert row(refund_id).status == "cancelled"
    assert ("cancel", "cancelling") in history(refund_id)
