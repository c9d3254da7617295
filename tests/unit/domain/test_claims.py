"""Claim periods, deadlines and the reason tables (DICT.md §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain import claims
from app.domain.claims import (
    ClaimPeriods,
    ClaimReason,
    ClaimRole,
    ClaimStatus,
    ClaimType,
    Deadline,
    Operation,
    allowed_cancel_reasons,
    allowed_confirm_reasons,
    completion_allowed,
    completion_period_end,
    completion_period_end_after_confirm,
    day30_limit,
    deadlines,
    may_call,
    resolution_period_end,
    resulting_status,
)

CREATED = datetime(2020, 1, 10, 10, tzinfo=UTC)  # the spec's CreateClaimResponse example
RESOLUTION_END = datetime(2020, 1, 17, 10, tzinfo=UTC)
COMPLETION_END = datetime(2020, 1, 24, 10, tzinfo=UTC)
DAY30 = datetime(2020, 2, 9, 10, tzinfo=UTC)
SECOND = timedelta(seconds=1)

PORTABILITY, OWNERSHIP = ClaimType.PORTABILITY, ClaimType.OWNERSHIP
CLAIMER, DONOR = ClaimRole.CLAIMER, ClaimRole.DONOR
OPEN, WAITING, CONFIRMED = ClaimStatus.OPEN, ClaimStatus.WAITING_RESOLUTION, ClaimStatus.CONFIRMED
CANCELLED, COMPLETED = ClaimStatus.CANCELLED, ClaimStatus.COMPLETED
USER, CLOSURE, FRAUD = "USER_REQUESTED", "ACCOUNT_CLOSURE", "FRAUD"
DEFAULT, RECONCILIATION, RFB = "DEFAULT_OPERATION", "RECONCILIATION", "RFB_VALIDATION"


# --- periods ----------------------------------------------------------------------------


def test_the_official_resolution_period_example() -> None:
    assert resolution_period_end(CREATED) == RESOLUTION_END


def test_ownership_completion_starts_when_resolution_ends() -> None:
    assert completion_period_end(OWNERSHIP, CREATED) == COMPLETION_END
    assert completion_period_end(PORTABILITY, CREATED) is None


def test_the_day_30_limit_counts_from_creation() -> None:
    assert day30_limit(CREATED) == DAY30


def test_a_user_requested_ownership_confirm_brings_completion_forward() -> None:
    confirmed = datetime(2020, 1, 12, 8, tzinfo=UTC)
    assert completion_period_end_after_confirm(OWNERSHIP, CREATED, confirmed, USER) == confirmed
    late = RESOLUTION_END + timedelta(minutes=5)
    assert completion_period_end_after_confirm(OWNERSHIP, CREATED, late, DEFAULT) == COMPLETION_END
    assert completion_period_end_after_confirm(PORTABILITY, CREATED, confirmed, USER) is None


def test_periods_after_confirm() -> None:
    periods = ClaimPeriods.of(OWNERSHIP, CREATED)
    assert periods == ClaimPeriods(RESOLUTION_END, COMPLETION_END, DAY30)
    confirmed = datetime(2020, 1, 12, 8, tzinfo=UTC)
    assert periods.after_confirm(USER, confirmed).completion_end == confirmed
    assert periods.after_confirm(DEFAULT, RESOLUTION_END).completion_end == COMPLETION_END
    portability = ClaimPeriods.of(PORTABILITY, CREATED)
    assert portability.after_confirm(USER, confirmed) == portability


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        resolution_period_end(datetime(2020, 1, 10, 10))  # noqa: DTZ001


def test_durations_are_configurable(monkeypatch) -> None:
    monkeypatch.setattr(claims, "RESOLUTION_PERIOD", timedelta(hours=1))
    monkeypatch.setattr(claims, "COMPLETION_PERIOD", timedelta(hours=2))
    monkeypatch.setattr(claims, "DAY30_PERIOD", timedelta(hours=5))
    assert resolution_period_end(CREATED) == CREATED + timedelta(hours=1)
    assert completion_period_end(OWNERSHIP, CREATED) == CREATED + timedelta(hours=3)
    assert day30_limit(CREATED) == CREATED + timedelta(hours=5)


# --- deadlines --------------------------------------------------------------------------


def test_the_portability_donor_cancels_when_resolution_ends() -> None:
    assert deadlines(PORTABILITY, DONOR, CREATED) == [
        Deadline(
            RESOLUTION_END,
            "ResolutionPeriodEnd",
            Operation.CANCEL,
            ClaimReason.DEFAULT_OPERATION,
            frozenset({WAITING}),
        )
    ]


def test_the_portability_claimer_has_nothing_timed() -> None:
    assert deadlines(PORTABILITY, CLAIMER, CREATED) == []


def test_the_ownership_donor_confirms_when_resolution_ends() -> None:
    assert deadlines(OWNERSHIP, DONOR, CREATED) == [
        Deadline(
            RESOLUTION_END,
            "ResolutionPeriodEnd",
            Operation.CONFIRM,
            ClaimReason.DEFAULT_OPERATION,
            frozenset({WAITING}),
        )
    ]


def test_the_ownership_claimer_completes_then_gives_up_at_day_30() -> None:
    assert deadlines(OWNERSHIP, CLAIMER, CREATED) == [
        Deadline(
            COMPLETION_END,
            "CompletionPeriodEnd",
            Operation.COMPLETE,
            None,
            frozenset({CONFIRMED}),
            "possession_validated",
        ),
        Deadline(
            DAY30,
            "Day30Limit",
            Operation.CANCEL,
            ClaimReason.DEFAULT_OPERATION,
            frozenset({OPEN, WAITING, CONFIRMED}),
            "possession_not_validated",
        ),
    ]


def test_deadlines_follow_the_dicts_own_instants() -> None:
    confirmed = datetime(2020, 1, 12, 8, tzinfo=UTC)
    periods = ClaimPeriods.of(OWNERSHIP, CREATED).after_confirm(USER, confirmed)
    found = deadlines(OWNERSHIP, CLAIMER, CREATED, periods=periods)
    assert [(d.name, d.at) for d in found] == [
        ("CompletionPeriodEnd", confirmed),
        ("Day30Limit", DAY30),
    ]


# --- who may call what ------------------------------------------------------------------

ALLOWED_CALLS = {
    (DONOR, Operation.ACKNOWLEDGE, OPEN),
    (DONOR, Operation.CONFIRM, WAITING),
    (DONOR, Operation.CANCEL, OPEN),  # v2.6.1: before acknowledging too
    (DONOR, Operation.CANCEL, WAITING),
    (DONOR, Operation.CANCEL, CONFIRMED),
    (CLAIMER, Operation.CANCEL, OPEN),
    (CLAIMER, Operation.CANCEL, WAITING),
    (CLAIMER, Operation.CANCEL, CONFIRMED),
    (CLAIMER, Operation.COMPLETE, CONFIRMED),
}


@pytest.mark.parametrize("status", list(ClaimStatus))
@pytest.mark.parametrize("operation", list(Operation))
@pytest.mark.parametrize("role", list(ClaimRole))
def test_who_may_call_what(role, operation, status) -> None:
    assert may_call(role, operation, status) is ((role, operation, status) in ALLOWED_CALLS)


def test_terminal_statuses_accept_no_call() -> None:
    for role in ClaimRole:
        for operation in Operation:
            assert not may_call(role, operation, CANCELLED)
            assert not may_call(role, operation, COMPLETED)


def test_each_call_leads_to_its_status() -> None:
    assert resulting_status("acknowledge") == WAITING
    assert resulting_status("confirm") == CONFIRMED
    assert resulting_status("cancel") == CANCELLED
    assert resulting_status("complete") == COMPLETED


def test_ownership_completes_only_after_the_completion_period() -> None:
    periods = ClaimPeriods.of(OWNERSHIP, CREATED)
    assert not completion_allowed(OWNERSHIP, COMPLETION_END - SECOND, periods)
    assert completion_allowed(OWNERSHIP, COMPLETION_END, periods)
    assert completion_allowed(PORTABILITY, CREATED, ClaimPeriods.of(PORTABILITY, CREATED))


# --- cancel reasons ---------------------------------------------------------------------

BEFORE_RESOLUTION_END = RESOLUTION_END - SECOND
BEFORE_COMPLETION_END = COMPLETION_END - SECOND
BEFORE_DAY30 = DAY30 - SECOND


@pytest.mark.parametrize(
    ("claim_type", "role", "status", "now", "reasons"),
    [
        # PORTABILITY, donor: DEFAULT_OPERATION only once the resolution period has ended
        (PORTABILITY, DONOR, WAITING, CREATED, {USER, FRAUD}),
        (PORTABILITY, DONOR, WAITING, BEFORE_RESOLUTION_END, {USER, FRAUD}),
        (PORTABILITY, DONOR, WAITING, RESOLUTION_END, {USER, FRAUD, DEFAULT}),
        (PORTABILITY, DONOR, OPEN, CREATED, {USER, FRAUD}),  # v2.6.1: OPEN too
        (PORTABILITY, DONOR, OPEN, RESOLUTION_END, {USER, FRAUD, DEFAULT}),
        (PORTABILITY, DONOR, CONFIRMED, RESOLUTION_END, set()),
        # PORTABILITY, claimer: v2 rules for WAITING_RESOLUTION and CONFIRMED
        (PORTABILITY, CLAIMER, OPEN, CREATED, {USER, CLOSURE, FRAUD, RECONCILIATION, RFB}),
        (PORTABILITY, CLAIMER, WAITING, CREATED, {USER, CLOSURE, FRAUD, RFB}),
        (PORTABILITY, CLAIMER, WAITING, DAY30, {USER, CLOSURE, FRAUD, RFB}),
        (PORTABILITY, CLAIMER, CONFIRMED, CREATED, {FRAUD, RECONCILIATION, RFB}),
        # OWNERSHIP, claimer: DEFAULT_OPERATION only from the day-30 limit
        (OWNERSHIP, CLAIMER, OPEN, CREATED, {USER, CLOSURE, FRAUD}),
        (OWNERSHIP, CLAIMER, WAITING, RESOLUTION_END, {USER, CLOSURE, FRAUD}),
        (OWNERSHIP, CLAIMER, CONFIRMED, BEFORE_DAY30, {USER, CLOSURE, FRAUD}),
        (OWNERSHIP, CLAIMER, CONFIRMED, DAY30, {USER, CLOSURE, FRAUD, DEFAULT}),
        (OWNERSHIP, CLAIMER, WAITING, DAY30, {USER, CLOSURE, FRAUD, DEFAULT}),
        # OWNERSHIP, donor: FRAUD only (OPEN too), until the completion period ends
        (OWNERSHIP, DONOR, WAITING, CREATED, {FRAUD}),
        (OWNERSHIP, DONOR, WAITING, DAY30, {FRAUD}),
        (OWNERSHIP, DONOR, CONFIRMED, BEFORE_COMPLETION_END, {FRAUD}),
        (OWNERSHIP, DONOR, CONFIRMED, COMPLETION_END, set()),
        (OWNERSHIP, DONOR, OPEN, CREATED, {FRAUD}),
    ],
)
def test_cancel_reasons(claim_type, role, status, now, reasons) -> None:
    periods = ClaimPeriods.of(claim_type, CREATED)
    assert allowed_cancel_reasons(claim_type, role, status, now, periods) == reasons


@pytest.mark.parametrize("status", [CANCELLED, COMPLETED])
@pytest.mark.parametrize("role", list(ClaimRole))
@pytest.mark.parametrize("claim_type", list(ClaimType))
def test_a_finished_claim_cannot_be_cancelled(claim_type, role, status) -> None:
    periods = ClaimPeriods.of(claim_type, CREATED)
    assert allowed_cancel_reasons(claim_type, role, status, DAY30, periods) == set()


def test_a_user_requested_confirm_closes_the_donors_fraud_window() -> None:
    confirmed = datetime(2020, 1, 12, 8, tzinfo=UTC)
    periods = ClaimPeriods.of(OWNERSHIP, CREATED).after_confirm(USER, confirmed)
    assert allowed_cancel_reasons(OWNERSHIP, DONOR, CONFIRMED, confirmed, periods) == set()


# --- confirm reasons --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim_type", "now", "reasons"),
    [
        (OWNERSHIP, CREATED, {USER}),
        (OWNERSHIP, BEFORE_RESOLUTION_END, {USER}),
        (OWNERSHIP, RESOLUTION_END, {USER, DEFAULT}),
        (OWNERSHIP, DAY30, {USER, DEFAULT}),
        (PORTABILITY, CREATED, {USER, CLOSURE}),
        (PORTABILITY, RESOLUTION_END, {USER, CLOSURE}),
        ("UNKNOWN", CREATED, set()),
    ],
)
def test_confirm_reasons(claim_type, now, reasons) -> None:
    assert allowed_confirm_reasons(claim_type, now, RESOLUTION_END) == reasons
