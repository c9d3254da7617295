"""Keeping the lookups' Redis copies in step with our base (the ``lookup_index`` cron).

Redis holds the SHA-256 of every key we hold in the DICT (a lookup of one is a book
transfer), cached answers and key existence. Triggers note every change of our
entries and claims in ``lookup_key_changes`` (migration 0010); each minute the notes
are applied to Redis in order and deleted in the same transaction, so a note is lost
neither when Redis is down (the transaction rolls back) nor when the worker dies. When
Redis lost the index (``OWN_BUILT`` is gone: a restart without persistence, a flush),
it is rebuilt from ``entries`` first; meanwhile lookups ask PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import redis

from app import clock, db
from app.domain.lookups import EXISTENCE_CACHE_MAX_S
from app.lookups import keys

BATCH = 10_000


def refresh(conn: db.Conn, r: redis.Redis) -> tuple[bool, int]:
    """Rebuild the index if Redis lost it, then apply every pending note.
    Returns (rebuilt, notes applied)."""
    rebuilt = False
    if not r.exists(keys.OWN_BUILT):
        rebuild(conn, r)
        rebuilt = True
    applied = 0
    while True:
        n = apply_changes(conn, r)
        applied += n
        if n < BATCH:
            return rebuilt, applied


def rebuild(conn: db.Conn, r: redis.Redis) -> int:
    """The index from ``entries``, swapped in whole. Notes taken meanwhile are applied
    after it, in order, so each key ends as its last note says."""
    staging = f"{keys.OWN}:staging"
    r.delete(staging)
    count = 0
    with conn.transaction(), conn.cursor(name="lookup_index_rebuild") as cur:
        cur.execute(db.q("lookups.held_digests"))
        while rows := cur.fetchmany(BATCH):
            r.sadd(staging, *(bytes(row["digest"]) for row in rows))
            count += len(rows)
    pipe = r.pipeline(transaction=True)
    if count:
        pipe.rename(staging, keys.OWN)
    else:
        pipe.delete(keys.OWN)
    pipe.set(keys.OWN_BUILT, clock.now().isoformat())
    pipe.execute()
    return count


def apply_changes(conn: db.Conn, r: redis.Redis) -> int:
    """Apply up to BATCH notes to Redis and delete them, in one transaction."""
    now = f"1|{clock.now().isoformat()}"
    with conn.transaction():
        rows: list[dict[str, Any]] = conn.execute(
            db.q("lookups.take_changes"), {"limit": BATCH}
        ).fetchall()
        if not rows:
            return 0
        pipe = r.pipeline(transaction=False)
        for row in sorted(rows, key=lambda x: x["seq"]):
            digest = bytes(row["key_hash"])
            pipe.delete(keys.answer(digest, False), keys.answer(digest, True))
            if row["held"] is True:
                pipe.sadd(keys.OWN, digest)
                pipe.set(keys.existence(digest), now, ex=EXISTENCE_CACHE_MAX_S)
            elif row["held"] is False:
                pipe.srem(keys.OWN, digest)
                pipe.delete(keys.existence(digest))  # gone, or another participant's now
        pipe.execute()
    return len(rows)
