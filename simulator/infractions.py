"""Infraction reports (notificações de infração), v2.6.1 semantics (DICT.md §5; manual §10).

A report names a transaction the SPI settled (``transactions``): a REFUND_REQUEST the
payment's E2E id, opened by the payer's PSP against the payee's; a REFUND_CANCELLED the
RtrId of a pacs.004, opened by the PSP that returned the funds (the original payee's)
against the one that received them. The counterparty acknowledges and then closes it
(AGREED needs a fraud type and registers a fraud marker); the reporter may update it
while OPEN or ACKNOWLEDGED and cancel it at any time, which cancels that marker too.
Acknowledge, close and cancel repeated with the same parameters answer the same. Create
has no RequestId in v2.6.1: a repeat is a second report, refused while the first is in
progress or closed.

Sources: the OpenAPI v2.6.1 text of createInfractionReport, updateInfractionReport,
getInfractionReport, acknowledgeInfractionReport, closeInfractionReport,
cancelInfractionReport and listInfractionReport, the schemas InfractionReport,
ExtendedInfractionReport, ContactInformation (Email, Phone), SituationType, FraudType,
AnalysisResult, AnalysisDetails, CreateInfractionReportRequest,
UpdateInformationInfractionReportRequest and CloseInfractionReportRequest, and the error
table's "Notificação de infração" rows; manual §10 and §10.1. Written from that text, not
from the connector's rules. A rule the text implies without stating it, or a refusal
whose problem type the text does not name, is marked [inferred].
"""

from __future__ import annotations

import re
import uuid

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from simulator import transactions
from simulator.clock import US
from simulator.common import own, visible_until_us
from simulator.config import Participant
from simulator.convert import optional_us
from simulator.models import (
    ACKNOWLEDGED,
    CANCELLED_MARKER,
    CANCELLED_REPORT,
    CLOSED,
    OPEN_REPORT,
    Marker,
    Report,
    Transaction,
)
from simulator.state import Simulator

REFUND_REQUEST, REFUND_CANCELLED = "REFUND_REQUEST", "REFUND_CANCELLED"
REASONS = frozenset({REFUND_REQUEST, REFUND_CANCELLED})
"""InfractionNotificationReason."""
OTHER = "OTHER"
SITUATIONS = frozenset({"SCAM", "ACCOUNT_TAKEOVER", "COERCION", "FRAUDULENT_ACCESS", OTHER})
"""SituationType less UNKNOWN: "Caso criado na v1, será retornado com UNKNOWN", a value the
DICT answers with and a v2 call cannot give [inferred]."""
RESULTS = frozenset({"AGREED", "DISAGREED"})
"""AnalysisResult."""
FRAUD_TYPES = frozenset({"APPLICATION_FRAUD", "MULE_ACCOUNT", "SCAMMER_ACCOUNT", OTHER})
"""FraudType less UNKNOWN: closeInfractionReport, "o tipo UNKNOWN não é válido para a API
v2" (createFraudMarker takes the same values)."""
STATUSES = frozenset({OPEN_REPORT, ACKNOWLEDGED, CLOSED, CANCELLED_REPORT})
"""InfractionReportStatus."""
MAX_TEXT = 2000
"""InfractionReport.ReportDetails and AnalysisDetails: maxLength 2000."""
TRANSACTION_ID = re.compile(r"\w{8,32}", re.ASCII)
"""InfractionReport.TransactionId: pattern ``\\w{8,32}`` (the whole value [inferred])."""
EMAIL = re.compile(
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
    re.ASCII,
)
"""ContactInformation.Email: the schema Email's pattern."""
PHONE = re.compile(r"\+[0-9]\d{1,14}", re.ASCII)
"""ContactInformation.Phone: the schema Phone's pattern ``^\\+[0-9]\\d{1,14}$``."""
WINDOW_DAYS = {REFUND_REQUEST: 80, REFUND_CANCELLED: 30}
"""InfractionReportPeriodExpired ("O prazo para a notificação de infração sobre a transação
expirou") past these calendar days (of 24 h [inferred]) from the settlement. Manual §10.1:
the report is opened "desde que a transação tenha sido realizada nos últimos oitenta dias
corridos" (flow 10.1.1, step 5); §10.1.3, step 5: the refund transaction "realizada nos
últimos trinta dias corridos". The manual states them as the PSP's checks; the DICT's error
says it enforces a deadline, taken to be these [inferred]."""
LIST_LIMIT, LIST_LIMIT_MAX = 20, 200
"""listInfractionReport's Limit: "default": 20, "maximum": 200."""
REPORTER, COUNTERPARTY = "reporter", "counterparty"
Invalid = problems.InfractionReportInvalid
OperationInvalid = problems.InfractionReportOperationInvalid
Violations = list[tuple[str, str]]


