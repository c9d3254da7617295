"""Refund requests (solicitações de devolução), v2.6.1 semantics (DICT.md §5; manual §17).

The payer's PSP, the participant the SPI debited, opens a request naming a settled
transaction (``transactions``); the payee's PSP, contested, closes it with its analysis;
the requester may cancel it while it is OPEN. The DICT makes no automatic transitions,
and neither does the simulator. Create has no RequestId in v2.6.1: a repeat is a second
request, refused while the first is OPEN.

Sources: the OpenAPI v2.6.1 text of createRefund, getRefund, listRefund, closeRefund and
cancelRefund, the schemas Refund, ExtendedRefund, CloseRefundRequest, RefundReason,
RefundAnalysisResult, RefundRejectionReason, RefundRequestRole and the error table's
"Solicitação de Devolução" rows; manual §10.1 and §17. Written from that text, not from
the connector's rules. A rule the text implies without stating it, or a refusal whose
problem type the text does not name, is marked [inferred].
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from simulator.clock import US
from simulator.common import limit, own, visible_until_us
from simulator.config import Participant
from simulator.convert import cents_of, optional_us
from simulator.models import (
    CANCELLED_REFUND,
    CLOSED,
    CLOSED_REFUND,
    OPEN_REFUND,
    Refund,
    Report,
    Transaction,
)
from simulator.state import Simulator
from simulator.transactions import TRANSACTION_ID, settled

FRAUD, OPERATIONAL_FLAW = "FRAUD", "OPERATIONAL_FLAW"
REFUND_CANCELLED, PIX_AUTOMATICO = "REFUND_CANCELLED", "PIX_AUTOMATICO"
REASONS = frozenset({FRAUD, OPERATIONAL_FLAW, REFUND_CANCELLED, PIX_AUTOMATICO})
TOTALLY, PARTIALLY, REJECTED = "TOTALLY_ACCEPTED", "PARTIALLY_ACCEPTED", "REJECTED"
RESULTS = frozenset({TOTALLY, PARTIALLY, REJECTED})
INVALID_REQUEST = "INVALID_REQUEST"
REJECTION_REASONS = frozenset({"NO_BALANCE", "ACCOUNT_CLOSURE", INVALID_REQUEST, "OTHER"})
REQUESTING, CONTESTED = "REQUESTING", "CONTESTED"
STATUSES = frozenset({OPEN_REFUND, CLOSED_REFUND, CANCELLED_REFUND})
MAX_TEXT = 2000
"""Refund.RefundDetails and RefundAnalysisDetails: maxLength 2000."""
REPORT_REASON = {FRAUD: "REFUND_REQUEST", REFUND_CANCELLED: "REFUND_CANCELLED"}
"""The reasons that follow an AGREED infraction report, and that report's Reason. Manual
§17.2: the fraud flow "inicia após a conclusão do fluxo de notificação de infração ... Caso
a notificação de infração tenha sido aceita pelo PSP do recebedor"; §17.4: a refund
cancellation follows a REFUND_CANCELLED report the other PSP accepted, "detalhado na seção
17.2" (so its 72 h too [inferred]). OPERATIONAL_FLAW and PIX_AUTOMATICO need none (§17,
footnote 24)."""
Invalid = problems.RefundInvalid
OperationInvalid = problems.RefundOperationInvalid


# ---------------------------------------------------------------- create


def create_refund(
    sim: Simulator, caller: Participant, req: pb.CreateRefundRequest
) -> pb.RefundResponse:
    """createRefund. Checks in the order the request is read: its fields, the transaction,
    who asks, the requests already made on it, the window, then the amount."""
    own(caller, req.participant)
    cents = _validate_create(req)
    tx = settled(sim, req.transaction_id)
    if tx.payer != caller.ispb:
        # createRefund: "Apenas o participante debitado pode criar uma solicitação de
        # devolução" (403 among its answers [inferred: Forbidden for this refusal]).
        raise problems.Forbidden("only the debited participant (the payer's PSP) may ask")
    _check_reason_fits(tx, req.refund_reason)
    _check_no_other_request(sim, tx, req.refund_reason)
    now = sim.now_us()
    report_id = _check_window(sim, tx, req.refund_reason, now)
    _check_amount(sim, tx, cents)
    refund = Refund(
        str(uuid.uuid4()), tx.end_to_end_id, req.refund_reason, cents, req.refund_details,
        caller.ispb, tx.payee, now, now, infraction_report_id=report_id,
    )  # fmt: skip
    sim.state.refunds[refund.id] = refund
    return pb.RefundResponse(refund=refund.to_pb())


def _validate_create(req: pb.CreateRefundRequest) -> int:
    """RefundInvalid naming every broken field (schema Refund: TransactionId ``\\w{32}``,
    RefundReason of the enum, RefundAmount a currency amount [inferred: above zero],
    RefundDetails at most 2000 and "Obrigatório se RefundReason for OPERATIONAL_FLAW")."""
    bad = [] if TRANSACTION_ID.fullmatch(req.transaction_id) else [("transaction_id", "pattern")]
    if req.refund_reason not in REASONS:
        bad.append(("refund_reason", "one_of"))
    cents = cents_of(req.refund_amount)
    if not cents:
        bad.append(("refund_amount", "positive_amount"))
    if len(req.refund_details) > MAX_TEXT:
        bad.append(("refund_details", "max_length"))
    if req.refund_reason == OPERATIONAL_FLAW and not req.refund_details:
        bad.append(("refund_details", "required_for_operational_flaw"))
    if bad or cents is None:
        raise Invalid("the refund is invalid", violations=bad)
    return cents


def _check_reason_fits(tx: Transaction, reason: str) -> None:
    """Manual §17, footnote 20: the operational flaw "Não inclui erro operacional em
    transação de Pix Automático"; §17.5: PIX_AUTOMATICO is for an error "no envio de ordem
    de pagamento referente ao Pix Automático", so it names such a payment [inferred]. The
    problem type is not stated [inferred: RefundInvalid, the reason is wrong for it]."""
    if reason == OPERATIONAL_FLAW and tx.pix_automatico:
        raise Invalid(
            "an operational flaw refund cannot name a Pix Automático payment",
            violations=[("refund_reason", "not_for_pix_automatico")],
        )
    if reason == PIX_AUTOMATICO and not tx.pix_automatico:
        raise Invalid(
            "the transaction is not a Pix Automático payment",
            violations=[("refund_reason", "pix_automatico_only")],
        )


def _check_no_other_request(sim: Simulator, tx: Transaction, reason: str) -> None:
    """Error table: RefundAlreadyBeingProcessedForTransaction ("Já existe uma solicitação
    de devolução em processamento para a transação": an OPEN one, of any reason) and
    RefundAlreadyProcessedForTransaction ("... processada": a CLOSED one) [inferred: of
    the same reason, so that an operational flaw refused as INVALID_REQUEST can still be
    followed by the fraud flow manual §17.1 prescribes for fraud]. A CANCELLED request
    leaves room for a new one [inferred]."""
    for r in sim.state.refunds.values():
        if r.transaction_id != tx.end_to_end_id:
            continue
        if r.status == OPEN_REFUND:
            raise problems.RefundAlreadyBeingProcessedForTransaction(f"refund {r.id} is open")
        if r.status == CLOSED_REFUND and r.reason == reason:
            raise problems.RefundAlreadyProcessedForTransaction(f"refund {r.id} was closed")


def _check_window(sim: Simulator, tx: Transaction, reason: str, now: int) -> str:
    """RefundPeriodExpired ("O prazo para solicitar devolução para a transação expirou")
    past the reason's window; the AGREED report a FRAUD or REFUND_CANCELLED request follows
    (its id goes in ExtendedRefund.InfractionReportId), else RefundInfractionReportNotFound.
    Manual §17.1: an OPERATIONAL_FLAW request for a transaction "realizada nos últimos
    noventa dias"; §10.1 and §17.2: 72 hours "após a conclusão do processo de notificação de
    infração". PIX_AUTOMATICO: the manual states no window, so none is applied."""
    config = sim.config
    if reason == OPERATIONAL_FLAW:
        if now - tx.settled_us > round(config.operational_flaw_refund_window_days * 86_400 * US):
            raise problems.RefundPeriodExpired("the transaction is older than the window")
        return ""
    report_reason = REPORT_REASON.get(reason)
    if report_reason is None:
        return ""
    report = _agreed_report(sim, tx, report_reason)
    # A CLOSED report changes only by a cancel (which makes it CANCELLED): its
    # last_modified is the instant of the close.
    if now - report.last_modified_us > round(config.fraud_refund_window_hours * 3600 * US):
        raise problems.RefundPeriodExpired("the window after the report's close has passed")
    return report.id


def _agreed_report(sim: Simulator, tx: Transaction, report_reason: str) -> Report:
    """The report on this transaction, between the same two PSPs, CLOSED as AGREED. Error
    table: RefundInfractionReportNotFound ("Uma notificação de infração correspondente à
    transação informada não foi encontrada"); a report still open, DISAGREED or cancelled
    corresponds to no refund [inferred: manual §17.2, only an accepted report leads to one]."""
    found = [
        r
        for r in sim.state.reports.values()
        if (r.transaction_id, r.reason, r.reporter, r.counterparty)
        == (tx.end_to_end_id, report_reason, tx.payer, tx.payee)
        and r.status == CLOSED
        and r.analysis_result == "AGREED"
    ]
    if not found:
        raise problems.RefundInfractionReportNotFound(
            f"no AGREED {report_reason} report on transaction {tx.end_to_end_id}"
        )
    return max(found, key=lambda r: r.last_modified_us)


def _check_amount(sim: Simulator, tx: Transaction, cents: int) -> None:
    """Manual §17.1 and §17.2 (flows): "O valor solicitado para devolução pode ser igual ou
    menor que o valor da transação original"; less what closed requests on the transaction
    already returned [inferred]. The problem type is not stated [inferred: RefundInvalid]."""
    if cents > tx.amount_cents:
        raise Invalid(
            "the amount exceeds the transaction's",
            violations=[("refund_amount", "at_most_transaction_amount")],
        )
    returned = sum(
        r.returned_cents
        for r in sim.state.refunds.values()
        if r.transaction_id == tx.end_to_end_id and r.status == CLOSED_REFUND
    )
    if cents > tx.amount_cents - returned:
        raise Invalid(
            "the amount exceeds what was not returned yet",
            violations=[("refund_amount", "at_most_amount_not_returned")],
        )


# ---------------------------------------------------------------- read


def _refund(sim: Simulator, caller: Participant, refund_id: str, role: str = "") -> Refund:
    """The request, seen by its two parties only [inferred: getRefund answers 404 and no
    403, so a request the caller is no party to is, for it, not found]; ``role`` restricts
    who may act: closeRefund "só pode ser fechada pelo participante contestado",
    cancelRefund "Só pode ser realizada pelo participante que criou a solicitação"
    (both answer 403 among their errors [inferred: Forbidden for these refusals])."""
    refund = sim.state.refunds.get(refund_id)
    if refund is None or caller.ispb not in (refund.requester, refund.contested):
        raise problems.NotFound(f"no refund {refund_id}")
    allowed = {CONTESTED: refund.contested, REQUESTING: refund.requester}.get(role, caller.ispb)
    if caller.ispb != allowed:
        raise problems.Forbidden(f"only the {role.lower()} participant may do this")
    return refund


def get_refund(sim: Simulator, caller: Participant, req: pb.GetRefundRequest) -> pb.RefundResponse:
    return pb.RefundResponse(refund=_refund(sim, caller, req.refund_id).to_pb())


def _touch(sim: Simulator, refund: Refund, status: str) -> pb.RefundResponse:
    refund.status = status
    refund.last_modified_us = sim.now_us()
    return pb.RefundResponse(refund=refund.to_pb())


# ---------------------------------------------------------------- close and cancel


def close_refund(
    sim: Simulator, caller: Participant, req: pb.CloseRefundRequest
) -> pb.RefundResponse:
    """closeRefund: by the contested participant, "Para fechamento, o status deve ser
    OPEN" (else RefundOperationInvalid, "Status atual da solicitação de devolução não
    permite que operação seja feita"); "Caso a solicitação já tenha sido fechada com os
    mesmos parâmetros, será retornada resposta equivalente à primeira requisição"."""
    own(caller, req.participant)
    refund = _refund(sim, caller, req.refund_id, CONTESTED)
    params = (
        req.refund_analysis_result,
        req.refund_analysis_details,
        req.refund_rejection_reason,
        req.refund_transaction_id,
        req.refunded_amount,
    )
    if refund.status == CLOSED_REFUND:
        if params != refund.close_params:
            raise OperationInvalid("the refund was closed with another analysis")
        return pb.RefundResponse(refund=refund.to_pb())
    if refund.status != OPEN_REFUND:
        raise OperationInvalid(f"only an OPEN refund closes, not a {refund.status} one")
    _validate_close(refund, req)
    refund.analysis_result, refund.analysis_details = params[0], params[1]
    refund.rejection_reason, refund.refund_transaction_id = params[2], params[3]
    refund.close_params = params
    refund.returned_cents = _returned(refund, req)
    return _touch(sim, refund, CLOSED_REFUND)


def _validate_close(refund: Refund, req: pb.CloseRefundRequest) -> None:
    """RefundInvalid naming every broken field (CloseRefundRequest and manual §17's table
    of the close: RefundAnalysisResult required, RefundAnalysisDetails at most 2000)."""
    result = req.refund_analysis_result
    bad = [] if result in RESULTS else [("refund_analysis_result", "one_of")]
    if len(req.refund_analysis_details) > MAX_TEXT:
        bad.append(("refund_analysis_details", "max_length"))
    if result == REJECTED:
        bad += _rejection_violations(refund, req)
    elif result in RESULTS:
        bad += _acceptance_violations(refund, req)
    if bad:
        raise Invalid("the analysis is invalid", violations=bad)


def _rejection_violations(refund: Refund, req: pb.CloseRefundRequest) -> list[tuple[str, str]]:
    """Manual §17: RefundRejectionReason "Obrigatório, caso resultado da análise for igual a
    rejeitada"; CloseRefundRequest: "INVALID_REQUEST só pode ser usada quando RefundReason
    for OPERATIONAL_FLAW", and then RefundAnalysisDetails is required. A rejection returns
    no funds ("não houve a liquidação de uma pacs.004"), so it names no refund transaction
    and no returned amount [inferred]."""
    reason = req.refund_rejection_reason
    bad = []
    if reason not in REJECTION_REASONS:
        bad.append(("refund_rejection_reason", "required_when_rejected"))
    elif reason == INVALID_REQUEST and refund.reason != OPERATIONAL_FLAW:
        bad.append(("refund_rejection_reason", "invalid_request_only_for_operational_flaw"))
    if reason == INVALID_REQUEST and not req.refund_analysis_details:
        bad.append(("refund_analysis_details", "required_for_invalid_request"))
    if req.refund_transaction_id:
        bad.append(("refund_transaction_id", "none_when_rejected"))
    if req.refunded_amount:
        bad.append(("refunded_amount", "none_when_rejected"))
    return bad


def _acceptance_violations(refund: Refund, req: pb.CloseRefundRequest) -> list[tuple[str, str]]:
    """Manual §17: RefundTransactionId "Obrigatório, caso resultado da análise for igual a
    aceita total ou aceita parcial" (pattern ``\\w{32}``); a rejection reason only with a
    rejection [inferred]. Our refunded_amount (not in the DICT): a partial return is more
    than nothing and less than asked, a total one is what was asked [inferred]."""
    bad = []
    if not req.refund_transaction_id:
        bad.append(("refund_transaction_id", "required_when_accepted"))
    elif not TRANSACTION_ID.fullmatch(req.refund_transaction_id):
        bad.append(("refund_transaction_id", "pattern"))
    if req.refund_rejection_reason:
        bad.append(("refund_rejection_reason", "only_when_rejected"))
    if req.refunded_amount:
        cents = cents_of(req.refunded_amount)
        partial = req.refund_analysis_result == PARTIALLY
        if partial and not (cents and cents < refund.amount_cents):
            bad.append(("refunded_amount", "less_than_requested"))
        if not partial and cents != refund.amount_cents:
            bad.append(("refunded_amount", "the_requested_amount"))
    return bad


def _returned(refund: Refund, req: pb.CloseRefundRequest) -> int:
    """What went back: nothing when REJECTED, the amount asked when TOTALLY_ACCEPTED, and
    for PARTIALLY_ACCEPTED the refunded_amount given, or (not given) the amount asked: the
    count that leaves later requests the least room [inferred]."""
    if req.refund_analysis_result == REJECTED:
        return 0
    return cents_of(req.refunded_amount) or refund.amount_cents


def cancel_refund(
    sim: Simulator, caller: Participant, req: pb.CancelRefundRequest
) -> pb.RefundResponse:
    """cancelRefund: by the requester; "Uma solicitação de devolução não pode ser cancelada
    após ter sido fechada" (RefundOperationInvalid; manual §17: "enquanto a solicitação não
    estiver no estado analisada"); a repeat answers as the first ("Idempotência")."""
    own(caller, req.participant)
    refund = _refund(sim, caller, req.refund_id, REQUESTING)
    if refund.status == CANCELLED_REFUND:
        return pb.RefundResponse(refund=refund.to_pb())
    if refund.status != OPEN_REFUND:
        raise OperationInvalid(f"a {refund.status} refund cannot be cancelled")
    return _touch(sim, refund, CANCELLED_REFUND)


# ---------------------------------------------------------------- list


def list_refunds(
    sim: Simulator, caller: Participant, req: pb.ListRefundsRequest
) -> pb.ListRefundsResponse:
    """listRefund: the requests the participant is party to in the role asked
    (ParticipantRole is "required": true), ascending by LastModified, with the lag and the
    Limit (default 20, maximum 200) of the other lists; RefundDetails and AnalysisDetails
    only with IncludeDetails. The simulator has no indirect participants."""
    own(caller, req.participant)
    mine = _role_filter(req, caller.ispb)
    after, before = optional_us(req, "modified_after"), optional_us(req, "modified_before")
    until = visible_until_us(sim) if before is None else min(visible_until_us(sim), before)
    statuses = set(req.status)
    rows = sorted(
        (
            r
            for r in sim.state.refunds.values()
            if mine(r)
            and (not statuses or r.status in statuses)
            and (after is None or r.last_modified_us >= after)
            and r.last_modified_us <= until
        ),
        key=lambda r: (r.last_modified_us, r.id),
    )
    size = limit(req.limit, 20, 200)
    return pb.ListRefundsResponse(
        refunds=[r.to_pb(req.include_details) for r in rows[:size]],
        has_more_elements=len(rows) > size,
    )


def _role_filter(req: pb.ListRefundsRequest, ispb: str) -> Callable[[Refund], bool]:
    """BadRequest for a missing or unknown ParticipantRole (RefundRequestRole) or Status
    (RefundStatus) [inferred: query parameters, not a refund's fields]."""
    bad = []
    if req.participant_role not in (REQUESTING, CONTESTED):
        bad.append(("participant_role", "one_of"))
    if not STATUSES.issuperset(req.status):
        bad.append(("status", "one_of"))
    if bad:
        raise problems.BadRequest("the list's parameters are invalid", violations=bad)
    if req.participant_role == REQUESTING:
        return lambda r: r.requester == ispb
    return lambda r: r.contested == ispb


def list_policy(req: pb.ListRefundsRequest) -> str:
    """The policy table names REFUND_LIST_WITH_ROLE / _WITHOUT_ROLE ("Aplicável quando há
    filtragem por requisitante/contestado"); the simulator's buckets call them
    REFUNDS_LIST_*. A list without a role is refused, and costs a WITHOUT_ROLE token."""
    return f"REFUNDS_LIST_{'WITH' if req.participant_role else 'WITHOUT'}_ROLE"
