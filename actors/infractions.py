"""Infraction reports (MED): our calls to the DICT, the counterparty's deadlines, and the
poll that learns what the other side did.

The same rules as claims: re-read, act only in the expected status, no transaction
across the call, apply the answer guarded by the status it expects. A refused call goes
back to the status it left, then the report is read again (GetInfractionReport) and
moved to whatever the DICT holds: the other side may have won a race.

The DICT's CreateInfractionReportRequest has no RequestId, so a repeat after a lost
answer is refused as ``InfractionReportAlreadyExists`` (one live report per transaction
and reason): ``create_infraction_report`` then adopts the report the DICT holds, found by
listing ours as reporter (the poll does the same if it sees the report first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import dramatiq
from periodiq import cron

from actors.claims import CALL_RETRIES
from actors.entries import client
from actors.spine import claim_slot, cron_slot
from app import clock, db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import infractions as rules
from app.domain import problems
from app.events import InfractionDeadline
from app.repo import infraction_reports as reports
from app.repo import polls
from app.repo.infraction_reports import ReportRow
from statemachines import infraction_report as machine
from statemachines.core import IllegalTrigger

log = logging.getLogger(__name__)

ROLES = ("REPORTER", "COUNTERPARTY")
OVERLAP = timedelta(seconds=30)
"""The list lags writes by up to 5 s and repeats items: each poll reads again this much
before its cursor, and items already level are skipped."""
FIRST_LOOK_BACK = timedelta(days=90)
"""The first poll reads this far back (a report is opened within 80 days of its
transaction, and analysed within 7 days)."""
PAGE = 200  # the DICT's Limit is at most 200
MAX_PAGES = 200
ADOPT_LOOK_BACK = timedelta(minutes=5)
"""A lost create answer: the DICT's report was modified at most this long before our row
was inserted (the clocks may disagree by that much)."""
POLL_TIME_LIMIT_MS = 300_000


def _ts(value: Any) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if value.ByteSize() else None


def dict_fields(r: pb.InfractionReport) -> dict[str, Any]:
    """What the DICT says of a report, as the columns of ``infraction_reports``."""
    created = _ts(r.creation_time)
    return {
        "dict_id": r.id,
        "dict_status": r.status,
        "dict_last_modified": _ts(r.last_modified),
        "dict_created_at": created,
        "due_at": rules.deadline(created) if created else None,
        "analysis_result": r.analysis_result or None,
        "analysis_details": r.analysis_details or None,
        "fraud_marker_id": r.fraud_marker_id or None,
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


def _load(report_id: str) -> ReportRow | None:
    with db.pool().connection() as conn:
        return reports.get(conn, report_id)


def _get(s: outbox.Step, report_id: Any) -> ReportRow:
    row = reports.get(s.conn, report_id)
    assert row is not None
    return row


def _apply(report_id: str, change: Callable[[outbox.Step], Any]) -> None:
    """Apply an answer; a concurrent delivery or a poll that got there first is success."""
    try:
        with outbox.step(actor="worker") as s:
            change(s)
    except IllegalTrigger as exc:
        log.info("infraction report %s already moved on (%s)", report_id, exc.current)


def _observe(report_id: str, answer: pb.InfractionReport) -> None:
    fields = dict_fields(answer)
    _apply(report_id, lambda s: machine.observe(s, _get(s, report_id), answer.status, fields))


def _dict_id(row: ReportRow) -> str:
    """The DICT's id of a report past ``submitting`` (a CHECK constraint guarantees it)."""
    if row.dict_id is None:
        raise LookupError(f"infraction report {row.id} has no DICT id yet")
    return row.dict_id


def read_report(dict_id: str) -> pb.InfractionReport:
    """The report as the DICT holds it now."""
    return client().get_infraction_report(pb.GetInfractionReportRequest(id=dict_id)).report


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