# ---------------------------------------------------------------- create


def create_report(
    sim: Simulator, caller: Participant, req: pb.CreateInfractionReportRequest
) -> pb.InfractionReportResponse:
    """createInfractionReport. Checks in the order the request is read: its fields, the
    transaction, who reports, the reports already made on it, then the window.

    The request's ``request_id`` and ``counterparty_participant`` are NOT IN THE DICT
    (CreateInfractionReportRequest is Participant and InfractionReport): both are ignored,
    as the DICT, which never sees them, would. A repeat is therefore a second report
    (refused while the first is in progress or closed), and the counterparty is the
    transaction's other PSP as the SPI recorded it, whatever the field says."""
    own(caller, req.participant)
    bad = _transaction_violations(req) + _content_violations(
        req.reason,
        req.situation_type,
        req.report_details,
        req.contact_information if req.HasField("contact_information") else None,
    )
    if bad:
        raise Invalid("the report is invalid", violations=bad)
    tx = transactions.settled(
        sim,
        req.transaction_id,
        problems.InfractionReportTransactionNotFound,
        problems.InfractionReportTransactionNotSettled,
    )
    _check_reporter(tx, caller, req.reason)
    _check_no_other_report(sim, tx)
    now = sim.now_us()
    _check_window(tx, req.reason, now)
    key, owner = _payee(sim, caller, req)
    report = Report(
        str(uuid.uuid4()), tx.end_to_end_id, req.reason, req.situation_type,
        req.report_details, caller.ispb, tx.payee, _copy(req.contact_information), now, now,
        key=key, owner=owner,
    )  # fmt: skip
    sim.state.reports[report.id] = report
    return pb.InfractionReportResponse(report=report.to_pb())


def _transaction_violations(req: pb.CreateInfractionReportRequest) -> Violations:
    """InfractionReport's "required" TransactionId (pattern ``\\w{8,32}``) and Reason (of
    InfractionNotificationReason)."""
    bad = []
    if not req.transaction_id:
        bad.append(("transaction_id", "required"))
    elif not TRANSACTION_ID.fullmatch(req.transaction_id):
        bad.append(("transaction_id", "pattern"))
    if req.reason not in REASONS:
        bad.append(("reason", "one_of"))
    return bad


def _content_violations(
    reason: str, situation: str, details: str, contact: pb.ContactInformation | None
) -> Violations:
    """What create and update check alike (error table: InfractionReportInvalid, "campos
    inválidos ao tentar criar ou atualizar a notificação de infração"):

    - SituationType required, of the enum (without UNKNOWN); "Caso Reason=REFUND_CANCELLED,
      deve ser preenchido com OTHER" (manual §10.1: "deverá ser sempre preenchida com
      SituationType = other");
    - ReportDetails "Obrigatório caso SituationType=OTHER", maxLength 2000;
    - ContactInformation required, and its schema's "required": ["Email", "Phone"] (manual
      §10.1: each "Obrigatório quando a notificação for aberta pelo participante"), each
      matching the schema's pattern."""
    bad = [] if situation in SITUATIONS else [("situation_type", "one_of")]
    if reason == REFUND_CANCELLED and situation in SITUATIONS and situation != OTHER:
        bad.append(("situation_type", "other_for_refund_cancelled"))
    if situation == OTHER and not details:
        bad.append(("report_details", "required_for_other"))
    if len(details) > MAX_TEXT:
        bad.append(("report_details", "max_length"))
    return bad + _contact_violations(contact)


def _contact_violations(contact: pb.ContactInformation | None) -> Violations:
    if contact is None:
        return [("contact_information", "required")]
    bad = []
    for name, pattern in (("email", EMAIL), ("phone", PHONE)):
        value = getattr(contact, name)
        if not value:
            bad.append((f"contact_information.{name}", "required"))
        elif not pattern.fullmatch(value):
            bad.append((f"contact_information.{name}", "pattern"))
    return bad


