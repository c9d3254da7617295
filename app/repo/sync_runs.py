"""``sync_runs`` (one verification of one key type, and its repair), ``sync_divergences``
(what each run found and did), ``dict_cid_events`` and ``dict_cids`` (the DICT's side,
staged): rows and queries (``sql/queries/sync_runs.sql``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg import sql
from psycopg.types.json import Jsonb

from app import db
from app.repo import many, one, run


class SyncRunRow(msgspec.Struct, kw_only=True, frozen=True):
    """A sync run as ``sync_runs`` holds it (``sql/schema.sql`` documents each status)."""

    id: int
    key_type: str
    status: str
    cause: str
    threshold: int
    started_at: datetime
    updated_at: datetime
    requested_by: str | None = None
    source: str | None = None
    vsync: str | None = None
    verification_id: int | None = None
    verifications: int = 0
    rechecks: int = 0
    verified_at: datetime | None = None
    since: datetime | None = None
    snapshot_at: datetime | None = None
    events_after: datetime | None = None
    event_pages: int = 0
    file_id: int | None = None
    file_requested_at: datetime | None = None
    file_polls: int = 0
    file_bytes: int | None = None
    file_sha256: str | None = None
    file_cids: int | None = None
    shard: int = 0
    divergences: int = 0
    repaired: int = 0
    decided_by: str | None = None
    problem: str | None = None
    finished_at: datetime | None = None
    version: int = 0


class DivergenceRow(msgspec.Struct, kw_only=True, frozen=True):
    """A divergence and what reconciliation did about it."""

    run_id: int
    cid: str
    side: str
    outcome: str
    found_at: datetime
    attempts: int = 0
    entry_id: uuid.UUID | None = None
    key: str | None = None
    detail: str | None = None
    retry_at: datetime | None = None
    handled_at: datetime | None = None


class KeyTypeState(msgspec.Struct, frozen=True):
    """What the scheduler needs to know of a key type."""

    key_type: str
    last_started: datetime | None
    last_ok: datetime | None
    open_run: int | None


class _Left(msgspec.Struct, frozen=True):
    open: int
    next_retry: datetime | None


class _Count(msgspec.Struct, frozen=True):
    n: int


class _Staged(msgspec.Struct, frozen=True):
    staged: bool


def start(
    conn: db.Conn,
    key_types: Sequence[str],
    cause: str,
    threshold: int,
    now: datetime,
    requested_by: str | None = None,
) -> list[SyncRunRow]:
    """Insert a verifying run per key type that has none open; the runs inserted."""
    return many(
        conn,
        "sync_runs.start",
        {
            "key_types": list(key_types),
            "cause": cause,
            "threshold": threshold,
            "requested_by": requested_by,
            "now": now,
        },
        SyncRunRow,
    )


def get(conn: db.Conn, run_id: Any) -> SyncRunRow | None:
    return one(conn, "sync_runs.get", {"id": run_id}, SyncRunRow)


def page(
    conn: db.Conn,
    *,
    key_type: str | None,
    status: str | None,
    before: tuple[datetime, int] | None,
    limit: int,
) -> list[SyncRunRow]:
    return many(
        conn,
        "sync_runs.list",
        {
            "key_type": key_type,
            "status": status,
            "before_started": before[0] if before else None,
            "before_id": before[1] if before else None,
            "limit": limit,
        },
        SyncRunRow,
    )


def divergences(
    conn: db.Conn, run_id: int, *, outcome: str | None, after: tuple[str, str] | None, limit: int
) -> list[DivergenceRow]:
    return many(
        conn,
        "sync_runs.divergences",
        {
            "id": run_id,
            "outcome": outcome,
            "after_side": after[0] if after else None,
            "after_cid": after[1] if after else None,
            "limit": limit,
        },
        DivergenceRow,
    )


def by_key_type(conn: db.Conn, key_types: Sequence[str]) -> list[KeyTypeState]:
    return many(conn, "sync_runs.by_key_type", {"key_types": list(key_types)}, KeyTypeState)


class OpenRuns(msgspec.Struct, frozen=True):
    key_type: str
    status: str
    n: int


def open_by_status(conn: db.Conn) -> list[OpenRuns]:
    return many(conn, "sync_runs.open_by_status", {}, OpenRuns)


def last_finished(conn: db.Conn) -> list[SyncRunRow]:
    return many(conn, "sync_runs.last_finished", {}, SyncRunRow)


def finished_between(conn: db.Conn, start: datetime, end: datetime) -> list[SyncRunRow]:
    return many(conn, "sync_runs.finished_between", {"start": start, "end": end}, SyncRunRow)


# --------------------------------------------------------------- collecting: events


def events_page(
    conn: db.Conn,
    run_id: int,
    after: datetime | None,
    next_after: datetime,
    events: Iterable[tuple[str, str, datetime]],
    now: datetime,
) -> bool:
    """Keep a page of (cid, type, at) and move the cursor from ``after`` to
    ``next_after``; False when the cursor had already moved (a repeated message)."""
    last = {c: (t, at) for c, t, at in events}  # ascending: the last one per CID wins
    rows = [{"cid": c, "type": t, "at": at.isoformat()} for c, (t, at) in last.items()]
    run(
        conn,
        "sync_runs.events_page",
        {
            "id": run_id,
            "after": after,
            "next_after": next_after,
            "events": Jsonb(rows),
            "now": now,
        },
    )
    moved = conn.execute(
        db.q("sync_runs.events_moved"), {"id": run_id, "next_after": next_after}
    ).fetchone()
    return bool(moved and moved["moved"])


def switch_to_file(conn: db.Conn, run_id: int, now: datetime) -> int:
    return run(conn, "sync_runs.switch_to_file", {"id": run_id, "now": now})


def recheck(conn: db.Conn, r: SyncRunRow, vsync: str, verification_id: int, now: datetime) -> int:
    return run(
        conn,
        "sync_runs.recheck",
        {
            "id": r.id,
            "vsync": vsync,
            "verification_id": verification_id,
            "rechecks": r.rechecks,
            "now": now,
        },
    )


def restart_collecting(conn: db.Conn, run_id: int, now: datetime) -> int:
    return run(conn, "sync_runs.restart_collecting", {"id": run_id, "now": now})


# --------------------------------------------------------------- collecting: the file


def file_requested(
    conn: db.Conn, run_id: int, file_id: int, snapshot_at: datetime, now: datetime
) -> int:
    return run(
        conn,
        "sync_runs.file_requested",
        {"id": run_id, "file_id": file_id, "snapshot_at": snapshot_at, "now": now},
    )


def file_polled(conn: db.Conn, run_id: int, file_id: int, now: datetime) -> int:
    return run(conn, "sync_runs.file_polled", {"id": run_id, "file_id": file_id, "now": now})


def _partition(key_type: str) -> sql.Identifier:
    return sql.Identifier(f"dict_cids_{key_type.lower()}")


def clear_staged(conn: db.Conn, key_type: str) -> None:
    """Empty the key type's staged CID file (in the caller's transaction)."""
    conn.execute(sql.SQL("TRUNCATE {}").format(_partition(key_type)))


def stage(conn: db.Conn, key_type: str, chunks: Iterable[bytes]) -> int:
    """COPY a CID file's bytes (one CID per line: COPY's text format already) into the
    key type's partition of dict_cids, as they stream; the lines staged."""
    query = sql.SQL("COPY {} (cid) FROM STDIN").format(_partition(key_type))
    with conn.cursor() as cur:
        with cur.copy(query) as copy:
            for chunk in chunks:
                copy.write(chunk)
        return cur.rowcount


