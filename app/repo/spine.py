"""The spine's own tables (``sql/queries/spine.sql``): ``state_history`` and ``cron_runs``."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app import db
from app.repo import many


class Change(msgspec.Struct, frozen=True):
    """One row of ``state_history``: a subject's status change, by whom and why."""

    from_status: str | None
    to_status: str
    trigger: str
    reason: str | None
    actor: str
    at: datetime


def history(conn: db.Conn, machine: str, subject_id: str) -> list[Change]:
    return many(conn, "spine.history", {"machine": machine, "subject_id": subject_id}, Change)


class Partition(msgspec.Struct, frozen=True):
    action: str
    """created, dropped, or for state_history archived (detached into the schema
    archive) and dropped (from the archive)."""
    partition_name: str


PARTITIONS_AHEAD = 3
"""Months of partitions made ready after the current one, for every table partitioned by
month (history, bucket readings, outbox archive; the maintenance cron is daily)."""


def keep_history_partitions(
    conn: db.Conn,
    now: datetime,
    retention_months: int,
    archive_months: int,
    ahead: int = PARTITIONS_AHEAD,
) -> list[Partition]:
    """The maintenance step (``actors.spine.maintenance``): the partitions of ``now``'s
    month, of ``ahead`` more and of the months waiting in the default partition; those
    wholly older than ``retention_months`` into the schema archive, archived ones older
    by ``archive_months`` more dropped (0: never). Idempotent, and safe with two callers
    (``history_partitions()``, migration 0022); returns what it did."""
    params = {
        "now": now,
        "ahead": ahead,
        "retention_months": retention_months,
        "archive_months": archive_months,
    }
    return many(conn, "spine.history_partitions", params, Partition)


def claim_cron_slot(conn: db.Conn, job: str, slot: datetime, now: datetime) -> bool:
    """Take ``(job, slot)``; False when a duplicate tick already took it."""
    params = {"job": job, "slot": slot, "now": now}
    return conn.execute(db.q("spine.claim_cron_slot"), params).fetchone() is not None
