"""The outbox's finished rows move into ``outbox_archive`` after OUTBOX_RETENTION_DAYS, into
their month's partition, an event without its payload; a dead letter stays for its
operator. The daily maintenance keeps the archive's partitions: this month and the next 3
ready, a month dropped whole once it ended OUTBOX_ARCHIVE_MONTHS ago (clock moved)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import clock, db, events, outbox, settings
from app.repo import event_log
from tests.integration.partitions import attached

NOW = datetime(2031, 1, 15, 4, 17, tzinfo=UTC)


def maintain(at: datetime) -> None:
    from actors.spine import maintenance

    with clock.freeze(at):
        maintenance.fn()


def partitions() -> list[str]:
    return attached("outbox_archive")


def archived() -> list[tuple[str, int, str, str | None, dict[str, Any]]]:
    with db.pool().connection() as conn:
        return [
            (r["part"], r["id"], r["status"], r["subject"], r["args"])
            for r in conn.execute(
                "SELECT tableoid::regclass::text AS part, id, status, subject, args"
                " FROM outbox_archive ORDER BY id"
            )
        ]


def live() -> list[int]:
    with db.pool().connection() as conn:
        return [r["id"] for r in conn.execute("SELECT id FROM outbox ORDER BY id")]


def finished_on(at: datetime) -> tuple[int, int, int, int]:
    """A task, an event, a dead letter and a cancelled timer, finished at ``at``."""
    entry_id = str(uuid.uuid4())
    payload = events.EntryEvent(entry_id=entry_id, key_type="EVP", key=entry_id, status="active")
    with clock.freeze(at):
        with db.pool().connection() as conn:
            before = conn.execute("SELECT coalesce(max(id), 0) AS id FROM outbox").fetchone()
        with outbox.step() as s:
            s.add(
                [
                    outbox.task("probe", subject=f"entry:{entry_id}", n=1),
                    outbox.event("entries.created", payload, subject=f"entry:{entry_id}"),
                    outbox.task("probe", n=2),
                    outbox.timer("probe", at + timedelta(days=30), dedupe_key=f"t:{entry_id}"),
                ]
            )
        with db.pool().connection() as conn:
            written = conn.execute(
                "SELECT id FROM outbox WHERE id > %s ORDER BY id", (before["id"],)
            )
            task, event, dead, timer = (r["id"] for r in written)
        outbox.finish(task)
        outbox.finish(event)
        outbox.finish(dead, failed=True, error="retries ran out")
        with outbox.step() as s:
            s.add([outbox.cancel_timer(f"t:{entry_id}")])
        with db.pool().connection() as conn:
            event_log.append(conn, clock.now(), 100)  # the event is logged: it may leave
    return task, event, dead, timer


def test_finished_rows_move_into_their_month_and_leave_with_it(
    database_url: str, redis_url: str
) -> None:
    task, event, dead, timer = finished_on(NOW - timedelta(days=10))
    recent = finished_on(NOW - timedelta(days=6))
    maintain(NOW)

    assert live() == sorted([dead, *recent])  # 6 days old, and a dead letter
    rows = archived()
    assert [(part, i, status) for part, i, status, _, _ in rows] == [
        ("outbox_archive_y2031m01", task, "done"),
        ("outbox_archive_y2031m01", event, "done"),
        ("outbox_archive_y2031m01", timer, "cancelled"),
    ]
    assert rows[0][4] == {"n": 1} and rows[0][3] and rows[0][3].startswith("entry:")
    assert rows[1][4] == {"topic": "entries.created"}  # the payload is not archived
    assert partitions() == [
        "outbox_archive_default",
        "outbox_archive_y2031m01",
        "outbox_archive_y2031m02",
        "outbox_archive_y2031m03",
        "outbox_archive_y2031m04",
    ]

    maintain(NOW + timedelta(days=31))  # a month on: the recent rows left, May made ready
    assert live() == [dead, recent[2]]  # the dead letters
    assert len(archived()) == 6
    assert partitions()[-1] == "outbox_archive_y2031m05"

    maintain(datetime(2031, 5, 1, 4, 17, tzinfo=UTC))  # January ended 3 months ago
    assert "outbox_archive_y2031m01" not in partitions()
    assert archived() == []
    assert live() == [dead, recent[2]]


def test_the_archive_months_are_a_setting(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished_on(NOW - timedelta(days=10))
    maintain(NOW)
    assert len(archived()) == 3
    monkeypatch.setenv("OUTBOX_ARCHIVE_MONTHS", "1")
    settings.reset()
    maintain(datetime(2031, 3, 2, 4, 17, tzinfo=UTC))  # January ended a month ago
    assert archived() == []
    assert "outbox_archive_y2031m02" in partitions()


def test_rows_archived_before_their_month_has_a_partition_wait_in_the_default(
    database_url: str, redis_url: str
) -> None:
    task = finished_on(NOW - timedelta(days=400))[0]  # 2029-12: before any maintenance
    outbox.prune(NOW - timedelta(days=7))
    assert archived()[0][:2] == ("outbox_archive_default", task)
    maintain(NOW)  # its month ended more than 3 months ago: deleted with the default's old rows
    assert archived() == []