@dramatiq.actor(queue_name="dict", **CALL_RETRIES)
def create_infraction_report(report_id: str) -> None:
    """CreateInfractionReport for our report in ``submitting``; a lost answer is
    recovered by listing our reports (the DICT's request has no RequestId)."""
    row = _load(report_id)
    if row is None or row.status != "submitting":
        return
    refusal: problems.DictProblem | None = None
    answer: pb.InfractionReport | None
    try:
        answer = client().create_infraction_report(_create_request(row)).report
    except problems.InfractionReportAlreadyExists as exc:
        answer, refusal = _ours_already(row), exc  # our earlier try's answer was lost
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        answer, refusal = None, exc
    if answer is not None:
        _apply(report_id, partial(_adopt, row=row, answer=answer))
        return
    assert refusal is not None
    problem = (refusal.type, refusal.detail)
    _apply(report_id, lambda s: machine.fire(s, report_id, "submit_refused", problem=problem))


def _adopt(s: outbox.Step, *, row: ReportRow, answer: pb.InfractionReport) -> None:
    """Our report is in the DICT: record its id, then whatever it became since."""
    fields = dict_fields(answer)
    machine.fire(s, row.id, "submitted", **fields)
    machine.observe(s, _get(s, row.id), answer.status, fields)


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
    for page in _pages(role, since):
        yield from page


def _pages(role: str, since: datetime) -> Iterator[list[pb.InfractionReport]]:
    """The DICT's list where we have ``role``, modified since ``since``, page by page
    (ascending LastModified) while it has more."""
    for _ in range(MAX_PAGES):
        page = client().list_infraction_reports(_list_request(role, since))
        if page.reports:
            yield list(page.reports)
        newest = max((_ts(r.last_modified) or since for r in page.reports), default=since)
        if not page.has_more_elements or newest <= since:
            return
        since = newest  # inclusive: the last items come again (the poll dedupes them)


def _list_request(role: str, since: datetime) -> pb.ListInfractionReportsRequest:
    request = pb.ListInfractionReportsRequest(participant=settings.bridge().participant, limit=PAGE)
    if role == "REPORTER":
        request.is_reporter = True
    else:
        request.is_counterparty = True
    request.modified_after.FromDatetime(since)
    return request


# ---------------------------------------------------------------------- our decisions

IN_FLIGHT = {"acknowledge": "acknowledging", "close": "closing", "cancel": "cancelling"}


def _decision_request(operation: str, row: ReportRow) -> Any:
    """The DICT request for our call in flight, with the arguments waiting in ``pending``."""
    ours = {"id": _dict_id(row), "participant": settings.bridge().participant}
    if operation == "acknowledge":
        return pb.AcknowledgeInfractionReportRequest(**ours)
    if operation == "cancel":
        return pb.CancelInfractionReportRequest(**ours)
    pending = row.pending or {}
    return pb.CloseInfractionReportRequest(
        **ours,
        analysis_result=pending.get("analysis_result") or "",
        analysis_details=pending.get("analysis_details") or "",
        fraud_type=pending.get("fraud_type") or "",
    )


def _decision(report_id: str, operation: str) -> None:
    """Make the call waiting in ``acknowledging``/``closing``/``cancelling``; apply the
    DICT's answer, or its refusal. Transport failures, 5xx and rate limits raise:
    Dramatiq retries the same call (the DICT's calls are idempotent)."""
    row = _load(report_id)
    if row is None or row.status != IN_FLIGHT[operation]:
        return
    request = _decision_request(operation, row)
    call = getattr(client(), f"{operation}_infraction_report")
    try:
        answer: pb.InfractionReport = call(request).report
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        _refused(row, f"{operation}_refused", exc)
        return
    _observe(report_id, answer)


def _refused(row: ReportRow, trigger: str, exc: problems.DictProblem) -> None:
    """Go back with the DICT's refusal, then move to what the DICT holds. The report is
    read first: if that fails the actor is retried and nothing changed."""
    fresh = read_report(_dict_id(row))
    fields = dict_fields(fresh)
    report_id = row.id

    def change(s: outbox.Step) -> None:
        machine.fire(s, report_id, trigger, reason=exc.type, problem=(exc.type, exc.detail))
        machine.observe(s, _get(s, report_id), fresh.status, fields)

    _apply(str(report_id), change)


