"""Polling state (``sql/queries/polls.sql``): ``poll_cursors``, where each poller resumes,
``claim_poll_failures``, the claims a poll could not apply, and ``poll_failures``, the
items of the MED lists (infraction reports, refunds) a poll could not apply."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from app import db
from app.repo import many, one, run


class Cursor(msgspec.Struct, frozen=True):
    modified_after: datetime


class Failure(msgspec.Struct, frozen=True):
    dict_id: str


class Health(msgspec.Struct, frozen=True):
    """When the claims poll last went through, and what it could not apply."""

    polled_at: datetime | None
    failures: int
    anomalies: int


def cursor(conn: db.Conn, name: str) -> datetime | None:
    found = one(conn, "polls.cursor", {"name": name}, Cursor)
    return found.modified_after if found else None


def save_cursor(conn: db.Conn, name: str, modified_after: datetime, now: datetime) -> None:
    """Move the cursor forward (never back)."""
    params = {"name": name, "modified_after": modified_after, "now": now}
    run(conn, "polls.save_cursor", params)


def polled(conn: db.Conn, name: str, since: datetime, now: datetime) -> None:
    """A poll went through the whole list."""
    run(conn, "polls.polled", {"name": name, "since": since, "now": now})


def health(conn: db.Conn) -> Health:
    found = one(conn, "polls.health", {}, Health)
    assert found is not None  # an aggregate always answers one row
    return found


def try_lock(conn: db.Conn) -> bool:
    """The session lock that keeps one claims poller at a time."""
    row = conn.execute(db.q("polls.try_lock")).fetchone()
    return bool(row and row["locked"])


def unlock(conn: db.Conn) -> None:
    conn.execute(db.q("polls.unlock"))


def failed(conn: db.Conn, dict_id: str, error: str, now: datetime) -> None:
    run(conn, "polls.failed", {"dict_id": dict_id, "error": error, "now": now})


def failures(conn: db.Conn, before: datetime, limit: int) -> list[str]:
    """Claims earlier polls could not apply (not one that failed in this poll)."""
    rows = many(conn, "polls.failures", {"before": before, "limit": limit}, Failure)
    return [r.dict_id for r in rows]


def recovered(conn: db.Conn, dict_ids: Iterable[str]) -> None:
    """Claims applied at last: forget their failure and the anomaly it had set."""
    run(conn, "polls.recovered", {"dict_ids": list(dict_ids)})


def item_failed(conn: db.Conn, poller: str, dict_id: str, error: str, now: datetime) -> None:
    """An item of a MED list ``poller`` could not apply (``poll_failures``)."""
    params = {"poller": poller, "dict_id": dict_id, "error": error[:500], "now": now}
    run(conn, "polls.item_failed", params)


def item_failures(conn: db.Conn, poller: str, before: datetime, limit: int) -> list[str]:
    """Items earlier passes of ``poller`` could not apply."""
    params = {"poller": poller, "before": before, "limit": limit}
    return [r.dict_id for r in many(conn, "polls.item_failures", params, Failure)]


def item_recovered(conn: db.Conn, poller: str, dict_id: str) -> None:
    run(conn, "polls.item_recovered", {"poller": poller, "dict_id": dict_id})
