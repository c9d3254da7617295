"""Infraction reports (MED): our calls to the DICT, the counterparty's deadlines, and the
poll that learns what the other side did.

The calls follow ``actors/following.py``: a refused call goes back to the status it
left, then the report is read again (GetInfractionReport) and moved to whatever the DICT
holds: the other side may have won a race.

The DICT's CreateInfractionReportRequest has no RequestId, so a repeat after a lost
answer is refused (``InfractionReportAlreadyBeingProcessedForTransaction`` while the
first is live, ``InfractionReportAlreadyProcessedForTransaction`` once it closed):
``create_infraction_report`` then adopts the report the DICT holds, found by listing ours
as reporter (the poll does the same if it sees the report first).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import dramatiq
from periodiq import cron

from actors import listing
from actors.entries import client
from actors.following import Followed
from actors.listing import Listing, ts
from actors.spine import claim_slot, cron_slot
from app import db, outbox, queue, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import infractions as rules
from app.domain import problems
from app.events import InfractionDeadline
from app.repo import infraction_reports as reports
from app.repo.infraction_reports import ReportRow
from statemachines import infraction_report as machine

log = logging.getLogger(__name__)

ROLES = ("REPORTER", "COUNTERPARTY")
FIRST_LOOK_BACK = timedelta(days=90)
"""The first poll reads this far back (a report is opened within 80 days of its
transaction, and analysed within 7 days)."""
ADOPT_LOOK_BACK = timedelta(minutes=5)
"""A lost create answer: the DICT's report was modified at most this long before our row
was inserted (the clocks may disagree by that much)."""
POLL_TIME_LIMIT_MS = 300_000


def dict_fields(r: pb.InfractionReport) -> dict[str, Any]:
    """What the DICT says of a report, as the columns of ``infraction_reports``."""
    created = ts(r.creation_time)
    return {
        "dict_id": r.id,
        "dict_status": r.status,
        "dict_last_modified": ts(r.last_modified),
        "dict_created_at": created,
        "due_at": rules.deadline(created) if created else None,
        "analysis_result": r.analysis_result or None,
        "analysis_details": r.analysis_details or None,
        "fraud_marker_id": r.fraud_marker_id or None,
        "counterparty_participant": r.counterparty_participant or None,
        "situation_type": r.situation_type or None,
        "contact_email": r.contact_information.email or None,
        "contact_phone": r.contact_information.phone or None,
        "report_details": r.report_details or None,
    }


def learned_fields(r: pb.InfractionReport, role: str) -> dict[str, Any]:
    """A report first seen in the DICT's list, as a new row in ``role``."""
    return {
        "role": role,
        "transaction_id": r.transaction_id,
        "reason": r.reason,
        "situation_type": r.situation_type,
        "report_details": r.report_details or None,
        "contact_email": r.contact_information.email,
        "contact_phone": r.contact_information.phone,
        "reporter_participant": r.reporter_participant,
        "counterparty_participant": r.counterparty_participant,
        **dict_fields(r),
    }


def read_report(dict_id: str) -> pb.InfractionReport:
    """The report as the DICT holds it now."""
    return client().get_infraction_report(pb.GetInfractionReportRequest(id=dict_id)).report


REPORT: Followed[pb.InfractionReport, ReportRow] = Followed(
    "infraction report", machine.FOLLOW, reports.get, read_report, lambda r, row: dict_fields(r)
)


# ---------------------------------------------------------------------- create


