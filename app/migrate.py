"""Forward-only migrations: ``sql/migrations/NNNN_name.sql``, each applied once.

Why not yoyo/alembic: the files are plain SQL applied in order, the run must hold a
PostgreSQL advisory lock (several replicas start at once) and, in the same locked
run, mirror the ``statemachines/`` declarations into ``machine_states`` and
``state_transitions``. That is forty lines here; a library would add its own lock
table and a second connection driver for less.
"""

from __future__ import annotations

import hashlib
import logging

from app.db import SQL_DIR, Conn, connect, q

log = logging.getLogger(__name__)

_LOCK_KEY = 0x0D1C7C07  # pg_advisory_lock key of dict-connect migrations


class MigrationChanged(RuntimeError):
    """An applied migration's file changed: forward only means a new file instead."""


def _checksum(name: str) -> str:
    return hashlib.sha256((SQL_DIR / "migrations" / name).read_bytes()).hexdigest()


def pending(conn: Conn) -> list[str]:
    """Migrations not applied yet; refuses to go on if an applied one was edited."""
    conn.execute(q("migrate.ensure_table"))
    done = {r["version"]: r["checksum"] for r in conn.execute(q("migrate.applied"))}
    files = sorted(p.name for p in (SQL_DIR / "migrations").glob("*.sql"))
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
                with conn.transaction():
                    conn.execute((SQL_DIR / "migrations" / name).read_text())  # type: ignore[arg-type]
                    conn.execute(
                        q("migrate.record"), {"version": name, "checksum": _checksum(name)}
                    )
                log.info("applied migration %s", name)
                applied.append(name)
            with conn.transaction():
                registry.mirror(conn)
            return applied
        finally:
            conn.execute(q("migrate.unlock"), {"key": _LOCK_KEY})
