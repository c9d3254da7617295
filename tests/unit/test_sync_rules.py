"""When a key type is verified, and which side moves for each divergence (app/domain/sync.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.domain.sync import MAX_GAP, Action, Ours, Schedule, Side, decide, shard_range

SP = ZoneInfo("America/Sao_Paulo")
PLAN = Schedule(
    at=time(3, 0), tz=SP, catch_up_after=timedelta(hours=24), retry_gap=timedelta(hours=1)
)


def sp(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SP)


def test_the_daily_slot_is_03_00_sao_paulo_not_utc() -> None:
    assert PLAN.slot(sp(3, 2, 59)) == sp(2, 3)
    assert PLAN.slot(sp(3, 3, 0)) == sp(3, 3)
    assert PLAN.slot(sp(3, 3, 0)).astimezone(UTC).hour == 6  # UTC-3


def test_a_run_is_due_at_the_slot_once() -> None:
    before = sp(3, 2, 59)
    assert PLAN.due(before, last_started=sp(2, 3), last_ok=sp(2, 3, 1)) is None
    assert PLAN.due(sp(3, 3), last_started=sp(2, 3), last_ok=sp(2, 3, 1)) == "scheduled"
    assert PLAN.due(sp(3, 3, 5), last_started=sp(3, 3), last_ok=sp(3, 3, 1)) is None


def test_a_key_type_never_verified_is_due_at_once() -> None:
    assert PLAN.due(sp(3, 14), last_started=None, last_ok=None) == "scheduled"


def test_after_downtime_a_stale_key_type_catches_up_at_once_not_at_the_next_slot() -> None:
    # verified at 03:00 on the 1st, down until 14:00 on the 2nd: the 03:00 slot of the 2nd
    # was missed; the run starts at 14:00, long before 36 h have passed.
    now = sp(2, 14)
    assert PLAN.due(now, last_started=sp(1, 3), last_ok=sp(1, 3, 1)) == "scheduled"
    assert now - sp(1, 3, 1) < MAX_GAP


def test_a_failing_key_type_is_retried_no_more_than_the_retry_gap() -> None:
    # today's run started at 03:00 and failed: last OK is 2 days old
    last_ok = sp(1, 3)
    assert PLAN.due(sp(3, 3, 30), last_started=sp(3, 3), last_ok=last_ok) is None
    assert PLAN.due(sp(3, 4, 0), last_started=sp(3, 3), last_ok=last_ok) == "catch_up"


def test_a_recent_ok_needs_no_catch_up() -> None:
    assert PLAN.due(sp(3, 20), last_started=sp(3, 3), last_ok=sp(3, 3, 1)) is None


def test_the_sixteen_ranges_cover_every_cid_once() -> None:
    ranges = [shard_range(s) for s in range(16)]
    for cid in ("0" * 64, "9" + "f" * 63, "a" + "0" * 63, "f" * 64):
        assert sum(lo <= cid < hi for lo, hi in ranges) == 1


ACTIVE = Ours(status="active", cid="c1")


@pytest.mark.parametrize(
    ("side", "in_dict", "ours", "action"),
    [
        # only in the DICT's file or events
        (Side.DICT_ONLY, False, None, Action.RESOLVED),  # the DICT dropped it since
        (Side.DICT_ONLY, True, None, Action.INSERT),  # a key only the DICT has
        (Side.DICT_ONLY, True, Ours("active", "c0"), Action.UPDATE),  # both, other values
        (Side.DICT_ONLY, True, Ours("active", "c1"), Action.RESOLVED),  # we caught up
        (Side.DICT_ONLY, True, Ours("registering", None), Action.IN_FLIGHT),
        (Side.DICT_ONLY, True, Ours("updating", "c0"), Action.IN_FLIGHT),
        # only among our CIDs
        (Side.OURS_ONLY, False, ACTIVE, Action.REMOVE),  # a key only we have
        (Side.OURS_ONLY, True, ACTIVE, Action.RESOLVED),  # the DICT has it now
        (Side.OURS_ONLY, False, Ours("active", "c2"), Action.RESOLVED),  # ours changed since
        (Side.OURS_ONLY, False, None, Action.RESOLVED),  # ours left since
        (Side.OURS_ONLY, False, Ours("deleting", "c1"), Action.IN_FLIGHT),
    ],
)
def test_our_base_moves_to_the_dicts_state(
    side: Side, in_dict: bool, ours: Ours | None, action: Action
) -> None:
    assert decide(side, "c1", in_dict, ours) is action
