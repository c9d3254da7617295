"""``idempotency_keys`` (``sql/queries/idempotency.sql``): the answers stored for
Idempotency-Key repeats (``app/api/idempotency.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from app import db
from app.repo import one, run


class Stored(msgspec.Struct, frozen=True):
    """A key's row: the request's fingerprint and, once it finished, its answer."""

    body_hash: bytes
    status_code: int | None
    response_headers: dict[str, str] | None
    response_body: bytes | None
    created_at: datetime


Ids = Mapping[str, Any]  # {"api_key_id": ..., "key": ...}


def claim(conn: db.Conn, ids: Ids, method: str, path: str, body_hash: bytes, now: datetime) -> bool:
    """Insert the placeholder: True if this request must execute."""
    params = {**ids, "method": method, "path": path, "body_hash": body_hash, "now": now}
    return conn.execute(db.q("idempotency.claim"), params).fetchone() is not None


def get(conn: db.Conn, ids: Ids) -> Stored | None:
    return one(conn, "idempotency.get", ids, Stored)


def take_over(
    conn: db.Conn, ids: Ids, body_hash: bytes, now: datetime, stale_before: datetime
) -> bool:
    """Take over a placeholder whose request died; True if taken."""
    params = {**ids, "body_hash": body_hash, "now": now, "stale_before": stale_before}
    return conn.execute(db.q("idempotency.take_over"), params).fetchone() is not None


def lock(conn: db.Conn, ids: Ids, token: datetime) -> bool:
    """Lock the placeholder in the work's transaction; False if another request took
    the key over (``token``: the ``created_at`` its holder wrote)."""
    params = {**ids, "token": token}
    return conn.execute(db.q("idempotency.lock"), params).fetchone() is not None


def complete(
    conn: db.Conn, ids: Ids, token: datetime, status: int, headers: dict[str, str], body: bytes
) -> None:
    params = {
        **ids,
        "token": token,
        "status_code": status,
        "response_headers": Jsonb(headers),
        "response_body": body,
    }
    run(conn, "idempotency.complete", params)


def release(conn: db.Conn, ids: Ids, token: datetime) -> None:
    """Forget the placeholder of a request that failed, so a retry executes."""
    run(conn, "idempotency.release", {**ids, "token": token})


def prune(conn: db.Conn, now: datetime) -> None:
    """Forget answers older than 24 hours (the maintenance cron)."""
    run(conn, "idempotency.prune", {"now": now})
