"""The simulator against the DICT's refund rules as the spec states them (DICT.md §5).

Every row of ``spec_refund_tables`` is one call over gRPC through the real clients, on a
transaction the SPI settled (SimulatorAdmin.AddTransaction) and a request brought to a
status and instant by the simulator's clock; the answer must be the spec's: accepted, or
the DICT's own problem type naming the fields at fault. Repeats, amounts already returned
and the list follow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.conformance.claim_driver import answer
from tests.conformance.refund_driver import (
    cancel,
    close,
    create,
    listing,
    now,
    opened,
    pay,
    report,
    transaction_id,
)
from tests.conformance.spec_refund_tables import (
    ACCEPTED,
    CANCELLED,
    CLOSE_REFUND,
    CLOSED,
    CONTESTED,
    CREATE_REFUND,
    FLAW,
    FRAUD,
    NONE,
    OPEN,
    PARTIALLY,
    REFUND_CALLS,
    REJECTED,
    REQUESTER,
    STRANGER,
    TOTALLY,
    CloseRefund,
    CreateRefund,
    RefundCall,
)
from tests.integration.bridge.builders import OTHER, OURS

pytestmark = pytest.mark.conformance

STRANGER_ISPB = "11223355"  # a third PSP, party to nothing


def _setup(case: CreateRefund, ours: DictClient, theirs: DictClient, admin: AdminClient) -> str:
    """Settle the row's transaction ``settled_ago`` before the call and end its report
    ``closed_ago`` before it; the id of the report the request must name ("" if none)."""
    if case.settled_ago < 0:
        later = now(admin) + timedelta(seconds=-case.settled_ago)
        pay(admin, amount=case.transaction_amount, reason=case.reason, settled_at=later)
        return ""
    if case.registered:
        pay(
            admin,
            amount=case.transaction_amount,
            reason=case.reason,
            pix_automatico=case.pix_automatico,
        )
    before_report = case.closed_ago if case.report != NONE else 0
    admin.advance_clock(case.settled_ago - before_report)
    tx = transaction_id(1, "D" if case.reason == "REFUND_CANCELLED" else "E")
    made = report(ours, theirs, tx, case.report_reason, case.report)
    admin.advance_clock(before_report)
    return made.id if made is not None else ""


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CREATE_REFUND])
def test_a_refund_request_is_answered_as_the_spec_says(
    case: CreateRefund, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report_id = _setup(case, ours, theirs, admin)
    client = ours if case.by == REQUESTER else theirs
    tx = case.transaction_id or transaction_id(1, "D" if case.reason == "REFUND_CANCELLED" else "E")
    request = create(tx, case.reason, case.amount, case.details, client.participant)
    outcome, fields, response = answer(lambda: client.create_refund(request))
    assert (outcome, fields) == (case.expected, set(case.fields))
    if outcome != ACCEPTED:
        return
    assert isinstance(response, pb.RefundResponse)
    refund = response.refund
    assert (refund.status, refund.requesting_participant, refund.contested_participant) == (
        OPEN,
        OURS,
        OTHER,
    )
    assert (refund.transaction_id, refund.refund_reason) == (tx, case.reason)
    assert Decimal(refund.refund_amount) == Decimal(case.amount)
    assert refund.refund_amount.partition(".")[2].isdigit()  # always two decimals
    assert refund.infraction_report_id == report_id  # the AGREED report it follows, if any
    assert refund.creation_time == refund.last_modified
    assert theirs.get_refund(pb.GetRefundRequest(refund_id=refund.id)).refund == refund


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CLOSE_REFUND])
def test_a_close_is_answered_as_the_spec_says(
    case: CloseRefund, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    refund = opened(ours, theirs, admin, case.refund_reason)
    outcome, fields, _ = answer(
        lambda: close(
            theirs,
            refund,
            case.result,
            rejection=case.rejection,
            details=case.details,
            refund_transaction=case.refund_transaction,
            refunded_amount=case.refunded_amount,
        )
    )
    assert (outcome, fields) == (case.expected, set(case.fields))
    after = ours.get_refund(pb.GetRefundRequest(refund_id=refund.id)).refund
    if outcome != ACCEPTED:
        assert after == refund  # still OPEN, untouched
        return
    assert (after.status, after.analysis_result, after.refund_rejection_reason) == (
        CLOSED,
        case.result,
        case.rejection,
    )
    assert (after.refund_transaction_id, after.analysis_details) == (
        case.refund_transaction,
        case.details,
    )


def _call(case: RefundCall, client: DictClient, refund: pb.Refund) -> Callable[[], object]:
    if case.operation == "close":
        request = pb.CloseRefundRequest(
            refund_id=refund.id,
            participant=client.participant,
            refund_analysis_result=REJECTED,
            refund_rejection_reason="NO_BALANCE",
        )
        return lambda: client.close_refund(request)
    if case.operation == "cancel":
        cancelling = pb.CancelRefundRequest(refund_id=refund.id, participant=client.participant)
        return lambda: client.cancel_refund(cancelling)
    return lambda: client.get_refund(pb.GetRefundRequest(refund_id=refund.id))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REFUND_CALLS])
def test_who_may_act_on_a_refund_and_when(
    case: RefundCall,
    sim: SimulatorHandle,
    ours: DictClient,
    theirs: DictClient,
    admin: AdminClient,
) -> None:
    refund = opened(ours, theirs, admin)
    if case.status == CLOSED:
        close(theirs, refund)
    if case.status == CANCELLED:
        cancel(ours, refund)
    admin.add_participant(STRANGER_ISPB)
    with DictClient(sim.address, STRANGER_ISPB, timeout_s=10) as stranger:
        client = {REQUESTER: ours, CONTESTED: theirs, STRANGER: stranger}[case.by]
        outcome, _, _ = answer(_call(case, client, refund))
    assert outcome == case.expected


def test_without_a_request_id_a_repeated_create_is_a_second_request(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """v2.6.1's CreateRefundRequest has no RequestId (DICT.md §6 names createEntry,
    completeClaim and createFraudMarker only): a repeat is refused while the first is OPEN,
    of whatever reason (error table: RefundAlreadyBeingProcessedForTransaction), and once
    it is CLOSED, for its reason (RefundAlreadyProcessedForTransaction) [inferred: per
    reason]. After a cancel a new request may be made [inferred]."""
    first = opened(ours, theirs, admin)
    repeat = create(first.transaction_id)
    with pytest.raises(problems.RefundAlreadyBeingProcessedForTransaction):
        ours.create_refund(repeat)
    with pytest.raises(problems.RefundAlreadyBeingProcessedForTransaction):
        ours.create_refund(create(first.transaction_id, FLAW))
    cancel(ours, first)
    second = ours.create_refund(repeat).refund
    assert second.id != first.id and second.status == OPEN
    mine = listing(ours, "REQUESTING").refunds
    assert [(r.id, r.status) for r in mine] == [(first.id, CANCELLED), (second.id, OPEN)]
    close(theirs, second)
    with pytest.raises(problems.RefundAlreadyProcessedForTransaction):
        ours.create_refund(repeat)


def test_a_later_request_asks_at_most_what_was_not_returned(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """Manual §17.1/§17.2: the amount "pode ser igual ou menor que o valor da transação
    original"; less what closed requests on it returned [inferred]."""
    flaw = opened(ours, theirs, admin, FLAW)
    close(theirs, flaw, PARTIALLY, refunded_amount="60.00")
    report(ours, theirs, flaw.transaction_id)
    with pytest.raises(problems.RefundInvalid) as caught:
        ours.create_refund(create(flaw.transaction_id, FRAUD, "40.01"))
    assert caught.value.violations == [("refund_amount", "at_most_amount_not_returned")]
    assert ours.create_refund(create(flaw.transaction_id, FRAUD, "40.00")).refund.status == OPEN


