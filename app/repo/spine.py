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


def claim_cron_slot(conn: db.Conn, job: str, slot: datetime, now: datetime) -> bool:
    """Take ``(job, slot)``; False when a duplicate tick already took it."""
    params = {"job": job, "slot": slot, "now": now}
    return conn.execute(db.q("spine.claim_cron_slot"), params).fetchone() is not None