def staged_any(conn: db.Conn, key_type: str) -> bool:
    row = one(conn, "sync_runs.staged_any", {"key_type": key_type}, _Staged)
    return bool(row and row.staged)


# --------------------------------------------------------------- comparing


def compare_events(conn: db.Conn, r: SyncRunRow, now: datetime) -> int:
    return run(
        conn,
        "sync_runs.compare_events",
        {"id": r.id, "key_type": r.key_type, "snapshot_at": r.snapshot_at, "now": now},
    )


def compare_shard(conn: db.Conn, r: SyncRunRow, lo: str, hi: str, now: datetime) -> int:
    return run(
        conn,
        "sync_runs.compare_shard",
        {
            "id": r.id,
            "key_type": r.key_type,
            "lo": lo,
            "hi": hi,
            "snapshot_at": r.snapshot_at,
            "now": now,
        },
    )


def shard_done(conn: db.Conn, run_id: int, shard: int, now: datetime) -> int:
    return run(conn, "sync_runs.shard_done", {"id": run_id, "shard": shard, "now": now})


def count_divergences(conn: db.Conn, run_id: int) -> int:
    row = one(conn, "sync_runs.count_divergences", {"id": run_id}, _Count)
    return row.n if row else 0


def count_found(conn: db.Conn, run_id: int) -> int:
    """Divergences of the last comparison, not handled yet."""
    row = one(conn, "sync_runs.count_found", {"id": run_id}, _Count)
    return row.n if row else 0


