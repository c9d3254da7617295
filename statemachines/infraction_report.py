"""The infraction report machine (MED, DICT.md §5), declared, and the steps that move it:
one machine for both roles.

Statuses are the DICT's (lowercase) plus our calls in flight (submitting, acknowledging,
closing, cancelling, updating). As reporter we open a report and may cancel it at any time, even
after its close; as counterparty the poll learns a report, acknowledges it at once, and
our analyst closes it within 7 days of its creation (``app.domain.infractions.deadline``):
timers warn at day 5 and report the miss at day 7 (``actors/infractions.py``).

    reporter:     submitting -> open ... acknowledged ... closed    (the other side moves it)
                      |           `--------------`-------------`--> cancelling -> cancelled
                   rejected       `--------------`--> updating -> back (situation, contact)
    counterparty: open -> acknowledging -> acknowledged -> closing -> closed
                  (cancelled whenever the reporter cancels)

What the DICT reports always wins: ``CATCH_UP`` says, for each of our statuses and
each DICT status, which triggers bring our record level with the DICT.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from app import outbox
from app.domain import infractions as rules
from app.events import InfractionEvent
from app.outbox import Effect, Step
from app.repo import infraction_reports as reports
from app.repo.infraction_reports import DICT_FIELDS, ReportRow
from statemachines import core
from statemachines.core import Spec, Subject, T, Triggers

log = logging.getLogger(__name__)

MACHINE = "infraction_report"
CANCELLABLE = ("open", "acknowledged", "closed")
UPDATABLE = ("open", "acknowledged")
"""The reporter may change the situation, the contact and the details while the report
is OPEN or ACKNOWLEDGED (updateInfractionReport)."""
TERMINAL = ("rejected", "cancelled")
DEADLINES = ("approaching", "missed")
"""The counterparty's timers: day 5 (a warning) and day 7 (the analysis deadline)."""


def subject(report_id: Any) -> str:
    return f"infraction_report:{report_id}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def event(topic: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    """The report as core banking sees it, with what the DICT just said (``ctx``)."""

    def build(s: Subject, ctx: Mapping[str, Any]) -> Effect:
        row: ReportRow = s.row

        def said(name: str) -> Any:
            return ctx.get(name) or getattr(row, name)

        return outbox.event(
            topic,
            InfractionEvent(
                report_id=s.id,
                dict_id=said("dict_id"),
                role=row.role,
                status=s.state,
                transaction_id=row.transaction_id,
                reason=row.reason,
                situation_type=said("situation_type"),
                reporter_participant=row.reporter_participant,
                counterparty_participant=said("counterparty_participant"),
                due_at=_iso(said("due_at")),
                analysis_result=said("analysis_result"),
                fraud_marker_id=said("fraud_marker_id"),
                problem_type=ctx.get("problem_type"),
            ),
            subject=subject(s.id),
        )

    return build


def deadline_timers(row: ReportRow) -> list[Effect]:
    """Counterparty: the day-5 warning and the day-7 deadline, from the DICT's creation."""
    if row.role != "COUNTERPARTY" or row.dict_created_at is None:
        return []
    at = {
        "approaching": row.dict_created_at + rules.DEADLINE_WARNING,
        "missed": rules.deadline(row.dict_created_at),
    }
    return [
        outbox.timer(
            "infraction_deadline",
            at[name],
            dedupe_key=f"infraction_report:{row.id}:{name}",
            subject=subject(row.id),
            report_id=str(row.id),
            deadline=name,
        )
        for name in DEADLINES
    ]


