"""``event_log`` (``sql/queries/event_log.sql``): every event for core banking, by id.

An event's outbox row marks it pending in the change's transaction; publication
(``actors/spine.py``, ``publish_events``) logs what is pending, each event taking its id
then, and pushes the log to Redis. Only one process publishes at a time (``try_lock``),
so ids become visible in the order they are given: a reader of ``after`` never misses an
event that commits late (``sql/migrations/0020_event_log.sql`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from app import db
from app.repo import many, one, run

PUBLICATION_LOCK = 0x0D1CE7E7
"""The session advisory lock key publication holds (``migrate`` holds 0x0D1C7C07)."""


class EventRow(msgspec.Struct, frozen=True):
    """An event as ``GET /v1/events`` shows it."""

    id: int
    topic: str
    occurred_at: datetime
    payload: dict[str, Any]


class Outgoing(msgspec.Struct, frozen=True):
    """An event on its way to the Redis streams, with the id pushed just before it."""

    id: int
    topic: str
    payload: dict[str, Any]
    occurred_at: datetime
    previous_id: int


def try_lock(conn: db.Conn) -> bool:
    """Take the publication lock for this session; False when another holds it."""
    row = conn.execute(db.q("event_log.try_lock"), {"key": PUBLICATION_LOCK}).fetchone()
    return bool(row and row["locked"])


def unlock(conn: db.Conn) -> None:
    conn.execute(db.q("event_log.unlock"), {"key": PUBLICATION_LOCK})


def append(conn: db.Conn, now: datetime, limit: int) -> int:
    """Log up to ``limit`` pending events (hold the lock: ``try_lock``); how many."""
    row = conn.execute(db.q("event_log.append"), {"now": now, "limit": limit}).fetchone()
    return int(row["moved"]) if row else 0


def unpushed(conn: db.Conn, limit: int) -> list[Outgoing]:
    return many(conn, "event_log.unpushed", {"limit": limit}, Outgoing)


def mark_pushed(conn: db.Conn, through: int, now: datetime) -> None:
    run(conn, "event_log.mark_pushed", {"id": through, "now": now})


def waiting(conn: db.Conn) -> bool:
    """Is there an event to log or to push?"""
    row = conn.execute(db.q("event_log.waiting")).fetchone()
    return bool(row and row["waiting"])


@dataclass(frozen=True)
class Lag:
    """Publication's backlog: events not yet logged, logged and not yet pushed, and
    when the oldest of them was committed."""

    unlogged: int
    unpushed: int
    oldest: datetime | None


def lag(conn: db.Conn) -> Lag:
    found = one(conn, "event_log.lag", {}, Lag)
    assert found is not None  # an aggregate always answers one row
    return found


def after(conn: db.Conn, after_id: int, limit: int) -> list[EventRow]:
    return many(conn, "event_log.after", {"after": after_id, "limit": limit}, EventRow)


def pruned_through(conn: db.Conn) -> int:
    row = conn.execute(db.q("event_log.pruned_through")).fetchone()
    return int(row["pruned_through"]) if row else 0


def prune(conn: db.Conn, before: datetime) -> int:
    """Remove the events logged before ``before``; how many went."""
    row = conn.execute(db.q("event_log.prune"), {"before": before}).fetchone()
    return int(row["pruned"]) if row else 0
