"""The rate-limit poll's pure parts (actors/rate_limits.py): when a cron tick reads, and
how the DICT's answer becomes readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.rate_limits import _readings, due
from app.bridge import dict_bridge_pb2 as pb

SLOT = datetime(2026, 12, 3, 12, 5, tzinfo=UTC)


def test_a_tick_reads_once_the_interval_has_passed_since_the_last_readings_minute() -> None:
    assert due(SLOT, None, 60)  # never read
    assert due(SLOT, SLOT - timedelta(seconds=1), 60)  # 12:04:59, read late in its minute
    assert not due(SLOT, SLOT + timedelta(seconds=3), 60)  # read in this very minute
    assert not due(SLOT, SLOT - timedelta(minutes=4), 300)
    assert due(SLOT, SLOT - timedelta(minutes=5) + timedelta(seconds=40), 300)
    assert due(SLOT, SLOT - timedelta(minutes=1), 30)  # below a minute: every tick


def test_the_answer_becomes_one_reading_per_policy_sorted_by_name() -> None:
    states = [
        pb.BucketState(
            name="POLICIES_LIST",
            available_tokens=19,
            capacity=20,
            refill_tokens=6,
            refill_period_sec=60,
        ),
        pb.BucketState(
            name="ENTRIES_READ_PARTICIPANT_ANTISCAN",
            available_tokens=-3,
            capacity=250,
            refill_tokens=25,
            refill_period_sec=60,
        ),
        pb.BucketState(name="BROKEN", capacity=0, refill_period_sec=60),
        pb.BucketState(
            name="NEW_POLICY", available_tokens=1, capacity=2, refill_tokens=1, refill_period_sec=60
        ),
        pb.BucketState(
            name="POLICIES_LIST",
            available_tokens=18,
            capacity=20,
            refill_tokens=6,
            refill_period_sec=60,
        ),
    ]
    found = _readings(states, "G")
    assert [r.name for r in found] == [
        "ENTRIES_READ_PARTICIPANT_ANTISCAN",
        "NEW_POLICY",
        "POLICIES_LIST",
    ]
    antiscan, new, listing = found
    assert (antiscan.category, antiscan.scope, antiscan.available_tokens) == ("G", "PSP", -3)
    assert (new.category, new.scope) == (None, "PSP")
    assert (listing.category, listing.available_tokens, listing.refill_tokens) == (None, 18, 6)