def _cancel_timers(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
    return [outbox.cancel_timer(f"infraction_report:{s.id}:{name}") for name in DEADLINES]


def _ended(
    announce: Callable[[Subject, Mapping[str, Any]], Effect],
    *also: Callable[[Subject, Mapping[str, Any]], list[Effect]],
) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    """The event, and the deadline timers cancelled: nothing is owed any more; then
    ``also``'s effects."""
    return lambda s, ctx: [
        announce(s, ctx),
        *_cancel_timers(s, ctx),
        *(e for more in also for e in more(s, ctx)),
    ]


def _our_marker(actor: str) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    """Counterparty: the fraud marker our AGREED close created (the DICT reports its id)
    is recorded, or cancelled with the report (``actors/fraud_markers.py``). As reporter
    the marker is the other PSP's: nothing."""

    def build(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
        marker = ctx.get("fraud_marker_id") or s.row.fraud_marker_id
        if s.row.role != "COUNTERPARTY" or not marker:
            return []
        return [outbox.task(actor, subject=subject(s.id), report_id=s.id, dict_id=marker)]

    return build


def _call(actor: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    return lambda s, ctx: outbox.task(actor, subject=subject(s.id), report_id=s.id)


def _role(role: str) -> Callable[[Subject, Mapping[str, Any]], bool]:
    """Guard: only ``role`` may take this step (the DICT refuses the other)."""
    return lambda s, ctx: bool(s.row.role == role)


def _pending_from(status: str) -> Callable[[Subject, Mapping[str, Any]], bool]:
    """Guard: the refused call was made from ``status`` (a refusal goes back there)."""
    return lambda s, ctx: (s.row.pending or {}).get("from") == status


_REPORTER, _COUNTERPARTY = (_role("REPORTER"),), (_role("COUNTERPARTY"),)

SPEC = Spec(
    table="infraction_reports",
    row=ReportRow,
    name=MACHINE,
    states=(
        "submitting",
        "rejected",
        "open",
        "acknowledging",
        "acknowledged",
        "closing",
        "closed",
        "cancelling",
        "cancelled",
        "updating",
    ),
    # submitting: our own report; the others: a report first learned from the DICT's list.
    initial=("submitting", "open", "acknowledged", "closed", "cancelled"),
    terminal=TERMINAL,
    transitions=(
        T("submitted", "submitting", "open"),
        T("submit_refused", "submitting", "rejected", effects=event("infractions.rejected")),
        T(
            "acknowledge",
            "open",
            "acknowledging",
            guards=_COUNTERPARTY,
            effects=_call("acknowledge_infraction_report"),
        ),
        T("acknowledge_refused", "acknowledging", "open"),
        T(
            "acknowledged",
            ("open", "acknowledging"),
            "acknowledged",
            effects=event("infractions.acknowledged"),
        ),
        T(
            "close",
            "acknowledged",
            "closing",
            guards=_COUNTERPARTY,
            effects=_call("close_infraction_report"),
        ),
        T("close_refused", "closing", "acknowledged"),
        T(
            "closed",
            ("acknowledged", "closing"),
            "closed",
            effects=_ended(event("infractions.closed"), _our_marker("record_fraud_marker")),
        ),
        T(
            "cancel",
            CANCELLABLE,
            "cancelling",
            guards=_REPORTER,
            effects=_call("cancel_infraction_report"),
        ),
        *(
            T("cancel_refused", "cancelling", back, guards=(_pending_from(back),))
            for back in CANCELLABLE
        ),
        T(
            "update",
            UPDATABLE,
            "updating",
            guards=_REPORTER,
            effects=_call("update_infraction_report"),
        ),
        *(
            T(
                "updated",
                "updating",
                back,
                guards=(_pending_from(back),),
                effects=event("infractions.updated"),
            )
            for back in UPDATABLE
        ),
        *(
            T("update_refused", "updating", back, guards=(_pending_from(back),))
            for back in UPDATABLE
        ),
        # CANCELLED is final in the DICT: even a call of ours in flight is moot.
        T(
            "cancelled",
            (
                "open",
                "acknowledging",
                "acknowledged",
                "closing",
                "closed",
                "cancelling",
                "updating",
            ),
            "cancelled",
            effects=_ended(event("infractions.cancelled"), _our_marker("report_marker_cancelled")),
        ),
    ),
)

# How our record catches up with a status the DICT reports, by our status then the
# DICT's (``core.Triggers``).
_FROM_OPEN: dict[str, Triggers] = {
    "ACKNOWLEDGED": ("acknowledged",),
    "CLOSED": ("acknowledged", "closed"),
    "CANCELLED": ("cancelled",),
}
_CLOSES: dict[str, Triggers] = {"CLOSED": ("closed",), "CANCELLED": ("cancelled",)}
CATCH_UP: dict[str, dict[str, Triggers]] = {
    "submitting": {},  # the create answer (or its recovery by listing) decides
    "open": _FROM_OPEN,
    "acknowledging": _FROM_OPEN,
    "acknowledged": _CLOSES,
    "closing": _CLOSES,
    "closed": {"CANCELLED": ("cancelled",)},
    "cancelling": {"CANCELLED": ("cancelled",)},
    "updating": {"CANCELLED": ("cancelled",)},  # else the update's answer settles it
    "cancelled": {s: None for s in ("OPEN", "ACKNOWLEDGED", "CLOSED")},
    "rejected": {s: None for s in ("OPEN", "ACKNOWLEDGED", "CLOSED", "CANCELLED")},
}


# ---------------------------------------------------------------------- the steps

FOLLOW = core.Follower(SPEC, DICT_FIELDS, CATCH_UP, reports.get, reports.seen, kept=("fraud_type",))
"""A close the DICT reports while ours was in flight keeps the fraud type we sent (the
DICT's report does not carry it)."""
fire, request, observe, catch_up = FOLLOW.fire, FOLLOW.request, FOLLOW.observe, FOLLOW.triggers


def new_row(now: datetime, fields: Mapping[str, Any], status: str) -> ReportRow:
    """A report to insert in ``status``: its id and RequestId are drawn here."""
    return core.new_row(ReportRow, now, fields, status, request_id=uuid.uuid4())


def submit(step: Step, fields: Mapping[str, Any]) -> ReportRow | None:
    """Insert our report as submitting and schedule its CreateInfractionReport call;
    None when a live report of ours already covers the transaction and reason."""
    step.tag("submit", "USER_REQUESTED")
    rows = reports.insert(
        step.conn, [new_row(step.now, {**fields, "role": "REPORTER"}, "submitting")]
    )
    if not rows:
        return None
    row = rows[0]
    step.add(
        [outbox.task("create_infraction_report", subject=subject(row.id), report_id=str(row.id))]
    )
    return row


def learn(step: Step, fields: Mapping[str, Any], status: str) -> ReportRow | None:
    """Record a report first seen in the DICT's list, in the status it has there. A
    counterparty report gets its ``infractions.received`` event and its deadline timers,
    and is acknowledged at once if still OPEN. None if another poll recorded it first."""
    step.tag("learned", None)
    rows = reports.insert(step.conn, [new_row(step.now, fields, status)])
    if not rows:
        return None
    row = rows[0]
    s = Subject(str(row.id), row.status, row, step.now)
    step.add([event("infractions.received")(s, {})])
    if row.status not in ("closed", "cancelled"):
        step.add(deadline_timers(row))
    if row.status == "open":
        request(step, row.id, "acknowledge")
    return row
