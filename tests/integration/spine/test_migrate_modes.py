"""Migrations run under a lock timeout, and outside a transaction when they must."""

from __future__ import annotations

import psycopg
import pytest

from app import db
from app.migrate import LOCK_TIMEOUT, apply


def test_a_no_transaction_migration_can_build_an_index_concurrently(database_url: str) -> None:
    sql = """-- migrate: no-transaction
-- An index on a big table, built without blocking writes.
CREATE INDEX CONCURRENTLY outbox_kind_test ON outbox (kind);
CREATE INDEX CONCURRENTLY outbox_actor_test ON outbox (actor);
"""
    with db.connect(database_url, autocommit=True) as conn:
        apply(conn, "9001_concurrent.sql", sql, "c1")
        names = {r["indexname"] for r in conn.execute("SELECT indexname FROM pg_indexes")}
        recorded = conn.execute(
            "SELECT checksum FROM schema_migrations WHERE version = '9001_concurrent.sql'"
        ).fetchone()
        timeout = conn.execute("SHOW lock_timeout").fetchone()
    assert {"outbox_kind_test", "outbox_actor_test"} <= names
    assert recorded == {"checksum": "c1"}
    assert timeout == {"lock_timeout": "0"}  # the session's setting is put back


def test_a_migration_waiting_behind_a_lock_fails_fast_and_leaves_nothing(
    database_url: str,
) -> None:
    with db.connect(database_url) as holder, db.connect(database_url, autocommit=True) as conn:
        holder.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")  # a long transaction
        with pytest.raises(psycopg.errors.LockNotAvailable):
            apply(conn, "9002_alter.sql", "ALTER TABLE outbox ADD COLUMN x int;", "c2")
        holder.rollback()
        done = conn.execute(
            "SELECT count(*) AS n FROM schema_migrations WHERE version = '9002_alter.sql'"
        ).fetchone()
    assert done == {"n": 0}
    assert LOCK_TIMEOUT == "5s"
