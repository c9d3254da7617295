"""cron_runs: a duplicate or late periodiq tick finds its slot taken."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actors.spine import claim_slot


def test_a_slot_runs_once(database_url: str) -> None:
    slot = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert claim_slot("verify_sync", slot) is True
    assert claim_slot("verify_sync", slot) is False  # the duplicate tick
    assert claim_slot("relay", slot) is True  # another job, same minute
    assert claim_slot("verify_sync", slot.replace(hour=4)) is True  # the next slot


def test_maintenance_prunes_old_finished_rows_only(database_url: str, redis_url: str) -> None:
    from datetime import timedelta

    from actors.spine import maintenance
    from app import clock, db, outbox

    with outbox.step() as s:
        s.add([outbox.task("probe", n=1), outbox.task("probe", n=2), outbox.task("probe", n=3)])
    old, recent, running = (d.id for d in s.dispatches)
    outbox.finish(old)
    outbox.finish(recent)
    with db.pool().connection() as conn:
        conn.execute(
            "UPDATE outbox SET finished_at = %s WHERE id = %s",
            (clock.now() - timedelta(days=8), old),
        )
    maintenance.fn()
    with db.pool().connection() as conn:
        left = [r["id"] for r in conn.execute("SELECT id FROM outbox ORDER BY id")]
    assert left == [recent, running]


def test_outbox_retention_days_sets_what_maintenance_keeps(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from actors.spine import maintenance
    from app import clock, db, outbox, settings

    monkeypatch.setenv("OUTBOX_RETENTION_DAYS", "30")
    settings.reset()
    with outbox.step() as s:
        s.add([outbox.task("probe", n=n) for n in range(3)])
    ids = [d.id for d in s.dispatches]
    for i, age in zip(ids, (31, 29, 8), strict=True):
        outbox.finish(i)
        with db.pool().connection() as conn:
            conn.execute(
                "UPDATE outbox SET finished_at = %s WHERE id = %s",
                (clock.now() - timedelta(days=age), i),
            )
    maintenance.fn()
    with db.pool().connection() as conn:
        left = [r["id"] for r in conn.execute("SELECT id FROM outbox ORDER BY id")]
    assert left == ids[1:]  # 29 and 8 days old are kept at 30; the default 7 keeps neither


def test_the_prune_deletes_a_slice_per_transaction(database_url: str, redis_url: str) -> None:
    from datetime import timedelta

    from app import clock, db, outbox

    with outbox.step() as s:
        s.add([outbox.task("probe", n=n) for n in range(7)])
    ids = [d.id for d in s.dispatches]
    for i in ids[:6]:
        outbox.finish(i)
    with db.pool().connection() as conn:
        conn.execute(
            "UPDATE outbox SET finished_at = %s WHERE id = ANY(%s) AND id <> %s",
            (clock.now() - timedelta(days=8), ids[:6], ids[3]),
        )
    assert outbox.prune(clock.now() - timedelta(days=7), slice_rows=2) == 5
    with db.pool().connection() as conn:
        left = [r["id"] for r in conn.execute("SELECT id FROM outbox ORDER BY id")]
    assert left == [ids[3], ids[6]]  # finished too recently; not finished