def test_a_partial_return_of_unknown_size_counts_as_all_that_was_asked(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """Without our refunded_amount (not in the DICT) the simulator assumes the most went
    back: the count that leaves a later request the least room [inferred]."""
    flaw = opened(ours, theirs, admin, FLAW, amount="70.00")
    close(theirs, flaw, PARTIALLY)
    report(ours, theirs, flaw.transaction_id)
    with pytest.raises(problems.RefundInvalid):
        ours.create_refund(create(flaw.transaction_id, FRAUD, "30.01"))
    assert ours.create_refund(create(flaw.transaction_id, FRAUD, "30.00")).refund.status == OPEN


def test_an_operational_flaw_refused_as_invalid_may_be_followed_by_the_fraud_flow(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """Manual §17.1: a fraud is no operational flaw and must follow the MED's flow (report,
    then a FRAUD request); the rejected request returned nothing."""
    flaw = opened(ours, theirs, admin, FLAW)
    close(theirs, flaw, REJECTED, rejection="INVALID_REQUEST", details="É golpe, não falha")
    report(ours, theirs, flaw.transaction_id)
    fraud = ours.create_refund(create(flaw.transaction_id, FRAUD, "100.00")).refund
    assert fraud.status == OPEN and fraud.infraction_report_id


def test_close_and_cancel_repeat_with_the_same_answer(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """closeRefund and cancelRefund, "Idempotência": "Caso a solicitação já tenha sido
    fechada [cancelada] com os mesmos parâmetros, será retornada resposta equivalente à
    primeira requisição"; other parameters meet a status that allows nothing."""
    refund = opened(ours, theirs, admin)
    admin.advance_clock(1)
    closed = close(theirs, refund, PARTIALLY, details="saldo parcial")
    admin.advance_clock(1)
    assert close(theirs, refund, PARTIALLY, details="saldo parcial") == closed
    with pytest.raises(problems.RefundOperationInvalid):
        close(theirs, refund, PARTIALLY, details="outro texto")
    with pytest.raises(problems.RefundOperationInvalid):
        close(theirs, refund, TOTALLY, details="saldo parcial")
    other = opened(ours, theirs, admin, n=2)
    admin.advance_clock(1)
    cancelled = cancel(ours, other)
    admin.advance_clock(1)
    assert cancel(ours, other) == cancelled and cancelled.status == CANCELLED


def test_the_list_needs_a_role_and_known_statuses(ours: DictClient) -> None:
    """listRefund: ParticipantRole (RefundRequestRole) is "required": true; Status takes
    RefundStatus values [inferred: BadRequest, a query parameter]."""
    with pytest.raises(problems.BadRequest) as caught:
        ours.list_refunds(pb.ListRefundsRequest(participant=OURS))
    assert caught.value.violations == [("participant_role", "one_of")]
    with pytest.raises(problems.BadRequest):
        listing(ours, "REQUESTER")
    with pytest.raises(problems.BadRequest):
        listing(ours, "REQUESTING", status=["ACKNOWLEDGED"])
    with pytest.raises(problems.Forbidden):
        ours.list_refunds(pb.ListRefundsRequest(participant=OTHER, participant_role="CONTESTED"))


def test_the_list_is_by_role_ascending_by_last_modified(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """listRefund: "Lista é ordenada de forma crescente pelo campo LastModified"; each
    participant sees the requests in the role it names; Status filters."""
    refunds = []
    for n in (1, 2, 3):
        refunds.append(opened(ours, theirs, admin, FLAW, n=n))
        admin.advance_clock(1)
    close(theirs, refunds[0], REJECTED, rejection="NO_BALANCE")
    order = [refunds[1].id, refunds[2].id, refunds[0].id]
    assert [r.id for r in listing(ours, "REQUESTING").refunds] == order
    assert [r.id for r in listing(theirs, "CONTESTED").refunds] == order
    assert listing(ours, "CONTESTED").refunds == []
    assert listing(theirs, "REQUESTING").refunds == []
    closed = listing(theirs, "CONTESTED", status=[CLOSED]).refunds
    assert [r.id for r in closed] == [refunds[0].id]
    both = listing(theirs, "CONTESTED", status=[OPEN, CLOSED]).refunds
    assert len(both) == 3


def test_the_list_pages_with_limit_and_modified_after(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """listRefund: Limit (default 20, maximum 200), HasMoreElements, ModifiedAfter "maior
    ou igual" (inclusive)."""
    refunds = []
    for n in (1, 2, 3):
        refunds.append(opened(ours, theirs, admin, FLAW, n=n))
        admin.advance_clock(1)
    page = listing(ours, "REQUESTING", limit=2)
    assert [r.id for r in page.refunds] == [refunds[0].id, refunds[1].id]
    assert page.has_more_elements
    rest = listing(ours, "REQUESTING", limit=2, modified_after=page.refunds[-1].last_modified)
    assert [r.id for r in rest.refunds] == [refunds[1].id, refunds[2].id]
    assert not rest.has_more_elements
    before = listing(ours, "REQUESTING", modified_before=refunds[0].last_modified)
    assert [r.id for r in before.refunds] == [refunds[0].id]


def test_the_list_sends_details_only_when_asked(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """listRefund: IncludeDetails, "Inclui os detalhes da devolução (campos Details)"."""
    refund = opened(ours, theirs, admin, FLAW)
    close(theirs, refund, REJECTED, rejection="INVALID_REQUEST", details="Não é falha")
    (bare,) = listing(ours, "REQUESTING").refunds
    assert (bare.refund_details, bare.analysis_details) == ("", "")
    (full,) = listing(ours, "REQUESTING", include_details=True).refunds
    assert (full.refund_details, full.analysis_details) == (
        "Transação em duplicidade",
        "Não é falha",
    )
    assert full == ours.get_refund(pb.GetRefundRequest(refund_id=refund.id)).refund
