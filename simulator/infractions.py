"""Infraction reports and fraud markers, v2.6.1 semantics (DICT.md §5).

The reporter opens a report naming the counterparty; the counterparty
acknowledges and then closes it (AGREED needs a fraud type and registers a fraud
marker); the reporter may cancel at any time, which cancels that marker too.
Acknowledge, close and cancel repeated with the same parameters answer the same.
"""

from __future__ import annotations

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from simulator.common import limit, own, visible_until_us
from simulator.config import Participant
from simulator.convert import optional_us, uuid_bytes
from simulator.models import (
    ACKNOWLEDGED,
    CANCELLED_MARKER,
    CANCELLED_REPORT,
    CLOSED,
    OPEN_REPORT,
    Marker,
    Report,
)
from simulator.state import Simulator

REASONS = frozenset({"REFUND_REQUEST", "REFUND_CANCELLED"})
SITUATIONS = frozenset({"SCAM", "ACCOUNT_TAKEOVER", "COERCION", "FRAUDULENT_ACCESS", "OTHER"})
RESULTS = frozenset({"AGREED", "DISAGREED"})
FRAUD_TYPES = frozenset({"APPLICATION_FRAUD", "MULE_ACCOUNT", "SCAMMER_ACCOUNT", "OTHER"})
Invalid = problems.InfractionReportInvalid
OperationInvalid = problems.InfractionReportOperationInvalid


def _check_content(situation: str, details: str, contact: pb.ContactInformation) -> None:
    bad = []
    if situation not in SITUATIONS:
        bad.append(("situation_type", "one_of"))
    if situation == "OTHER" and not details:
        bad.append(("report_details", "required_for_other"))
    if not (contact.email or contact.phone):
        bad.append(("contact_information", "required"))
    if bad:
        raise Invalid("the report is invalid", violations=bad)


def create_report(
    sim: Simulator, caller: Participant, req: pb.CreateInfractionReportRequest
) -> pb.InfractionReportResponse:
    own(caller, req.participant)
    _validate_create(sim, caller, req)
    memo_key = f"{caller.ispb}:{req.request_id.lower()}"
    known = sim.state.report_requests.get(memo_key)
    if known is not None:
        report = _report_by_id(sim, known)
        if report.fingerprint != _fingerprint(req):
            raise problems.RequestIdAlreadyUsed("this RequestId opened a different report")
        return pb.InfractionReportResponse(report=report.to_pb())
    if any(_same_open_report(r, caller.ispb, req) for r in sim.state.reports.values()):
        raise problems.InfractionReportAlreadyExists("a report exists for this transaction")
    now = sim.now_us()
    key, owner = _payee(sim, caller, req)
    report = Report(
        f"ir-{sim.next_id():010d}", req.transaction_id, req.reason, req.situation_type,
        req.report_details, caller.ispb, req.counterparty_participant,
        req.contact_information, now, now, req.request_id, fingerprint=_fingerprint(req),
        key=key, owner=owner,
    )  # fmt: skip
    sim.state.reports[report.id] = report
    sim.state.report_requests[memo_key] = report.id
    return pb.InfractionReportResponse(report=report.to_pb())


def _payee(
    sim: Simulator, caller: Participant, req: pb.CreateInfractionReportRequest
) -> tuple[str, str]:
    """The key a refund request's transaction paid and its owner's tax id, or ("", "").
    The DICT learns them from the SPI; the simulator, which has none, from the lookup the
    reporter (the payer's PSP) made with the transaction's E2E id as PI-EndToEndId
    [inferred]. A REFUND_CANCELLED report's TransactionId is an RtrId, never looked up, and
    a transaction whose lookup is unknown or found nothing: neither is tied to anyone."""
    if req.reason != "REFUND_REQUEST":
        return "", ""
    lookup = sim.state.lookups.made_by(req.transaction_id, caller.ispb)
    if lookup is None or not lookup.owner:
        return "", ""
    return lookup.key, lookup.owner


def _validate_create(
    sim: Simulator, caller: Participant, req: pb.CreateInfractionReportRequest
) -> None:
    bad = [] if req.transaction_id else [("transaction_id", "required")]
    if req.reason not in REASONS:
        bad.append(("reason", "one_of"))
    counterparty = req.counterparty_participant
    if counterparty not in sim.participants or counterparty == caller.ispb:
        bad.append(("counterparty_participant", "another_known_participant"))
    if uuid_bytes(req.request_id) is None:
        bad.append(("request_id", "pattern"))
    if bad:
        raise Invalid("the report is invalid", violations=bad)
    _check_content(req.situation_type, req.report_details, req.contact_information)


def _same_open_report(r: Report, reporter: str, req: pb.CreateInfractionReportRequest) -> bool:
    """One live report per reporter, transaction and reason."""
    return (r.reporter, r.transaction_id, r.reason) == (
        reporter,
        req.transaction_id,
        req.reason,
    ) and r.status != CANCELLED_REPORT


def _fingerprint(req: pb.CreateInfractionReportRequest) -> tuple[object, ...]:
    return (
        req.transaction_id,
        req.reason,
        req.counterparty_participant,
        req.situation_type,
        req.report_details,
        req.contact_information.SerializeToString(deterministic=True),
    )


def _report_by_id(sim: Simulator, report_id: str) -> Report:
    report = sim.state.reports.get(report_id)
    if report is None:
        raise problems.NotFound(f"no infraction report {report_id}")
    return report


