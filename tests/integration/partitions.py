"""The partitions attached to a table partitioned by month, as the tests read them."""

from __future__ import annotations

from app import db


def attached(parent: str) -> list[str]:
    """Names of ``parent``'s partitions, sorted (the default one included)."""
    with db.pool().connection() as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY 1",
            (parent,),
        )
        return [r["relname"] for r in rows]
