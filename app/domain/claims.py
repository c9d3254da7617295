"""Claim rules (DICT.md §2): the periods, what each role owes at each deadline, and
which reasons each call accepts.

The DICT makes no automatic transitions: every move is a PSP's call, and a PSP that
misses a deadline breaks the rules. So the deadlines are data our claim machine
schedules timers from, and the same tables tell the simulator what to refuse.

Instants: a period "has ended" at its end instant (``now >= end``), which is when the
DICT stops answering ``ClaimResolutionPeriodNotEnded`` / ``ClaimCompletionPeriodNotEnded``.
Periods are 7×24 h from creation, as in the spec's example (DICT.md open question 4).

The DICT's claim record has **no creation date**: what it sends is ``ResolutionPeriodEnd``
(always) and ``CompletionPeriodEnd`` (OWNERSHIP). ``ClaimPeriods.from_dict`` builds every
instant from those: creation = ResolutionPeriodEnd − 7 days, day 30 = ResolutionPeriodEnd
+ 23 days (DICT.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "COMPLETION_PERIOD",
    "DAY30_PERIOD",
    "RESOLUTION_PERIOD",
    "ClaimPeriods",
    "ClaimReason",
    "ClaimRole",
    "ClaimStatus",
    "ClaimType",
    "Deadline",
    "Operation",
    "allowed_cancel_reasons",
    "allowed_confirm_reasons",
    "completion_allowed",
    "completion_period_end",
    "completion_period_end_after_confirm",
    "created_from_resolution_end",
    "day30_limit",
    "deadlines",
    "may_call",
    "resolution_period_end",
    "resulting_status",
]


class ClaimType(StrEnum):
    PORTABILITY = "PORTABILITY"  # same owner, new PSP
    OWNERSHIP = "OWNERSHIP"  # new owner


class ClaimStatus(StrEnum):
    OPEN = "OPEN"  # created by the claimer, not yet acknowledged by the donor
    WAITING_RESOLUTION = "WAITING_RESOLUTION"  # the donor acknowledged
    CONFIRMED = "CONFIRMED"  # the donor confirmed: the key left the donor
    CANCELLED = "CANCELLED"  # terminal
    COMPLETED = "COMPLETED"  # terminal: the claimer's entry exists


class ClaimRole(StrEnum):
    CLAIMER = "CLAIMER"
    DONOR = "DONOR"


class ClaimReason(StrEnum):
    USER_REQUESTED = "USER_REQUESTED"
    ACCOUNT_CLOSURE = "ACCOUNT_CLOSURE"
    FRAUD = "FRAUD"
    DEFAULT_OPERATION = "DEFAULT_OPERATION"  # the PSP acts because its user did not
    RECONCILIATION = "RECONCILIATION"
    RFB_VALIDATION = "RFB_VALIDATION"  # v2


class Operation(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    CONFIRM = "confirm"
    CANCEL = "cancel"
    COMPLETE = "complete"


# Durations (DICT.md §2 "Timers"). Module constants so a deployment or test can change them.
RESOLUTION_PERIOD = timedelta(days=7)  # from creation, not from acknowledge
COMPLETION_PERIOD = timedelta(days=7)  # OWNERSHIP: starts when the resolution period ends
DAY30_PERIOD = timedelta(days=30)  # OWNERSHIP: the claimer's possession-validation limit

_R, _S = ClaimReason, ClaimStatus


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("claim instants must be aware datetimes")
    return at


def resolution_period_end(created_at: datetime) -> datetime:
    """``ResolutionPeriodEnd``: creation + 7 days, for both claim types."""
    return _aware(created_at) + RESOLUTION_PERIOD


def completion_period_end(claim_type: str, created_at: datetime) -> datetime | None:
    """``CompletionPeriodEnd``: OWNERSHIP only, 7 days after the resolution period ends."""
    if claim_type != ClaimType.OWNERSHIP:
        return None
    return resolution_period_end(created_at) + COMPLETION_PERIOD


def completion_period_end_after_confirm(
    claim_type: str, created_at: datetime, confirmed_at: datetime, reason: str
) -> datetime | None:
    """``CompletionPeriodEnd`` once the donor confirmed.

    A USER_REQUESTED confirm of an OWNERSHIP claim brings it forward to the confirm
    instant: the old owner agreed, so the claimer may complete at once.
    """
    normal = completion_period_end(claim_type, created_at)
    if normal is not None and reason == ClaimReason.USER_REQUESTED:
        return min(_aware(confirmed_at), normal)
    return normal


def day30_limit(created_at: datetime) -> datetime:
    """Creation + 30 days: an OWNERSHIP claimer whose user has not proved possession cancels."""
    return _aware(created_at) + DAY30_PERIOD


def created_from_resolution_end(resolution_end: datetime) -> datetime:
    """The claim's creation instant, which the DICT never sends: ResolutionPeriodEnd − 7 days."""
    return _aware(resolution_end) - RESOLUTION_PERIOD


