"""Shared fixtures: real PostgreSQL and Redis (never mocks).

A missing service fails the run under ``CI=true`` and skips the test otherwise.
Each test that needs a database gets a clean migrated one. Copying the template costs
1 to 1.5 s here (CREATE DATABASE writes and syncs every relation file), so databases
are recycled: after a test its rows are deleted and the template's seed rows put back
(milliseconds), unless the test changed the schema (a catalog fingerprint tells), in
which case the database is dropped and the next test gets a new copy.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis as redis_lib

from app import clock, db, settings

pytest_plugins = ["tests.simulator_fixtures"]

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _redis_url() -> str:
    """TEST_REDIS_URL (db 9 by default); under pytest-xdist, worker gwN takes db + N."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, index = url.rpartition("/")
    return f"{base}/{int(index or 0) + int(worker[2:])}"


REDIS_URL = _redis_url()


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _migrations_hash() -> str:
    h = hashlib.sha256()
    for path in [*db.sql_files("migrations"), db.SQL / "queries" / "migrate.sql"]:
        h.update(path.read_bytes())
    from statemachines import registry

    for spec in registry.MACHINES.values():
        h.update(repr(sorted(spec.edges())).encode())
    return h.hexdigest()[:12]


@pytest.fixture(scope="session")
def pg_template() -> str:
    """A migrated template database, rebuilt only when migrations or machines change."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", exc)
    name = f"dc_tpl_{_migrations_hash()}"
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            tmp = f"{name}_{uuid.uuid4().hex[:6]}"
            admin.execute(f'CREATE DATABASE "{tmp}"')
            from app.migrate import migrate

            migrate(_url(tmp))
            try:
                admin.execute(f'ALTER DATABASE "{tmp}" RENAME TO "{name}"')
            except psycopg.errors.DuplicateDatabase:  # another session won the race
                admin.execute(f'DROP DATABASE "{tmp}"')
    return name


_FINGERPRINT = """
SELECT md5(string_agg(x, ',' ORDER BY x)) AS fingerprint FROM (
    SELECT format('class %s %s %s %s', oid, relfilenode, relname, relkind) AS x
    FROM pg_class WHERE oid >= 16384
    UNION ALL SELECT format('attr %s %s %s %s %s', attrelid, attnum, attname, atttypid, attnotnull)
    FROM pg_attribute WHERE attrelid >= 16384 AND attnum > 0
    UNION ALL SELECT format('proc %s %s', oid, md5(prosrc)) FROM pg_proc WHERE oid >= 16384
    UNION ALL SELECT format('con %s %s', oid, conname) FROM pg_constraint WHERE oid >= 16384
    UNION ALL SELECT format('trg %s %s %s', oid, tgname, tgenabled) FROM pg_trigger
    WHERE oid >= 16384
    UNION ALL SELECT format('nsp %s', nspname) FROM pg_namespace WHERE oid >= 16384
    UNION ALL SELECT format('desc %s %s %s', objoid, objsubid, md5(description))
    FROM pg_description WHERE objoid >= 16384
    UNION ALL SELECT format('set %s', setconfig) FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) s
"""
_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname) AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.oid >= 16384
ORDER BY 1
"""
_SEQUENCES = """
SELECT format('%I.%I', n.nspname, c.relname) AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND c.oid >= 16384
ORDER BY 1
"""


class _Databases:
    """Clean migrated databases copied from one template, recycled between tests."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.free: list[str] = []
        self.fingerprint = ""
        self.tables: list[str] = []
        self.seeds: dict[str, bytes] = {}  # table -> its template rows (COPY format)
        self.sequences: list[tuple[str, int, bool]] = []  # name, last_value, is_called

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"dc_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        if not self.fingerprint:
            self._learn(name)
        return name

    def _learn(self, name: str) -> None:
        """What a clean copy holds: its catalog's fingerprint, rows and sequences."""
        with psycopg.connect(_url(name), autocommit=True) as conn:
            self.fingerprint = _fingerprint(conn)
            self.tables = [r[0] for r in conn.execute(_TABLES)]
            for table in self.tables:
                data = bytearray()
                with conn.cursor().copy(f"COPY (SELECT * FROM {table}) TO STDOUT") as copy:
                    for chunk in copy:
                        data += chunk
                if data:
                    self.seeds[table] = bytes(data)
            for (seq,) in conn.execute(_SEQUENCES).fetchall():
                last, called = conn.execute(f"SELECT last_value, is_called FROM {seq}").fetchone()  # type: ignore[misc]
                self.sequences.append((seq, last, called))

    def give_back(self, name: str) -> None:
        """Clean the database for the next test, or drop it if its schema changed."""
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        try:
            with psycopg.connect(_url(name), autocommit=True) as conn:
                if _fingerprint(conn) == self.fingerprint:
                    self._clean(conn)
                    self.free.append(name)
                    return
        except psycopg.Error:
            pass
        _drop(name)

    def _clean(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # no triggers, no FKs
            for table in self.tables:
                conn.execute(f"DELETE FROM {table}")
            for table, data in self.seeds.items():
                with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(data)
            for seq, last, called in self.sequences:
                conn.execute("SELECT setval(%s, %s, %s)", (seq, last, called))

    def close(self) -> None:
        for name in self.free:
            _drop(name)
        self.free.clear()


def _fingerprint(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    row = conn.execute(_FINGERPRINT).fetchone()
    return str(row[0]) if row else ""


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _databases(pg_template: str) -> Iterator[_Databases]:
    pool = _Databases(pg_template)
    yield pool
    pool.close()


@pytest.fixture
def database_url(_databases: _Databases, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean migrated database for this test, installed as DATABASE_URL."""
    name = _databases.take()
    url = _url(name)
    monkeypatch.setenv("DATABASE_URL", url)
    settings.reset()
    db.close_pool()
    try:
        yield url
    finally:
        db.close_pool()
        _databases.give_back(name)
        settings.reset()


@pytest.fixture
def redis_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A flushed Redis database for this test, installed as REDIS_URL."""
    client = redis_lib.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        client.flushdb()
    except redis_lib.RedisError as exc:
        _unavailable("Redis", exc)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    settings.reset()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    """Every test starts with the real clock."""
    clock.reset()
    yield
    clock.reset()