def _create_request(row: ReportRow) -> pb.CreateInfractionReportRequest:
    return pb.CreateInfractionReportRequest(
        participant=settings.bridge().participant,
        transaction_id=row.transaction_id,
        reason=row.reason,
        situation_type=row.situation_type,
        report_details=row.report_details or "",
        contact_information=pb.ContactInformation(email=row.contact_email, phone=row.contact_phone),
        counterparty_participant=row.counterparty_participant,
        request_id=str(row.request_id),
    )


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def create_infraction_report(report_id: str) -> None:
    """CreateInfractionReport for our report in ``submitting``; a lost answer is
    recovered by listing our reports (the DICT's request has no RequestId)."""
    row = REPORT.load(report_id)
    if row is None or row.status != "submitting":
        return
    refusal: problems.DictProblem | None = None
    answer: pb.InfractionReport | None
    try:
        answer = client().create_infraction_report(_create_request(row)).report
    except problems.INFRACTION_REPORT_ON_TRANSACTION as exc:
        answer, refusal = _ours_already(row), exc  # our earlier try's answer was lost
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        answer, refusal = None, exc
    if answer is not None:
        REPORT.apply(report_id, lambda s: REPORT.settle(s, row, answer, "submitted"))
        return
    assert refusal is not None
    problem = (refusal.type, refusal.detail)
    REPORT.apply(report_id, lambda s: machine.fire(s, report_id, "submit_refused", problem=problem))


def _ours_already(row: ReportRow) -> pb.InfractionReport | None:
    """The live report we opened on this transaction and reason, if the DICT holds one
    that no row of ours carries."""
    for r in _listed("REPORTER", row.inserted_at - ADOPT_LOOK_BACK):
        same = (r.transaction_id, r.reason) == (row.transaction_id, row.reason)
        if same and r.status != "CANCELLED" and not _known(r.id):
            return r
    return None


def _known(dict_id: str) -> bool:
    with db.pool().connection() as conn:
        return reports.by_dict_id(conn, dict_id, "REPORTER") is not None


def _listed(role: str, since: datetime) -> Iterator[pb.InfractionReport]:
    """Every report where we have ``role``, modified since ``since``."""
    for page in listing.pages(partial(_fetch, role), since):
        yield from page


def _fetch(role: str, since: datetime) -> tuple[Sequence[pb.InfractionReport], bool]:
    """One page of the DICT's list where we have ``role``, modified since ``since``."""
    request = pb.ListInfractionReportsRequest(
        participant=settings.bridge().participant, limit=listing.PAGE, include_details=True
    )
    if role == "REPORTER":
        request.is_reporter = True
    else:
        request.is_counterparty = True
    request.modified_after.FromDatetime(since)
    page = client().list_infraction_reports(request)
    return page.reports, page.has_more_elements


# ---------------------------------------------------------------------- our decisions


def _ours(row: ReportRow) -> dict[str, str]:
    return {"id": REPORT.dict_id(row), "participant": settings.bridge().participant}


def _acknowledge(row: ReportRow) -> pb.InfractionReport:
    request = pb.AcknowledgeInfractionReportRequest(**_ours(row))
    return client().acknowledge_infraction_report(request).report


def _close(row: ReportRow) -> pb.InfractionReport:
    """CloseInfractionReport with the analysis waiting in ``pending``."""
    pending = row.pending or {}
    request = pb.CloseInfractionReportRequest(
        **_ours(row),
        analysis_result=pending.get("analysis_result") or "",
        analysis_details=pending.get("analysis_details") or "",
        fraud_type=pending.get("fraud_type") or "",
    )
    return client().close_infraction_report(request).report


def _cancel(row: ReportRow) -> pb.InfractionReport:
    request = pb.CancelInfractionReportRequest(**_ours(row))
    return client().cancel_infraction_report(request).report


def _update(row: ReportRow) -> pb.InfractionReport:
    """UpdateInfractionReport with the new values waiting in ``pending``."""
    pending = row.pending or {}
    request = pb.UpdateInfractionReportRequest(
        **_ours(row),
        situation_type=pending["situation_type"],
        contact_information=pb.ContactInformation(
            email=pending["contact_email"], phone=pending["contact_phone"]
        ),
        report_details=pending.get("report_details") or "",
    )
    return client().update_infraction_report(request).report


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def acknowledge_infraction_report(report_id: str) -> None:
    """Counterparty: AcknowledgeInfractionReport, at once after the poll learned it."""
    REPORT.call(report_id, "acknowledging", _acknowledge, refused="acknowledge_refused")


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def close_infraction_report(report_id: str) -> None:
    """Counterparty: CloseInfractionReport with the analysis waiting in ``pending``."""
    REPORT.call(report_id, "closing", _close, refused="close_refused")


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def update_infraction_report(report_id: str) -> None:
    """Reporter: UpdateInfractionReport with the situation, contact and details waiting
    in ``pending`` (while the report is OPEN or ACKNOWLEDGED)."""
    REPORT.call(report_id, "updating", _update, refused="update_refused", done="updated")


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def cancel_infraction_report(report_id: str) -> None:
    """Reporter: CancelInfractionReport (allowed even after the report was closed)."""
    REPORT.call(report_id, "cancelling", _cancel, refused="cancel_refused")


