"""PostgreSQL access: one pool per process and the named queries of ``sql/queries``.

Queries live in ``sql/queries/<table>.sql`` as blocks headed ``-- name: <name>``;
they are loaded once and run by name (``q("entries.get")``) so no SQL is built
from strings in Python. ``sql/`` is a package of the distribution: its files are
read with ``importlib.resources``, the same in an installed wheel and in an editable
checkout. psycopg errors become domain errors at the repository boundary, keyed on
constraint names.
"""

from __future__ import annotations

import functools
import re
import threading
from datetime import datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from app import clock, settings

SQL: Traversable = files("sql")
"""The ``sql`` package: ``migrations/`` and ``queries/`` (in the wheel, or the checkout's
``sql/`` in an editable install)."""
_NAME = re.compile(r"^--\s*name:\s*([\w.]+)\s*$", re.MULTILINE)

Conn = psycopg.Connection[DictRow]
"""Every connection of ours returns rows as dicts."""

_pool: ConnectionPool[Conn] | None = None
_pool_lock = threading.Lock()


def sql_files(folder: str) -> list[Traversable]:
    """The ``.sql`` files of ``sql/<folder>`` (``migrations``, ``queries``), by name."""
    found = [f for f in SQL.joinpath(folder).iterdir() if f.name.endswith(".sql")]
    return sorted(found, key=lambda f: f.name)


@functools.cache
def queries() -> dict[str, str]:
    """Every named query, keyed ``<file stem>.<name>``."""
    found: dict[str, str] = {}
    for path in sql_files("queries"):
        parts = _NAME.split(path.read_text(encoding="utf-8"))
        stem = path.name.removesuffix(".sql")
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            key = f"{stem}.{name}"
            if key in found:
                raise RuntimeError(f"duplicate query name {key}")
            found[key] = body.strip().rstrip(";")
    return found


def q(name: str) -> str:
    """The SQL text of a named query."""
    try:
        return queries()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in sql/queries") from None


def pool() -> ConnectionPool[Conn]:
    """The process's pool, opened on first use (after any fork)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            cfg = settings.database()
            _pool = ConnectionPool(
                cfg.url,
                connection_class=Conn,
                min_size=cfg.pool_min,
                max_size=cfg.pool_max,
                kwargs={"row_factory": dict_row, "autocommit": True},
                open=True,
                name="dict-connect",
            )
        return _pool


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def set_tags(
    conn: Conn,
    *,
    actor: str | None = None,
    trigger: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Set the transaction-local tags the history trigger records."""
    conn.execute(
        q("spine.set_tags"),
        {
            "actor": actor or "",
            "trigger": trigger or "",
            "reason": reason or "",
            "now": now or clock.now(),
        },
    )


def connect(url: str | None = None, **kwargs: Any) -> Conn:
    """A standalone connection (CLI tools, migrations, tests)."""
    return psycopg.Connection.connect(
        url or settings.database().url, row_factory=dict_row, **kwargs
    )
