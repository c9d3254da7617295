"""A subject's history as the API shows it: its ``state_history`` rows, oldest first."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app import db
from app.repo import spine


class Change(msgspec.Struct):
    from_status: str | None
    to_status: str
    trigger: str
    reason: str | None
    actor: str
    at: datetime


def history(conn: db.Conn, machine: str, subject_id: str) -> list[Change]:
    return [
        Change(h.from_status, h.to_status, h.trigger, h.reason, h.actor, h.at)
        for h in spine.history(conn, machine, subject_id)
    ]