@dramatiq.actor(queue_name="dict", **CALL_RETRIES)
def acknowledge_infraction_report(report_id: str) -> None:
    """Counterparty: AcknowledgeInfractionReport, at once after the poll learned it."""
    _decision(report_id, "acknowledge")


@dramatiq.actor(queue_name="dict", **CALL_RETRIES)
def close_infraction_report(report_id: str) -> None:
    """Counterparty: CloseInfractionReport with the analysis waiting in ``pending``."""
    _decision(report_id, "close")


@dramatiq.actor(queue_name="dict", **CALL_RETRIES)
def cancel_infraction_report(report_id: str) -> None:
    """Reporter: CancelInfractionReport (allowed even after the report was closed)."""
    _decision(report_id, "cancel")


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
    """One pass over each role's list, from its cursor; returns the reports applied."""
    return sum(_poll_role(role) for role in ROLES)


def _modified_us(r: pb.InfractionReport) -> int:
    return int(r.last_modified.ToMicroseconds())


def _cursor_name(role: str) -> str:
    return f"infraction_reports.{role.lower()}"


def _poll_role(role: str) -> int:
    """Each page in its own transaction, its cursor saved with it: a crash loses at
    most a page. A report listed again unchanged (the overlap, the inclusive pages) is
    applied once."""
    name = _cursor_name(role)
    with db.pool().connection() as conn:
        cursor = polls.cursor(conn, name)
    since = cursor - OVERLAP if cursor else clock.now() - FIRST_LOOK_BACK
    applied: dict[str, int] = {}  # DICT id -> the LastModified applied in this pass
    for page in _pages(role, since):
        newest = {  # ascending LastModified: a later item of an id is its newer state
            r.id: r for r in page if applied.get(r.id, -1) < _modified_us(r)
        }
        apply_page(role, page, list(newest.values()))
        applied |= {i: _modified_us(r) for i, r in newest.items()}
    with outbox.step(actor="poller") as s:
        polls.polled(s.conn, name, since, s.now)
    return len(applied)


def apply_page(
    role: str, page: list[pb.InfractionReport], items: list[pb.InfractionReport]
) -> None:
    """Apply ``items`` (the page's reports not applied yet) in one transaction, each in
    a savepoint, and move the cursor to the page's newest: a report that raises is
    logged and skipped, never stops the poll."""
    with outbox.step(actor="poller") as s:
        held = {
            r.dict_id: r for r in reports.lock_many(s.conn, (i.id for i in items)) if r.role == role
        }
        for item in items:
            _isolated(s, item.id, partial(_apply_one, s, role, item, held.get(item.id)))
        last = max(_ts(i.last_modified) or s.now for i in page)
        polls.save_cursor(s.conn, _cursor_name(role), last, s.now)


def _isolated(s: outbox.Step, dict_id: str, work: Callable[[], Any]) -> None:
    """Run ``work`` in a savepoint; if it raises, log it and carry on."""
    dispatches = len(s.dispatches)
    try:
        with s.conn.transaction():
            work()
    except Exception:
        del s.dispatches[dispatches:]  # their rows were rolled back with the savepoint
        log.exception("infraction report %s could not be applied by the poll", dict_id)


def _apply_one(s: outbox.Step, role: str, item: pb.InfractionReport, row: ReportRow | None) -> None:
    """Bring a report we hold level with the DICT, record one new to us, or attach our
    own report whose create answer was lost."""
    fields = dict_fields(item)
    if row is not None:
        machine.observe(s, row, item.status, fields)
        if row.role == "COUNTERPARTY" and _get(s, row.id).status == "open":
            machine.request(s, row.id, "acknowledge")  # an earlier acknowledgement failed
    elif role == "COUNTERPARTY":
        machine.learn(s, learned_fields(item, role), item.status.lower())
    else:
        ours = reports.submitting_for(s.conn, item.transaction_id, item.reason)
        if ours is not None and item.status != "CANCELLED":
            _adopt(s, row=ours, answer=item)
        elif ours is None:
            log.info("infraction report %s names us as reporter; no report of ours", item.id)