def _check_reporter(tx: Transaction, caller: Participant, reason: str) -> None:
    """createInfractionReport: "Quando o objetivo da notificação de infração for solicitação
    de devolução, quem deve criar a notificação é o PSP do pagador da transação original.
    Para o cancelamento de devolução, quem deve criar é o PSP do recebedor da transação
    original." (manual §10.1: "pode ser aberta apenas pelo PSP do pagador" / "apenas pelo
    PSP do recebedor da transação original"). Both are the debited PSP of the transaction
    named: the payment's payer for REFUND_REQUEST; for REFUND_CANCELLED the payer of the
    pacs.004 the RtrId names, i.e. the original payee's PSP that returned the funds. 403
    is among the operation's answers [inferred: Forbidden for this refusal]."""
    if tx.payer != caller.ispb:
        who = "payer's" if reason == REFUND_REQUEST else "original payee's (the pacs.004's payer)"
        raise problems.Forbidden(f"only the {who} PSP may report transaction {tx.end_to_end_id}")


def _check_no_other_report(sim: Simulator, tx: Transaction) -> None:
    """Error table: InfractionReportAlreadyBeingProcessedForTransaction ("Já existe uma
    notificação de infração em andamento para a transação informada": an OPEN or
    ACKNOWLEDGED one) and InfractionReportAlreadyProcessedForTransaction ("... fechado
    para a transação informada": a CLOSED one). A CANCELLED report leaves room for a new
    one [inferred]."""
    for r in sim.state.reports.values():
        if r.transaction_id != tx.end_to_end_id:
            continue
        if r.status in (OPEN_REPORT, ACKNOWLEDGED):
            raise problems.InfractionReportAlreadyBeingProcessedForTransaction(
                f"report {r.id} on this transaction is {r.status}"
            )
        if r.status == CLOSED:
            raise problems.InfractionReportAlreadyProcessedForTransaction(
                f"report {r.id} on this transaction was closed"
            )


def _check_window(tx: Transaction, reason: str, now: int) -> None:
    """InfractionReportPeriodExpired past ``WINDOW_DAYS`` of the reason."""
    if now - tx.settled_us > WINDOW_DAYS[reason] * 86_400 * US:
        raise problems.InfractionReportPeriodExpired(
            f"transaction {tx.end_to_end_id} is older than {WINDOW_DAYS[reason]} days"
        )


def _payee(
    sim: Simulator, caller: Participant, req: pb.CreateInfractionReportRequest
) -> tuple[str, str]:
    """The key a refund request's transaction paid and its owner's tax id, or ("", "").
    The DICT learns them from the SPI; the simulator's registry knows the PSPs only, so it
    takes them from the lookup the reporter (the payer's PSP) made with the transaction's
    E2E id as PI-EndToEndId [inferred]. A REFUND_CANCELLED report's TransactionId is an
    RtrId, never looked up, and a transaction whose lookup is unknown or found nothing:
    neither is tied to anyone."""
    if req.reason != REFUND_REQUEST:
        return "", ""
    lookup = sim.state.lookups.made_by(req.transaction_id, caller.ispb)
    if lookup is None or not lookup.owner:
        return "", ""
    return lookup.key, lookup.owner


def _copy(contact: pb.ContactInformation) -> pb.ContactInformation:
    kept = pb.ContactInformation()
    kept.CopyFrom(contact)
    return kept


# ---------------------------------------------------------------- read


def _report(sim: Simulator, caller: Participant, report_id: str, role: str = "") -> Report:
    """The report, seen by its two parties only [inferred: getInfractionReport answers 404
    and no 403, so a report the caller is no party to is, for it, not found]; ``role``
    restricts who may act (acknowledge and close "pelo participante contraparte", cancel
    "Só pode ser realizada pelo participante que criou a notificação", update by the
    reporter: manual §10.1; each answers 403 among its errors [inferred: Forbidden])."""
    report = sim.state.reports.get(report_id)
    if report is None or caller.ispb not in (report.reporter, report.counterparty):
        raise problems.NotFound(f"no infraction report {report_id}")
    allowed = {REPORTER: report.reporter, COUNTERPARTY: report.counterparty}.get(role, caller.ispb)
    if caller.ispb != allowed:
        raise problems.Forbidden(f"only the {role} may do this")
    return report


def get_report(
    sim: Simulator, caller: Participant, req: pb.GetInfractionReportRequest
) -> pb.InfractionReportResponse:
    return pb.InfractionReportResponse(report=_report(sim, caller, req.id).to_pb())


def _touch(sim: Simulator, report: Report, status: str) -> pb.InfractionReportResponse:
    report.status = status
    report.last_modified_us = sim.now_us()
    return pb.InfractionReportResponse(report=report.to_pb())


# ---------------------------------------------------------------- the reporter's changes


