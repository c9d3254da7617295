"""cron_runs: a duplicate or late periodiq tick finds its slot taken."""

from __future__ import annotations

from datetime import UTC, datetime

from actors.spine import claim_slot


def test_a_slot_runs_once(database_url: str) -> None:
    slot = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert claim_slot("verify_sync", slot) is True
    assert claim_slot("verify_sync", slot) is False  # the duplicate tick
    assert claim_slot("relay", slot) is True  # another job, same minute
    assert claim_slot("verify_sync", slot.replace(hour=4)) is True  # the next slot
