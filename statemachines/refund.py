"""The refund request machine (MED, DICT.md §5), declared, and the steps that move it:
one machine for both roles.

Statuses are the DICT's (lowercase) plus our calls in flight (submitting, closing,
cancelling). As the payer's PSP (REQUESTING) we ask for a refund and may cancel it
while it is OPEN; the other PSP closes it. As the payee's PSP (CONTESTED) the poll
learns a request against us and our analyst closes it before ``due_at``
(``app.domain.refunds.analysis_deadline``): timers warn at 75 % of the time allowed and
report the miss at the deadline (``actors/refunds.py``).

    requesting: submitting -> open ------------------------> closed   (the other side)
                    |          `--> cancelling -> cancelled
                 rejected
    contested:  open -> closing -> closed
                (cancelled whenever the requester cancels)

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
from app.events import RefundEvent
from app.outbox import Effect, Step
from app.repo import refunds
from app.repo.refunds import DICT_FIELDS, RefundRow
from statemachines import core
from statemachines.core import Spec, Subject, T, Triggers

log = logging.getLogger(__name__)

MACHINE = "refund"
TERMINAL = ("rejected", "closed", "cancelled")
DEADLINES = ("approaching", "missed")
"""The contested side's timers: a warning at 75 % of the time allowed, and the deadline."""
WARNING_SHARE = 0.75


def subject(refund_id: Any) -> str:
    return f"refund:{refund_id}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def event(topic: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    """The request as core banking sees it, with what the DICT just said (``ctx``)."""

    def build(s: Subject, ctx: Mapping[str, Any]) -> Effect:
        row: RefundRow = s.row

        def said(name: str) -> Any:
            return ctx.get(name) or getattr(row, name)

        return outbox.event(
            topic,
            RefundEvent(
                refund_id=s.id,
                dict_id=said("dict_id"),
                role=row.role,
                status=s.state,
                transaction_id=row.transaction_id,
                refund_reason=row.refund_reason,
                refund_amount=f"{row.refund_amount:.2f}",
                requesting_participant=row.requesting_participant,
                contested_participant=said("contested_participant"),
                due_at=_iso(said("due_at")),
                analysis_result=said("analysis_result"),
                rejection_reason=said("rejection_reason"),
                refund_transaction_id=said("refund_transaction_id"),
                problem_type=ctx.get("problem_type"),
            ),
            subject=subject(s.id),
        )

    return build


def deadline_timers(row: RefundRow) -> list[Effect]:
    """Contested: the warning and the deadline, from the DICT's creation."""
    if row.role != "CONTESTED" or row.dict_created_at is None or row.due_at is None:
        return []
    at = {
        "approaching": row.dict_created_at + (row.due_at - row.dict_created_at) * WARNING_SHARE,
        "missed": row.due_at,
    }
    return [
        outbox.timer(
            "refund_deadline",
            at[name],
            dedupe_key=f"refund:{row.id}:{name}",
            subject=subject(row.id),
            refund_id=str(row.id),
            deadline=name,
        )
        for name in DEADLINES
    ]


def _ended(
    announce: Callable[[Subject, Mapping[str, Any]], Effect],
) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    """The event, and the deadline timers cancelled: nothing is owed any more."""
    return lambda s, ctx: [
        announce(s, ctx),
        *(outbox.cancel_timer(f"refund:{s.id}:{name}") for name in DEADLINES),
    ]


def _call(actor: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    return lambda s, ctx: outbox.task(actor, subject=subject(s.id), refund_id=s.id)


def _role(role: str) -> Callable[[Subject, Mapping[str, Any]], bool]:
    """Guard: only ``role`` may take this step (the DICT refuses the other)."""
    return lambda s, ctx: bool(s.row.role == role)


SPEC = Spec(
    table="refunds",
    row=RefundRow,
    name=MACHINE,
    states=("submitting", "rejected", "open", "closing", "closed", "cancelling", "cancelled"),
    # submitting: our own request; the others: a request first learned from the DICT's list.
    initial=("submitting", "open", "closed", "cancelled"),
    terminal=TERMINAL,
    transitions=(
        T("submitted", "submitting", "open"),
        T("submit_refused", "submitting", "rejected", effects=event("refunds.rejected")),
        T(
            "close",
            "open",
            "closing",
            guards=(_role("CONTESTED"),),
            effects=_call("close_refund"),
        ),
        T("close_refused", "closing", "open"),
        T(
            "cancel",
            "open",
            "cancelling",
            guards=(_role("REQUESTING"),),
            effects=_call("cancel_refund"),
        ),
        T("cancel_refused", "cancelling", "open"),
        # CLOSED and CANCELLED are final in the DICT: a call of ours in flight is moot.
        T(
            "closed",
            ("open", "closing", "cancelling"),
            "closed",
            effects=_ended(event("refunds.closed")),
        ),
        T(
            "cancelled",
            ("open", "closing", "cancelling"),
            "cancelled",
            effects=_ended(event("refunds.cancelled")),
        ),
    ),
)

# How our record catches up with a status the DICT reports, by our status then the
# DICT's (``core.Triggers``).
_LIVE: dict[str, Triggers] = {"CLOSED": ("closed",), "CANCELLED": ("cancelled",)}
CATCH_UP: dict[str, dict[str, Triggers]] = {
    "submitting": {},  # the create answer (or its recovery by listing) decides
    "open": _LIVE,
    "closing": _LIVE,
    "cancelling": _LIVE,
    "closed": {"CANCELLED": None},
    "cancelled": {"CLOSED": None},
    "rejected": {s: None for s in ("OPEN", "CLOSED", "CANCELLED")},
}

# ---------------------------------------------------------------------- the steps

FOLLOW = core.Follower(
    SPEC, DICT_FIELDS, CATCH_UP, refunds.get, refunds.seen, kept=("refunded_amount",)
)
"""A close the DICT reports while ours was in flight keeps the amount we said went back
(the DICT's request does not carry it)."""
fire, request, observe = FOLLOW.fire, FOLLOW.request, FOLLOW.observe


def new_row(now: datetime, fields: Mapping[str, Any], status: str) -> RefundRow:
    """A request to insert in ``status``: its id and RequestId are drawn here."""
    return core.new_row(RefundRow, now, fields, status, request_id=uuid.uuid4())


def submit(step: Step, fields: Mapping[str, Any]) -> RefundRow | None:
    """Insert our request as submitting and schedule its CreateRefund call; None when
    a request of ours is already in progress on the transaction."""
    step.tag("submit", "USER_REQUESTED")
    rows = refunds.insert(
        step.conn, [new_row(step.now, {**fields, "role": "REQUESTING"}, "submitting")]
    )
    if not rows:
        return None
    row = rows[0]
    step.add([outbox.task("create_refund", subject=subject(row.id), refund_id=str(row.id))])
    return row


def learn(step: Step, fields: Mapping[str, Any], status: str) -> RefundRow | None:
    """Record a request first seen in the DICT's list, in the status it has there. One
    against us gets its ``refunds.received`` event and, while open, its deadline timers.
    None if another poll recorded it first."""
    step.tag("learned", None)
    rows = refunds.insert(step.conn, [new_row(step.now, fields, status)])
    if not rows:
        return None
    row = rows[0]
    if row.role == "CONTESTED":
        step.add([event("refunds.received")(Subject(str(row.id), row.status, row, step.now), {})])
        if row.status == "open":
            step.add(deadline_timers(row))
    return row