def update_report(
    sim: Simulator, caller: Participant, req: pb.UpdateInfractionReportRequest
) -> pb.InfractionReportResponse:
    """updateInfractionReport: "permite ao participante atualizar os campos SituationType,
    ContactInformation e ReportDetails ... somente quando a notificação estiver nos estados
    OPEN ou ACKNOWLEDGED" (else InfractionReportOperationInvalid); manual §10.1: the PSP
    that opened it, "desde que ela esteja nos estados 'aberta' ou 'recebida'". The request
    requires only InfractionReportId and Participant: a field not given keeps its value
    [inferred]; the report that results must keep the rules of its creation."""
    own(caller, req.participant)
    report = _report(sim, caller, req.id, REPORTER)
    if report.status not in (OPEN_REPORT, ACKNOWLEDGED):
        raise OperationInvalid(f"a {report.status} report cannot change")
    situation = req.situation_type or report.situation_type
    details = req.report_details or report.report_details
    given = req.HasField("contact_information")
    contact = req.contact_information if given else report.contact
    bad = _content_violations(report.reason, situation, details, contact)
    if bad:
        raise Invalid("the report is invalid", violations=bad)
    report.situation_type, report.report_details = situation, details
    report.contact = _copy(contact)
    return _touch(sim, report, report.status)


def cancel_report(
    sim: Simulator, caller: Participant, req: pb.CancelInfractionReportRequest
) -> pb.InfractionReportResponse:
    """cancelInfractionReport: "Só pode ser realizada pelo participante que criou a
    notificação"; at any time, "inclusive após ela já ter sido analisada" (manual §10.1);
    "O cancelamento de uma notificação de infração fechada com concordância cancelará
    também a marcação de fraude associada"; a repeat answers as the first ("Idempotência")."""
    own(caller, req.participant)
    report = _report(sim, caller, req.id, REPORTER)
    if report.status == CANCELLED_REPORT:
        return pb.InfractionReportResponse(report=report.to_pb())
    marker = sim.state.markers.get(report.fraud_marker_id)
    if marker is not None and marker.status != CANCELLED_MARKER:
        marker.status = CANCELLED_MARKER
        marker.last_modified_us = sim.now_us()
    return _touch(sim, report, CANCELLED_REPORT)


# ---------------------------------------------------------------- the counterparty's


def acknowledge_report(
    sim: Simulator, caller: Participant, req: pb.AcknowledgeInfractionReportRequest
) -> pb.InfractionReportResponse:
    """acknowledgeInfractionReport: "Notifica recebimento da notificação pelo participante
    contraparte"; "Caso a notificação já tenha sido recebida e esteja ainda com status
    ACKNOWLEDGED, será retornada resposta equivalente à primeira requisição". Any other
    status than OPEN: InfractionReportOperationInvalid ("Status atual da notificação de
    infração não permite que operação seja feita")."""
    own(caller, req.participant)
    report = _report(sim, caller, req.id, COUNTERPARTY)
    if report.status == ACKNOWLEDGED:
        return pb.InfractionReportResponse(report=report.to_pb())
    if report.status != OPEN_REPORT:
        raise OperationInvalid(f"cannot acknowledge a {report.status} report")
    return _touch(sim, report, ACKNOWLEDGED)


def close_report(
    sim: Simulator, caller: Participant, req: pb.CloseInfractionReportRequest
) -> pb.InfractionReportResponse:
    """closeInfractionReport: "A notificação deve ser fechada pelo participante contraparte.
    Para fechamento, o status deve ser ACKNOWLEDGED" (else InfractionReportOperationInvalid);
    "Caso a notificação já tenha sido fechado com os mesmos parâmetros, será retornada
    resposta equivalente à primeira requisição". AGREED "gera automaticamente uma marcação
    de fraude" whose id is the report's FraudMarkerId."""
    own(caller, req.participant)
    report = _report(sim, caller, req.id, COUNTERPARTY)
    params = (req.analysis_result, req.analysis_details, req.fraud_type)
    if report.status == CLOSED:
        if params != (report.analysis_result, report.analysis_details, report.fraud_type):
            raise OperationInvalid("the report was closed with another analysis")
        return pb.InfractionReportResponse(report=report.to_pb())
    if report.status != ACKNOWLEDGED:
        raise OperationInvalid(f"only an ACKNOWLEDGED report closes, not a {report.status} one")
    bad = _close_violations(req)
    if bad:
        raise Invalid("the analysis is invalid", violations=bad)
    report.analysis_result, report.analysis_details, report.fraud_type = params
    if req.analysis_result == "AGREED":
        # Manual §10.1: it "gera automaticamente uma marcação de fraude para o usuário
        # recebedor da transação": the payee, when the report is tied to one.
        marker = Marker(
            str(uuid.uuid4()),
            caller.ispb,
            report.owner,
            report.key,
            req.fraud_type,
            sim.now_us(),
            report_id=report.id,
            closed_by=caller.ispb,
        )
        sim.state.markers[marker.id] = marker
        report.fraud_marker_id = marker.id
    return _touch(sim, report, CLOSED)


