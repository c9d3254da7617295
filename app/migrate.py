"""Forward-only migrations: ``sql/migrations/NNNN_name.sql``, each applied once.

Why not yoyo/alembic: the files are plain SQL applied in order, the run must hold a
PostgreSQL advisory lock (several replicas start at once) and, in the same locked
run, mirror the ``statemachines/`` declarations into ``machine_states`` and
``state_transitions``. That is forty lines here; a library would add its own lock
table and a second connection driver for less.

Each migration runs in its own transaction with a ``lock_timeout`` (a migration that
waits behind a long transaction fails fast instead of queueing every query behind its
own lock). One whose first line is ``-- migrate: no-transaction`` runs statement by
statement outside a transaction, for what PostgreSQL refuses inside one (``CREATE INDEX
CONCURRENTLY``); its statements end with ``;`` at the end of a line.
"""

from __future__ import annotations

import hashlib
import logging
from importlib.resources.abc import Traversable

from app.db import Conn, connect, q, sql_files

log = logging.getLogger(__name__)

_LOCK_KEY = 0x0D1C7C07  # pg_advisory_lock key of dict-connect migrations
LOCK_TIMEOUT = "5s"
"""How long a migration's statement waits for a lock before it fails (and can be rerun)."""
NO_TRANSACTION = "-- migrate: no-transaction"


class MigrationChanged(RuntimeError):
    """An applied migration's file changed: forward only means a new file instead."""


def migrations() -> dict[str, Traversable]:
    """Every migration file (``sql/migrations``, shipped in the package), by name."""
    return {f.name: f for f in sql_files("migrations")}


def _checksum(name: str) -> str:
    return hashlib.sha256(migrations()[name].read_bytes()).hexdigest()


def pending(conn: Conn) -> list[str]:
    """Migrations not applied yet; refuses to go on if an applied one was edited."""
    conn.execute(q("migrate.ensure_table"))
    done = {r["version"]: r["checksum"] for r in conn.execute(q("migrate.applied"))}
    files = list(migrations())
    changed = [f for f in files if done.get(f) and done[f] != _checksum(f)]
    if changed:
        raise MigrationChanged(
            f"applied migration(s) changed since: {', '.join(changed)}; "
            "add a new migration instead of editing an applied one"
        )
    return [f for f in files if f not in done]


def migrate(url: str | None = None) -> list[str]:
    """Apply every pending migration and mirror the state machines; return what ran."""
    from statemachines import registry  # the declarations, mirrored below

    with connect(url, autocommit=True) as conn:
        conn.execute(q("migrate.lock"), {"key": _LOCK_KEY})
        try:
            applied = []
            for name in pending(conn):
                sql = migrations()[name].read_text(encoding="utf-8")
                apply(conn, name, sql, _checksum(name))
                log.info("applied migration %s", name)
                applied.append(name)
            with conn.transaction():
                registry.mirror(conn)
            return applied
        finally:
            conn.execute(q("migrate.unlock"), {"key": _LOCK_KEY})


def apply(conn: Conn, name: str, sql: str, checksum: str) -> None:
    """Run one migration and record it, under the lock timeout (see the module's doc)."""
    record = {"version": name, "checksum": checksum}
    if sql.lstrip().startswith(NO_TRANSACTION):
        conn.execute(q("migrate.set_lock_timeout"), {"timeout": LOCK_TIMEOUT})
        try:
            for statement in _statements(sql):
                conn.execute(statement)
        finally:
            conn.execute(q("migrate.reset_lock_timeout"))
        conn.execute(q("migrate.record"), record)
        return
    with conn.transaction():
        conn.execute(q("migrate.set_local_lock_timeout"), {"timeout": LOCK_TIMEOUT})
        conn.execute(sql)
        conn.execute(q("migrate.record"), record)


def _statements(sql: str) -> list[str]:
    """A no-transaction migration's statements: each ends with ``;`` at a line's end."""
    parts = [p.strip() for p in sql.replace(";\r\n", ";\n").split(";\n")]
    return [
        p.rstrip(";")
        for p in parts
        if p
        and not all(line.strip().startswith("--") or not line.strip() for line in p.splitlines())
    ]