# ---------------------------------------------------------------------- deadlines


@dramatiq.actor(queue_name="default")
def infraction_deadline(report_id: str, deadline: str) -> None:
    """Counterparty: day 5 warns (``infractions.deadline_approaching``), day 7 reports the
    miss (``infractions.deadline_missed``), unless the report was closed or cancelled
    meanwhile (its timers are cancelled then; this checks again)."""
    with outbox.step(actor="deadline") as s:
        row = reports.get(s.conn, report_id)
        if row is None or row.role != "COUNTERPARTY" or row.due_at is None:
            return
        if row.status in ("closed", "cancelled"):
            return
        payload = InfractionDeadline(
            report_id=report_id,
            dict_id=row.dict_id,
            status=row.status,
            due_at=row.due_at.isoformat(),
        )
        s.add([_deadline_event(deadline, payload)])


def _deadline_event(deadline: str, payload: InfractionDeadline) -> outbox.Effect:
    subject = machine.subject(payload.report_id)
    if deadline == "approaching":
        return outbox.event("infractions.deadline_approaching", payload, subject=subject)
    return outbox.event("infractions.deadline_missed", payload, subject=subject)


# ---------------------------------------------------------------------- the poll


@dramatiq.actor(
    queue_name="poll", periodic=cron("* * * * *"), max_retries=0, time_limit=POLL_TIME_LIMIT_MS
)
def poll_infractions() -> None:
    """Every minute: learn the reports against us, and what happened to ours."""
    if claim_slot("poll_infractions", cron_slot()):
        poll()


def poll() -> int:
    """One pass over each role's list, from its cursor, then the reports against us
    left open; returns the reports applied."""
    applied = sum(listing.poll(_listing(role)) for role in ROLES)
    acknowledge_left_open()
    return applied


LEFT_OPEN_AFTER = timedelta(minutes=2)
LEFT_OPEN_PER_POLL = 50


def acknowledge_left_open() -> int:
    """Ask again for the acknowledgement of reports against us still OPEN: one the DICT
    refused went back to ``open``, and the list may not show it again. Returns how many."""
    with outbox.step(actor="poller") as s:
        rows = reports.left_open(s.conn, s.now - LEFT_OPEN_AFTER, LEFT_OPEN_PER_POLL)
        for row in rows:
            machine.request(s, row.id, "acknowledge")
    return len(rows)


def _listing(role: str) -> Listing[pb.InfractionReport, ReportRow]:
    return listing.of_role(
        "infraction_reports",
        role,
        _fetch,
        reports.lock_many,
        _apply_one,
        read_report,
        FIRST_LOOK_BACK,
    )


def _apply_one(role: str, s: outbox.Step, item: pb.InfractionReport, row: ReportRow | None) -> None:
    """Bring a report we hold level with the DICT, record one new to us, or attach our
    own report whose create answer was lost."""
    fields = dict_fields(item)
    if row is not None:
        machine.observe(s, row, item.status, fields)
        if row.role == "COUNTERPARTY" and REPORT.locked(s, row.id).status == "open":
            machine.request(s, row.id, "acknowledge")  # an earlier acknowledgement failed
    elif role == "COUNTERPARTY":
        machine.learn(s, learned_fields(item, role), item.status.lower())
    else:
        ours = reports.submitting_for(s.conn, item.transaction_id, item.reason)
        if ours is not None and item.status != "CANCELLED":
            REPORT.settle(s, ours, item, "submitted")
        elif ours is None:
            log.info("infraction report %s names us as reporter; no report of ours", item.id)
