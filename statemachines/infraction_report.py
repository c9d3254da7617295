"""The infraction report machine (MED, DICT.md §5), declared, and the steps that move it:
one machine for both roles.

Statuses are the DICT's (lowercase) plus our calls in flight (submitting, acknowledging,
closing, cancelling). As reporter we open a report and may cancel it at any time, even
after its close; as counterparty the poll learns a report, acknowledges it at once, and
our analyst closes it within 7 days of its creation (``app.domain.infractions.deadline``):
timers warn at day 5 and report the miss at day 7 (``actors/infractions.py``).

    reporter:     submitting -> open ... acknowledged ... closed    (the other side moves it)
                      |           `--------------`-------------`--> cancelling -> cancelled
                   rejected
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
from statemachines.core import Spec, Subject, T, Transition

log = logging.getLogger(__name__)

MACHINE = "infraction_report"
CANCELLABLE = ("open", "acknowledged", "closed")
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
                situation_type=row.situation_type,
                reporter_participant=row.reporter_participant,
                counterparty_participant=row.counterparty_participant,
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
) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    """The event, and the deadline timers cancelled: nothing is owed any more."""
    return lambda s, ctx: [announce(s, ctx), *_cancel_timers(s, ctx)]


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
            effects=_ended(event("infractions.closed")),
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
        # CANCELLED is final in the DICT: even a call of ours in flight is moot.
        T(
            "cancelled",
            ("open", "acknowledging", "acknowledged", "closing", "closed", "cancelling"),
            "cancelled",
            effects=_ended(event("infractions.cancelled")),
        ),
    ),
)

# How our record catches up with a status the DICT reports, by our status then the
# DICT's: the triggers to fire in order; () nothing now (the list lags behind us, or a
# call of ours is in flight and its answer settles it); None an anomaly (the DICT says
# something our record can never reach: logged, left for an operator).
Triggers = tuple[str, ...] | None
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
    "cancelled": {s: None for s in ("OPEN", "ACKNOWLEDGED", "CLOSED")},
    "rejected": {s: None for s in ("OPEN", "ACKNOWLEDGED", "CLOSED", "CANCELLED")},
}


def catch_up(status: str, dict_status: str) -> Triggers:
    """The triggers that bring a report in ``status`` level with ``dict_status``."""
    return CATCH_UP.get(status, {}).get(dict_status, ())


# ---------------------------------------------------------------------- the steps


def fire(
    step: Step,
    report_id: Any,
    trigger: str,
    *,
    reason: str | None = None,
    pending: Mapping[str, Any] | None = None,
    problem: tuple[str, str] | None = None,
    **dict_fields: Any,
) -> Transition:
    """``core.fire`` on the report machine, with what the DICT said (``DICT_FIELDS``),
    the call now in flight (``pending``) and the DICT's last refusal (``problem``)."""
    params = core.dict_params(DICT_FIELDS, dict_fields, pending, problem)
    return core.fire(step, SPEC, report_id, trigger, reason=reason, params=params)


def new_row(now: datetime, fields: Mapping[str, Any], status: str) -> ReportRow:
    """A report to insert in ``status``: its id and RequestId are drawn here."""
    return ReportRow(
        **fields,
        id=uuid.uuid4(),
        status=status,
        request_id=uuid.uuid4(),
        inserted_at=now,
        updated_at=now,
    )


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


def request(step: Step, report_id: Any, operation: str, **arguments: Any) -> Transition:
    """Ask for acknowledge, close or cancel: the call leaves with the row, its
    arguments and the status it left waiting in ``pending``."""
    row = reports.get(step.conn, report_id)
    pending = {"from": row.status if row else None, **arguments}
    return fire(step, report_id, operation, pending=pending)


def observe(
    step: Step,
    row: ReportRow,
    dict_status: str,
    dict_fields: Mapping[str, Any],
) -> tuple[str, ...]:
    """Bring our record level with what the DICT just said; returns the triggers fired.

    An item older than what we saw already (the list repeats and lags) changes nothing.
    A close the DICT reports while ours was in flight keeps the fraud type we sent (the
    DICT's report does not carry it).
    """
    seen, said = row.dict_last_modified, dict_fields.get("dict_last_modified")
    if seen and said and said < seen:
        return ()
    triggers = catch_up(row.status, dict_status)
    if triggers is None:
        log.warning(
            "infraction report %s: we hold %s but the DICT says %s", row.id, row.status, dict_status
        )
        return ()
    if not triggers:
        reports.seen(step.conn, row.id, step.now, dict_fields)
        return ()
    fields = {**dict_fields, "fraud_type": (row.pending or {}).get("fraud_type")}
    for trigger in triggers:
        fire(step, row.id, trigger, **fields)
    return triggers