@dataclass(frozen=True, slots=True)
class ClaimPeriods:
    """The instants the rules turn on. Build from the DICT's values when it sent them."""

    resolution_end: datetime
    completion_end: datetime | None  # None for PORTABILITY
    day30_limit: datetime

    @classmethod
    def of(cls, claim_type: str, created_at: datetime) -> ClaimPeriods:
        return cls(
            resolution_period_end(created_at),
            completion_period_end(claim_type, created_at),
            day30_limit(created_at),
        )

    @classmethod
    def from_dict(
        cls, claim_type: str, resolution_end: datetime, completion_end: datetime | None
    ) -> ClaimPeriods:
        """The instants from what the DICT sends: its ``ResolutionPeriodEnd`` and, for
        OWNERSHIP, its ``CompletionPeriodEnd`` (computed if absent); day 30 from creation."""
        created = created_from_resolution_end(resolution_end)
        if completion_end is None:
            completion_end = completion_period_end(claim_type, created)
        return cls(resolution_end, completion_end, day30_limit(created))

    def after_confirm(self, reason: str, confirmed_at: datetime) -> ClaimPeriods:
        """The periods once confirmed (see ``completion_period_end_after_confirm``)."""
        if self.completion_end is None or reason != ClaimReason.USER_REQUESTED:
            return self
        return replace(self, completion_end=min(_aware(confirmed_at), self.completion_end))


# --- deadlines -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deadline:
    """At ``at``, our role must call ``action`` (with ``reason``) if the claim is still in
    one of ``statuses`` and ``condition`` holds (a fact only our side knows)."""

    at: datetime
    name: str
    action: Operation
    reason: ClaimReason | None
    statuses: frozenset[ClaimStatus]
    condition: str = ""


_PERIOD_ATTRS = {
    "ResolutionPeriodEnd": "resolution_end",
    "CompletionPeriodEnd": "completion_end",
    "Day30Limit": "day30_limit",
}


@dataclass(frozen=True, slots=True)
class _Duty:
    period: str  # a Deadline name, and the ClaimPeriods field it falls on
    action: Operation
    reason: ClaimReason | None
    statuses: frozenset[ClaimStatus]
    condition: str = ""


_WAITING = frozenset({ClaimStatus.WAITING_RESOLUTION})

# (type, role) -> what that role owes at each deadline (DICT.md §2 "Timers — exact rules").
_DUTIES: dict[tuple[str, str], tuple[_Duty, ...]] = {
    # The user neither confirmed nor cancelled in 7 days: the donor must cancel at once.
    (ClaimType.PORTABILITY, ClaimRole.DONOR): (
        _Duty("ResolutionPeriodEnd", Operation.CANCEL, _R.DEFAULT_OPERATION, _WAITING),
    ),
    # Nothing timed: the claimer completes as soon as it sees CONFIRMED.
    (ClaimType.PORTABILITY, ClaimRole.CLAIMER): (),
    # The old owner was silent: the donor must confirm once the period has passed.
    (ClaimType.OWNERSHIP, ClaimRole.DONOR): (
        _Duty("ResolutionPeriodEnd", Operation.CONFIRM, _R.DEFAULT_OPERATION, _WAITING),
    ),
    # After the completion period the claimer completes once its user proved possession;
    # at day 30 without that proof it must cancel, which frees the key.
    (ClaimType.OWNERSHIP, ClaimRole.CLAIMER): (
        _Duty(
            "CompletionPeriodEnd",
            Operation.COMPLETE,
            None,
            frozenset({_S.CONFIRMED}),
            condition="possession_validated",
        ),
        _Duty(
            "Day30Limit",
            Operation.CANCEL,
            _R.DEFAULT_OPERATION,
            frozenset({_S.OPEN, _S.WAITING_RESOLUTION, _S.CONFIRMED}),
            condition="possession_not_validated",
        ),
    ),
}


