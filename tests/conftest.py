"""Shared fixtures: real PostgreSQL and Redis (never mocks).

A missing service fails the run under ``CI=true`` and skips the test otherwise.
Each test that needs a database gets a fresh one, copied from a template that the
migrations built once per session (a copy takes milliseconds).
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
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


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


@pytest.fixture
def database_url(pg_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh migrated database for this test, installed as DATABASE_URL."""
    name = f"dc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = _url(name)
    monkeypatch.setenv("DATABASE_URL", url)
    settings.reset()
    db.close_pool()
    try:
        yield url
    finally:
        db.close_pool()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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
