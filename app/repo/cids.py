"""``cids`` (our CIDs, kept by the trigger ``entries_cid_moved``) and ``vsyncs`` (their
XOR per key type in 16 shards): ``sql/queries/cids.sql``."""

from __future__ import annotations

import msgspec

from app import db
from app.domain.cid import EMPTY_VSYNC
from app.repo import many, one, run


class _Bits(msgspec.Struct, frozen=True):
    bits: str
    entries: int


class _Shard(msgspec.Struct, frozen=True):
    shard: int
    bits: str
    entries: int


def _hex(bits: str) -> str:
    return f"{int(bits, 2):064x}"


def vsync(conn: db.Conn, key_type: str) -> str:
    """The key type's VSync as kept incrementally (64 hex digits)."""
    row = one(conn, "cids.vsync", {"key_type": key_type}, _Bits)
    return _hex(row.bits) if row else EMPTY_VSYNC


def _shards(conn: db.Conn, query: str, key_type: str) -> dict[int, tuple[str, int]]:
    rows = many(conn, query, {"key_type": key_type}, _Shard)
    return {r.shard: (r.bits, r.entries) for r in rows}


def recompute(conn: db.Conn, key_type: str) -> str:
    """The key type's VSync from every one of its CIDs (no DICT call)."""
    row = one(conn, "cids.recompute", {"key_type": key_type}, _Bits)
    return _hex(row.bits) if row else EMPTY_VSYNC


class _Both(msgspec.Struct, frozen=True):
    kept: str
    fresh: str


def both(conn: db.Conn, key_type: str) -> tuple[str, str]:
    """(kept, recomputed) VSync of the key type, read in one snapshot."""
    row = one(conn, "cids.both", {"key_type": key_type}, _Both)
    assert row is not None  # two aggregates always answer one row
    return _hex(row.kept), _hex(row.fresh)


def repair(conn: db.Conn, key_type: str, now: object) -> list[int]:
    """Rewrite the key type's shards from its CIDs where they differ; the shards
    repaired. Locks the shards first: the key type's entry changes wait."""
    run(conn, "cids.lock_shards", {"key_type": key_type})
    fresh = _shards(conn, "cids.recompute_shards", key_type)
    kept = _shards(conn, "cids.shards", key_type)
    zero = ("0" * 256, 0)
    repaired = []
    for shard in range(16):
        want = fresh.get(shard, zero)
        if kept.get(shard, zero) != want:
            run(
                conn,
                "cids.set_shard",
                {
                    "key_type": key_type,
                    "shard": shard,
                    "bits": want[0],
                    "entries": want[1],
                    "now": now,
                },
            )
            repaired.append(shard)
    return repaired
