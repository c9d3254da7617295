"""PostgreSQL access: one pool per process and the named queries of ``sql/queries``.

Queries live in ``sql/queries/<table>.sql`` as blocks headed ``-- name: <name>``;
they are loaded once and run by name (``q("entries.get")``) so no SQL is built
from strings in Python. ``sql/`` is a package of the distribution: its files are
read with ``importlib.resources``, the same in an installed wheel and in an editable
checkout. psycopg errors become domain errors at the repository boundary, keyed on
constraint names.

**Failing fast.** A request waits at most ``POOL_TIMEOUT_S`` for a pooled connection
and a new connection at most ``CONNECT_TIMEOUT_S`` to open (libpq's shortest), so
while PostgreSQL is down or unreachable the pool raises ``PoolTimeout`` (an
``OperationalError``) within half a second and the API answers 503 with Retry-After
(``app.api.errors``) instead of holding the caller for the pool's default 30 s.

**A held transaction.** ``Held`` is one transaction that every ``pool().connection()``
of a context shares: an ``Idempotency-Key`` request (``app.api.idempotency``) holds
one so that its answer is stored in the transaction of its work, and a batch of
registrations (``app.batcher``) holds one for its members' answers. Inside it each
``connection()`` block is a savepoint (an error undoes that block only, as if it had
its own transaction), and what must follow a commit (``after_commit``: the outbox's
enqueue) waits for the held transaction's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from app import clock, settings

SQL: Traversable = files("sql")
"""The ``sql`` package: ``migrations/`` and ``queries/`` (in the wheel, or the checkout's
``sql/`` in an editable install)."""
_NAME = re.compile(r"^--\s*name:\s*([\w.]+)\s*$", re.MULTILINE)

Conn = psycopg.Connection[DictRow]
"""Every connection of ours returns rows as dicts."""

POOL_TIMEOUT_S = 0.5
"""The longest a caller waits for a pooled connection before ``PoolTimeout``. While the
database is down a request may wait this several times over and still answer within
2 s: its API key's check (``app.api.auth``), then a registration's batch behind the one
running. Under load a wait this long means the process is saturated: a 503 with
Retry-After sheds the excess."""
RECONNECT_S = 10.0
"""The pool's ``reconnect_timeout``: psycopg_pool doubles the wait between attempts to
reconnect (1, 2, 4 s...) until this has passed, then gives up on that attempt and the
next request starts a new one. Its default (5 min) let the wait grow to minutes: the API
stayed down long after PostgreSQL was back."""
CONNECT_TIMEOUT_S = 2
"""``connect_timeout`` when neither ``DATABASE_URL`` nor ``PGCONNECT_TIMEOUT`` sets one
(libpq's minimum: 2 s)."""


class _Pool(ConnectionPool[Conn]):
    """The pool, aware of a ``Held`` transaction: inside one, ``connection()`` is the
    held connection, each block a savepoint."""

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Conn]:
        held = _held.get()
        if held is None:
            with super().connection(timeout) as conn:
                yield conn
            return
        conn = held.open(timeout)
        with conn.transaction():
            yield conn

    def pooled(self, timeout: float | None = None) -> contextlib.AbstractContextManager[Conn]:
        """A connection of the pool's own, held transaction or not."""
        return super().connection(timeout)


_pool: _Pool | None = None
_pool_lock = threading.Lock()
_held: ContextVar[Held | None] = ContextVar("held_transaction", default=None)


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


def pool() -> _Pool:
    """The process's pool, opened on first use (after any fork)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            cfg = settings.database()
            connect = {"row_factory": dict_row, "autocommit": True}
            if "connect_timeout" not in conninfo_to_dict(cfg.url) and not os.environ.get(
                "PGCONNECT_TIMEOUT"
            ):
                connect["connect_timeout"] = CONNECT_TIMEOUT_S
            _pool = _Pool(
                cfg.url,
                connection_class=Conn,
                min_size=cfg.pool_min,
                max_size=cfg.pool_max,
                kwargs=connect,
                timeout=POOL_TIMEOUT_S,
                reconnect_timeout=RECONNECT_S,
                open=True,
                name="dict-connect",
            )
        return _pool


class Held:
    """One transaction for every ``pool().connection()`` of the contexts it is
    ``holding`` in. Opened by its owner or on first use (then ``begin`` runs first in
    it); its owner ends it once, with ``commit`` or ``rollback``."""

    def __init__(self, begin: Callable[[Conn], None] | None = None) -> None:
        self._begin = begin
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()
        self._transaction: psycopg.Transaction | None = None
        self._after: list[Callable[[], None]] = []
        self.conn: Conn | None = None

    def open(self, timeout: float | None = None) -> Conn:
        """The held connection, in its transaction (begun on the first call)."""
        with self._lock:
            if self.conn is None:
                with contextlib.ExitStack() as stack:  # undone if BEGIN or ``begin`` fails
                    conn = stack.enter_context(pool().pooled(timeout))
                    transaction = stack.enter_context(conn.transaction())
                    if self._begin is not None:
                        self._begin(conn)
                    self._stack = stack.pop_all()
                self.conn, self._transaction = conn, transaction
            return self.conn

    def later(self, fn: Callable[[], None]) -> None:
        self._after.append(fn)

    def commit(self) -> None:
        """Commit, give the connection back, then run what waited for the commit."""
        self._end()
        after, self._after = self._after, []
        for fn in after:
            fn()

    def rollback(self) -> None:
        """Roll back (if it was ever opened) and give the connection back; a connection
        that broke took its transaction with it."""
        if self._transaction is not None:
            self._transaction.force_rollback = True
        self._after.clear()
        with contextlib.suppress(psycopg.OperationalError):
            self._end()

    def _end(self) -> None:
        with self._lock:
            self.conn, self._transaction = None, None
            self._stack.close()


@contextlib.contextmanager
def holding(held: Held) -> Iterator[Held]:
    """Inside the block (and the threads it hands work to), ``pool().connection()``
    is ``held``'s connection."""
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def after_commit(fn: Callable[[], None]) -> None:
    """Run ``fn`` now, or, inside an opened ``Held`` transaction, once it commits (never
    if it rolls back)."""
    held = _held.get()
    if held is None or held.conn is None:
        fn()
    else:
        held.later(fn)


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