def _report(sim: Simulator, caller: Participant, report_id: str, role: str = "") -> Report:
    """The report, readable by its two parties; ``role`` restricts who may act."""
    report = _report_by_id(sim, report_id)
    allowed = {
        "reporter": {report.reporter},
        "counterparty": {report.counterparty},
        "": {report.reporter, report.counterparty},
    }[role]
    if caller.ispb not in allowed:
        raise problems.Forbidden(f"only the {role or 'parties'} may do this")
    return report


def _touch(sim: Simulator, report: Report, status: str) -> pb.InfractionReportResponse:
    report.status = status
    report.last_modified_us = sim.now_us()
    return pb.InfractionReportResponse(report=report.to_pb())


def get_report(
    sim: Simulator, caller: Participant, req: pb.GetInfractionReportRequest
) -> pb.InfractionReportResponse:
    return pb.InfractionReportResponse(report=_report(sim, caller, req.id).to_pb())


def acknowledge_report(
    sim: Simulator, caller: Participant, req: pb.AcknowledgeInfractionReportRequest
) -> pb.InfractionReportResponse:
    own(caller, req.participant)
    report = _report(sim, caller, req.id, "counterparty")
    if report.status == ACKNOWLEDGED:
        return pb.InfractionReportResponse(report=report.to_pb())
    if report.status != OPEN_REPORT:
        raise OperationInvalid(f"cannot acknowledge a {report.status} report")
    return _touch(sim, report, ACKNOWLEDGED)


def close_report(
    sim: Simulator, caller: Participant, req: pb.CloseInfractionReportRequest
) -> pb.InfractionReportResponse:
    own(caller, req.participant)
    report = _report(sim, caller, req.id, "counterparty")
    params = (req.analysis_result, req.analysis_details, req.fraud_type)
    if report.status == CLOSED:
        if params != (report.analysis_result, report.analysis_details, report.fraud_type):
            raise OperationInvalid("the report was closed with another analysis")
        return pb.InfractionReportResponse(report=report.to_pb())
    if report.status != ACKNOWLEDGED:
        raise OperationInvalid(f"only an ACKNOWLEDGED report closes, not a {report.status} one")
    bad = [] if req.analysis_result in RESULTS else [("analysis_result", "one_of")]
    if req.analysis_result == "AGREED" and req.fraud_type not in FRAUD_TYPES:
        bad.append(("fraud_type", "required_when_agreed"))
    if len(req.analysis_details) > 2000:
        bad.append(("analysis_details", "max_length"))
    if bad:
        raise Invalid("the analysis is invalid", violations=bad)
    report.analysis_result, report.analysis_details, report.fraud_type = params
    if req.analysis_result == "AGREED":
        # Manual §10: it "gera automaticamente uma marcação de fraude para o usuário
        # recebedor da transação": the payee, when the report is tied to one.
        marker = Marker(
            f"fm-{sim.next_id():010d}",
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


def cancel_report(
    sim: Simulator, caller: Participant, req: pb.CancelInfractionReportRequest
) -> pb.InfractionReportResponse:
    own(caller, req.participant)
    report = _report(sim, caller, req.id, "reporter")
    if report.status == CANCELLED_REPORT:
        return pb.InfractionReportResponse(report=report.to_pb())
    marker = sim.state.markers.get(report.fraud_marker_id)
    if marker is not None:
        marker.status = CANCELLED_MARKER
        marker.last_modified_us = sim.now_us()
    return _touch(sim, report, CANCELLED_REPORT)


def update_report(
    sim: Simulator, caller: Participant, req: pb.UpdateInfractionReportRequest
) -> pb.InfractionReportResponse:
    own(caller, req.participant)
    report = _report(sim, caller, req.id, "reporter")
    if report.status not in (OPEN_REPORT, ACKNOWLEDGED):
        raise OperationInvalid(f"a {report.status} report cannot change")
    _check_content(req.situation_type, req.report_details, req.contact_information)
    report.situation_type, report.report_details = req.situation_type, req.report_details
    report.contact = req.contact_information
    return _touch(sim, report, report.status)


def list_reports(
    sim: Simulator, caller: Participant, req: pb.ListInfractionReportsRequest
) -> pb.ListInfractionReportsResponse:
    own(caller, req.participant)
    roles = []
    if req.HasField("is_reporter") and req.is_reporter:
        roles.append("reporter")
    if req.HasField("is_counterparty") and req.is_counterparty:
        roles.append("counterparty")
    after, before = optional_us(req, "modified_after"), optional_us(req, "modified_before")
    until = visible_until_us(sim)
    if before is not None:
        until = min(until, before)
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
    size = limit(req.limit, 20, 200)
    return pb.ListInfractionReportsResponse(
        reports=[r.to_pb() for r in rows[:size]], has_more_elements=len(rows) > size
    )


def _has_role(r: Report, ispb: str, roles: list[str]) -> bool:
    mine = {"reporter": r.reporter == ispb, "counterparty": r.counterparty == ispb}
    return any(mine[role] for role in roles) if roles else any(mine.values())


def list_policy(req: pb.ListInfractionReportsRequest) -> str:
    with_role = req.HasField("is_reporter") or req.HasField("is_counterparty")
    return f"INFRACTION_REPORTS_LIST_{'WITH' if with_role else 'WITHOUT'}_ROLE"