def _close_violations(req: pb.CloseInfractionReportRequest) -> Violations:
    """InfractionReportInvalid naming every broken field: AnalysisResult "required", of the
    enum; FraudType "Obrigatório caso AnalysisResult = AGREED", of the enum without UNKNOWN
    whenever given; AnalysisDetails "Obrigatório caso FraudType=OTHER" (manual §10.1, the
    close's table), maxLength 2000."""
    bad = [] if req.analysis_result in RESULTS else [("analysis_result", "one_of")]
    if req.fraud_type and req.fraud_type not in FRAUD_TYPES:
        bad.append(("fraud_type", "one_of"))
    elif req.analysis_result == "AGREED" and not req.fraud_type:
        bad.append(("fraud_type", "required_when_agreed"))
    if req.fraud_type == OTHER and not req.analysis_details:
        bad.append(("analysis_details", "required_for_other"))
    if len(req.analysis_details) > MAX_TEXT:
        bad.append(("analysis_details", "max_length"))
    return bad


# ---------------------------------------------------------------- list


def list_reports(
    sim: Simulator, caller: Participant, req: pb.ListInfractionReportsRequest
) -> pb.ListInfractionReportsResponse:
    """listInfractionReport: "Obtém lista de notificações de infração em que o participante
    é parte", IsReporter / IsCounterparty restricting it to a role, Status to its values,
    ModifiedAfter / ModifiedBefore inclusive, "ordenada de forma crescente pelo campo
    LastModified", with the lag of the other lists. The simulator has no indirect
    participants (IncludeIndirectParticipants). ReportDetails and AnalysisDetails only with
    IncludeDetails ("default": false)."""
    own(caller, req.participant)
    size = _page_size(req)
    roles = []
    if req.HasField("is_reporter") and req.is_reporter:
        roles.append(REPORTER)
    if req.HasField("is_counterparty") and req.is_counterparty:
        roles.append(COUNTERPARTY)
    after, before = optional_us(req, "modified_after"), optional_us(req, "modified_before")
    until = visible_until_us(sim) if before is None else min(visible_until_us(sim), before)
    statuses = set(req.status)
    rows = sorted(
        (
            r
            for r in sim.state.reports.values()
            if _has_role(r, caller.ispb, roles)
            and (not statuses or r.status in statuses)
            and (after is None or r.last_modified_us >= after)
            and r.last_modified_us <= until
        ),
        key=lambda r: (r.last_modified_us, r.id),
    )
    return pb.ListInfractionReportsResponse(
        reports=[r.to_pb(req.include_details) for r in rows[:size]],
        has_more_elements=len(rows) > size,
    )


def _page_size(req: pb.ListInfractionReportsRequest) -> int:
    """BadRequest for a Limit out of its schema ("default": 20, "maximum": 200) or a Status
    not of InfractionReportStatus [inferred: query parameters the schema refuses, not a
    report's fields; a Limit above the maximum is refused, not cut down]."""
    bad = []
    if req.limit < 0:
        bad.append(("limit", "min"))
    if req.limit > LIST_LIMIT_MAX:
        bad.append(("limit", "max"))
    if not STATUSES.issuperset(req.status):
        bad.append(("status", "one_of"))
    if bad:
        raise problems.BadRequest("the list's parameters are invalid", violations=bad)
    return req.limit or LIST_LIMIT


def _has_role(r: Report, ispb: str, roles: list[str]) -> bool:
    mine = {REPORTER: r.reporter == ispb, COUNTERPARTY: r.counterparty == ispb}
    return any(mine[role] for role in roles) if roles else any(mine.values())


def list_policy(req: pb.ListInfractionReportsRequest) -> str:
    """INFRACTION_REPORTS_LIST_WITH_ROLE / _WITHOUT_ROLE (the policy table; "WITH" when
    the list filters by role, as the claims' and refunds' rules say of theirs)."""
    with_role = req.HasField("is_reporter") or req.HasField("is_counterparty")
    return f"INFRACTION_REPORTS_LIST_{'WITH' if with_role else 'WITHOUT'}_ROLE"