class _Outcome(msgspec.Struct, frozen=True):
    outcome: str
    n: int


def outcomes(conn: db.Conn, run_id: int) -> dict[str, int]:
    """How many of the run's divergences ended each way."""
    return {r.outcome: r.n for r in many(conn, "sync_runs.outcomes", {"id": run_id}, _Outcome)}


def restage(conn: db.Conn, run_id: int, now: datetime) -> int:
    return run(conn, "sync_runs.restage", {"id": run_id, "now": now})


# --------------------------------------------------------------- reconciling


def due_divergences(conn: db.Conn, run_id: int, now: datetime, limit: int) -> list[DivergenceRow]:
    return many(
        conn,
        "sync_runs.due_divergences",
        {"id": run_id, "now": now, "limit": limit},
        DivergenceRow,
    )


def lock_open(conn: db.Conn, run_id: int, cid: str) -> bool:
    """Lock the divergence if it is still to be handled (False: someone handled it)."""
    return run(conn, "sync_runs.lock_open", {"id": run_id, "cid": cid}) == 1


def dict_side_of_key(conn: db.Conn, run_id: int, key: str | None) -> str | None:
    """A CID of the DICT's for ``key`` this run could not take into our base, if any."""
    if key is None:
        return None
    row = conn.execute(db.q("sync_runs.dict_side_of_key"), {"id": run_id, "key": key}).fetchone()
    return str(row["cid"]) if row else None


def stalled(conn: db.Conn, before: datetime) -> list[SyncRunRow]:
    return many(conn, "sync_runs.stalled", {"before": before}, SyncRunRow)


def divergences_left(conn: db.Conn, run_id: int) -> tuple[int, datetime | None]:
    row = one(conn, "sync_runs.divergences_left", {"id": run_id}, _Left)
    return (row.open, row.next_retry) if row else (0, None)


def set_outcome(
    conn: db.Conn,
    d: DivergenceRow,
    outcome: str,
    now: datetime,
    *,
    detail: str | None = None,
    key: str | None = None,
    entry_id: uuid.UUID | None = None,
    retry_at: datetime | None = None,
) -> int:
    return run(
        conn,
        "sync_runs.set_outcome",
        {
            "run_id": d.run_id,
            "cid": d.cid,
            "outcome": outcome,
            "detail": detail,
            "key": key,
            "entry_id": entry_id,
            "retry_at": retry_at,
            "now": now,
        },
    )


def prune_events(conn: db.Conn, run_id: int) -> int:
    return run(conn, "sync_runs.prune_events", {"id": run_id})