def deadlines(
    claim_type: str,
    role: str,
    created_at: datetime,
    *,
    periods: ClaimPeriods | None = None,
) -> list[Deadline]:
    """What ``role`` owes, and when, on a claim created at ``created_at``, in time order.

    Pass ``periods`` to use the DICT's own instants (e.g. a ``CompletionPeriodEnd``
    brought forward by a USER_REQUESTED confirm) instead of computing them.
    """
    periods = periods or ClaimPeriods.of(claim_type, created_at)
    found = []
    for d in _DUTIES[(claim_type, role)]:
        at = getattr(periods, _PERIOD_ATTRS[d.period])
        if at is not None:
            found.append(Deadline(at, d.period, d.action, d.reason, d.statuses, d.condition))
    return sorted(found, key=lambda d: d.at)


# --- who may call what -----------------------------------------------------------------

# (role, operation) -> the statuses the call moves a claim out of (DICT.md §2 "Transitions").
# Cancel is the union over claim types; ``allowed_cancel_reasons`` is exact per type.
_CALLS: dict[tuple[str, str], frozenset[ClaimStatus]] = {
    (ClaimRole.DONOR, Operation.ACKNOWLEDGE): frozenset({_S.OPEN}),
    (ClaimRole.DONOR, Operation.CONFIRM): frozenset({_S.WAITING_RESOLUTION}),
    (ClaimRole.DONOR, Operation.CANCEL): frozenset({_S.OPEN, _S.WAITING_RESOLUTION, _S.CONFIRMED}),
    (ClaimRole.CLAIMER, Operation.CANCEL): frozenset(
        {_S.OPEN, _S.WAITING_RESOLUTION, _S.CONFIRMED}
    ),
    (ClaimRole.CLAIMER, Operation.COMPLETE): frozenset({_S.CONFIRMED}),
}

_RESULTS: dict[str, ClaimStatus] = {
    Operation.ACKNOWLEDGE: _S.WAITING_RESOLUTION,
    Operation.CONFIRM: _S.CONFIRMED,
    Operation.CANCEL: _S.CANCELLED,
    Operation.COMPLETE: _S.COMPLETED,
}


def may_call(role: str, operation: str, status: str) -> bool:
    """Whether ``role`` may make ``operation`` move a claim out of ``status``.

    A repeat of a call that already succeeded (same parameters) is not a transition:
    the DICT answers it with the original result, so callers check that first.
    """
    return status in _CALLS.get((role, operation), frozenset())


def resulting_status(operation: str) -> ClaimStatus:
    """The status a successful ``operation`` leaves the claim in."""
    return _RESULTS[operation]


def completion_allowed(claim_type: str, now: datetime, periods: ClaimPeriods) -> bool:
    """OWNERSHIP completes only once ``CompletionPeriodEnd`` has passed; PORTABILITY at once."""
    if claim_type != ClaimType.OWNERSHIP or periods.completion_end is None:
        return True
    return now >= periods.completion_end


# --- reasons ---------------------------------------------------------------------------

_ALL_OPEN = (_S.OPEN, _S.WAITING_RESOLUTION, _S.CONFIRMED)
_OWNERSHIP_CLAIMER = frozenset(
    {_R.USER_REQUESTED, _R.ACCOUNT_CLOSURE, _R.FRAUD, _R.DEFAULT_OPERATION}
)

