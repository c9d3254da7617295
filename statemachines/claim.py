"""The claim machine, declared: portability and ownership, as claimer and as donor.

Statuses are the DICT's (lowercase) plus our calls in flight (submitting, confirming,
completing, cancelling). The steps that move a claim are ``statemachines.claim_steps``.

Where a claim's deadlines are decided: ``app.domain.claims`` (``_DUTIES``: what each
role owes at ResolutionPeriodEnd, CompletionPeriodEnd and day 30); here they become
outbox timers when a claim reaches the status a deadline watches (``deadline_timers``);
``actors/claim_deadlines.py`` acts when a timer fires.

    submitting -> open -> waiting_resolution -> confirmed -> completed
         |          |  \\         |    \\           |   \\
      rejected      |   `-------|-----`--> cancelling -> cancelled
                    `----- (learned from the DICT: acknowledged / confirmed / cancelled)

What the DICT reports always wins: ``CATCH_UP`` says, for each of our statuses and
each DICT status, which triggers bring our record level with the DICT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from app import outbox
from app.domain import claims as rules
from app.events import ClaimEvent
from app.outbox import Effect
from app.repo.claims import DICT_FIELDS, ClaimRow
from statemachines.core import Spec, Subject, T

MACHINE = "claim"
STABLE = ("open", "waiting_resolution", "confirmed")
IN_FLIGHT = ("confirming", "completing", "cancelling")
TERMINAL = ("rejected", "completed", "cancelled")
DICT_STATUS = {
    "open": "OPEN",
    "waiting_resolution": "WAITING_RESOLUTION",
    "confirmed": "CONFIRMED",
    "completed": "COMPLETED",
    "cancelled": "CANCELLED",
    "confirming": "WAITING_RESOLUTION",
    "cancelling": None,
    "completing": "CONFIRMED",
    "submitting": None,
    "rejected": None,
}
DEADLINES = ("ResolutionPeriodEnd", "CompletionPeriodEnd", "Day30Limit")


def subject(claim_id: Any) -> str:
    return f"claim:{claim_id}"


def periods(row: ClaimRow) -> rules.ClaimPeriods | None:
    """The claim's instants from what the DICT sent (None before it said anything).

    The DICT sends no creation date: every instant follows from its ResolutionPeriodEnd
    and, for OWNERSHIP, its CompletionPeriodEnd (``ClaimPeriods.from_dict``).
    """
    if row.resolution_period_end is None:
        return None
    return rules.ClaimPeriods.from_dict(
        row.type, row.resolution_period_end, row.completion_period_end
    )


def duties(row: ClaimRow) -> list[rules.Deadline]:
    """What our role owes on this claim, and when, in time order."""
    found = periods(row)
    if found is None:
        return []
    created = rules.created_from_resolution_end(found.resolution_end)
    return rules.deadlines(row.type, row.role, created, periods=found)


def deadline_timers(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
    """A timer for each deadline our role owes an action at, in the status it watches
    (with the periods the DICT just sent, if it sent any)."""
    said = {k: v for k, v in ctx.items() if k in DICT_FIELDS and v is not None}
    row = msgspec.structs.replace(s.row, **said) if said else s.row
    status = DICT_STATUS[s.state]
    return [
        outbox.timer(
            "claim_deadline",
            d.at,
            dedupe_key=f"claim:{s.id}:{d.name}",
            subject=subject(s.id),
            claim_id=s.id,
            deadline=d.name,
        )
        for d in duties(row)
        if status in d.statuses
    ]


def _cancel_timers(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
    return [outbox.cancel_timer(f"claim:{s.id}:{name}") for name in DEADLINES]


def event(topic: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    def build(s: Subject, ctx: Mapping[str, Any]) -> Effect:
        row = s.row
        return outbox.event(
            topic,
            ClaimEvent(
                claim_id=s.id,
                dict_id=ctx.get("dict_id") or row.dict_id,
                role=row.role,
                type=row.type,
                key=row.key,
                key_type=row.key_type,
                status=s.state,
            ),
            subject=subject(s.id),
        )

    return build


def _effects(*builders: Callable[[Subject, Mapping[str, Any]], Any]) -> Callable[..., list[Effect]]:
    """Combine builders that return one effect, a list, or None."""

    def build(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
        out: list[Effect] = []
        for b in builders:
            made = b(s, ctx)
            out.extend(made if isinstance(made, list) else [made] if made else [])
        return out

    return build


def _call(actor: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    return lambda s, ctx: outbox.task(actor, subject=subject(s.id), claim_id=s.id)


def _pending_from(status: str) -> Callable[[Subject, Mapping[str, Any]], bool]:
    """Guard: the refused call was made from ``status`` (a refusal goes back there)."""
    return lambda s, ctx: (s.row.pending or {}).get("from") == status


_ended = _effects(_cancel_timers)

SPEC = Spec(
    table="claims",
    row=ClaimRow,
    name=MACHINE,
    states=(
        "submitting",
        "rejected",
        "open",
        "waiting_resolution",
        "confirming",
        "confirmed",
        "completing",
        "cancelling",
        "completed",
        "cancelled",
    ),
    # submitting: our own claim; the others: a claim first learned from the DICT's list.
    initial=("submitting", "open", "waiting_resolution", "confirmed", "completed", "cancelled"),
    terminal=TERMINAL,
    transitions=(
        T("submitted", "submitting", "open", effects=deadline_timers),
        T("submit_refused", "submitting", "rejected", effects=event("claims.rejected")),
        T(
            "acknowledged",
            "open",
            "waiting_resolution",
            effects=_effects(event("claims.acknowledged"), deadline_timers),
        ),
        T("confirm", "waiting_resolution", "confirming", effects=_call("confirm_claim")),
        T("confirm_refused", "confirming", "waiting_resolution"),
        T(
            "confirmed",
            ("confirming", "waiting_resolution", "open"),
            "confirmed",
            effects=_effects(event("claims.confirmed"), _cancel_timers, deadline_timers),
        ),
        T("complete", "confirmed", "completing", effects=_call("complete_claim")),
        T("complete_refused", "completing", "confirmed"),
        # COMPLETED is final in the DICT: reached from wherever we were (see CATCH_UP).
        T(
            "completed",
            ("completing", "confirmed", "cancelling"),
            "completed",
            effects=_effects(event("claims.completed"), _ended),
        ),
        T("cancel", STABLE, "cancelling", effects=_call("cancel_claim")),
        *(
            T("cancel_refused", "cancelling", back, guards=(_pending_from(back),))
            for back in STABLE
        ),
        # CANCELLED is final in the DICT: even a call of ours in flight is moot.
        T(
            "cancelled",
            ("cancelling", *STABLE, "confirming", "completing"),
            "cancelled",
            effects=_effects(event("claims.cancelled"), _ended),
        ),
    ),
)

# How our record catches up with a status the DICT reports, by our status then the
# DICT's: the triggers to fire in order; () nothing now (the DICT's list lags behind
# us, or a call of ours is in flight and its answer settles it: the DICT's status is
# kept in ``dict_status`` and applied when the call ends); None an anomaly (the DICT
# says something our record can never reach: alerted, left for an operator).
Triggers = tuple[str, ...] | None
_TO_CONFIRMED = ("confirmed",)
_TO_COMPLETED = ("confirmed", "completed")
CATCH_UP: dict[str, dict[str, Triggers]] = {
    "submitting": {},  # the CreateClaim answer (or its adoption by the poller) decides
    "open": {
        "WAITING_RESOLUTION": ("acknowledged",),
        "CONFIRMED": _TO_CONFIRMED,
        "COMPLETED": _TO_COMPLETED,
        "CANCELLED": ("cancelled",),
    },
    "waiting_resolution": {
        "CONFIRMED": _TO_CONFIRMED,
        "COMPLETED": _TO_COMPLETED,
        "CANCELLED": ("cancelled",),
    },
    "confirming": {
        "CONFIRMED": _TO_CONFIRMED,
        "COMPLETED": _TO_COMPLETED,
        "CANCELLED": ("cancelled",),
    },
    "confirmed": {"COMPLETED": ("completed",), "CANCELLED": ("cancelled",)},
    "completing": {"COMPLETED": ("completed",), "CANCELLED": ("cancelled",)},
    "cancelling": {"COMPLETED": ("completed",), "CANCELLED": ("cancelled",)},
    "completed": {"CANCELLED": None},
    "cancelled": {"COMPLETED": None},
    "rejected": {s: None for s in ("OPEN", "WAITING_RESOLUTION", "CONFIRMED")},
}


def catch_up(status: str, dict_status: str) -> Triggers:
    """The triggers that bring a claim in ``status`` level with ``dict_status``."""
    return CATCH_UP.get(status, {}).get(dict_status, ())