# (type, role) -> {status: reasons}. DICT.md §2 "Transitions", POST /claims/{id}/cancel.
_CANCEL: dict[tuple[str, str], dict[str, frozenset[ClaimReason]]] = {
    # v2.6.1 cancelClaim: a portability is cancelled while OPEN or WAITING_RESOLUTION,
    # by the donor too (the claim need not have been acknowledged yet).
    (ClaimType.PORTABILITY, ClaimRole.DONOR): {
        s: frozenset({_R.USER_REQUESTED, _R.FRAUD, _R.DEFAULT_OPERATION})
        for s in (_S.OPEN, _S.WAITING_RESOLUTION)
    },
    (ClaimType.PORTABILITY, ClaimRole.CLAIMER): {
        _S.OPEN: frozenset(
            {_R.USER_REQUESTED, _R.ACCOUNT_CLOSURE, _R.FRAUD, _R.RECONCILIATION, _R.RFB_VALIDATION}
        ),
        # v2: no RECONCILIATION while the donor is deciding
        _S.WAITING_RESOLUTION: frozenset(
            {_R.USER_REQUESTED, _R.ACCOUNT_CLOSURE, _R.FRAUD, _R.RFB_VALIDATION}
        ),
        # v2: a confirmed portability is undone only for fraud or data errors
        _S.CONFIRMED: frozenset({_R.FRAUD, _R.RECONCILIATION, _R.RFB_VALIDATION}),
    },
    (ClaimType.OWNERSHIP, ClaimRole.CLAIMER): {s: _OWNERSHIP_CLAIMER for s in _ALL_OPEN},
    # The old owner proved possession: before confirming, or in the completion period.
    (ClaimType.OWNERSHIP, ClaimRole.DONOR): {s: frozenset({_R.FRAUD}) for s in _ALL_OPEN},
}

# Reasons allowed only once a period has ended: (type, role, reason) -> ClaimPeriods field.
_CANCEL_NOT_BEFORE: dict[tuple[str, str, str], str] = {
    (ClaimType.PORTABILITY, ClaimRole.DONOR, _R.DEFAULT_OPERATION): "resolution_end",
    (ClaimType.OWNERSHIP, ClaimRole.CLAIMER, _R.DEFAULT_OPERATION): "day30_limit",
}

# Cancels allowed only until a period ends: (type, role, status) -> ClaimPeriods field.
# The old owner may prove possession during the completion period (days 8-14), not after.
_CANCEL_UNTIL: dict[tuple[str, str, str], str] = {
    (ClaimType.OWNERSHIP, ClaimRole.DONOR, _S.CONFIRMED): "completion_end",
}


def allowed_cancel_reasons(
    claim_type: str, role: str, status: str, now: datetime, periods: ClaimPeriods
) -> frozenset[ClaimReason]:
    """The reasons ``role`` may cancel with now; empty if it may not cancel at all."""
    reasons = _CANCEL.get((claim_type, role), {}).get(status, frozenset())
    until = _CANCEL_UNTIL.get((claim_type, role, status))
    if until is not None:
        end = getattr(periods, until)
        if end is not None and now >= end:
            return frozenset()
    return frozenset(
        r
        for r in reasons
        if (field := _CANCEL_NOT_BEFORE.get((claim_type, role, r))) is None
        or now >= getattr(periods, field)
    )


_CONFIRM: dict[str, frozenset[ClaimReason]] = {
    ClaimType.PORTABILITY: frozenset({_R.USER_REQUESTED, _R.ACCOUNT_CLOSURE}),
    ClaimType.OWNERSHIP: frozenset({_R.USER_REQUESTED, _R.DEFAULT_OPERATION}),
}
_CONFIRM_NOT_BEFORE_RESOLUTION_END = frozenset({(ClaimType.OWNERSHIP, _R.DEFAULT_OPERATION)})


def allowed_confirm_reasons(
    claim_type: str, now: datetime, resolution_end: datetime
) -> frozenset[ClaimReason]:
    """The reasons the donor may confirm with now (the claim must be WAITING_RESOLUTION).

    OWNERSHIP: USER_REQUESTED at any time, DEFAULT_OPERATION (a silent old owner) only
    once ``ResolutionPeriodEnd`` has passed. PORTABILITY: USER_REQUESTED, ACCOUNT_CLOSURE.
    """
    return frozenset(
        r
        for r in _CONFIRM.get(claim_type, frozenset())
        if (claim_type, r) not in _CONFIRM_NOT_BEFORE_RESOLUTION_END or now >= resolution_end
    )
