"""No customer data in any log line, even where PostgreSQL quotes the row it refused.

A psycopg error carries PostgreSQL's DETAIL (``Failing row contains (…)``, ``Key
(key)=(…) already exists``) and CONTEXT (``JSON data, line 1: {…}``), and its text
holds both: a traceback or a ``%s`` of the error would write a legal person's name or a
Pix key. Free-text masking cannot catch a name, nor a short phone key, so the values are
withheld by what they are (the error's DETAIL and CONTEXT), not by their shape. A
Dramatiq worker failure is logged with the actor's name, the message id and the outbox
row, never the arguments. Real PostgreSQL errors and a real Dramatiq worker, through the
filter and formatter every process uses.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries

from app import db
from app.logging import JsonFormatter, RedactingFilter

NAME = "Padaria Sol Nascente Ltda"  # a legal person: nothing in its shape says "name"
PHONE = "+5561988"  # a phone key E.164 allows, too short to look like a phone in free text
FIRMS = """
CREATE TEMP TABLE firms (
    key text UNIQUE,
    name text NOT NULL,
    employees int NOT NULL CONSTRAINT firms_employees_positive CHECK (employees > 0)
)
"""


@pytest.fixture
def logged() -> Iterator[Callable[[], str]]:
    """``logged()``: every line logged anywhere so far, as written."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream.getvalue
    root.removeHandler(handler)
    root.setLevel(level)


def _refused(conn: db.Conn, sql: str, params: tuple[Any, ...]) -> psycopg.Error:
    try:
        conn.execute(sql, params)
    except psycopg.Error as exc:
        return exc
    raise AssertionError(f"PostgreSQL accepted {sql}")


def _errors(database_url: str) -> list[psycopg.Error]:
    """A NOT NULL, a CHECK, a UNIQUE and a jsonb refusal, each quoting the row."""
    with db.connect(database_url, autocommit=True) as conn:
        conn.execute(FIRMS)
        conn.execute("INSERT INTO firms VALUES (%s, %s, 3)", (PHONE, NAME))
        found = [
            _refused(conn, "INSERT INTO firms VALUES (NULL, %s, NULL)", (NAME,)),
            _refused(conn, "INSERT INTO firms VALUES (NULL, %s, -1)", (NAME,)),
            _refused(conn, "INSERT INTO firms VALUES (%s, 'x', 1)", (PHONE,)),
            _refused(conn, "SELECT %s::jsonb", (json.dumps({"name": NAME, "note": "\x00"}),)),
        ]
    assert [type(e).__name__ for e in found] == [
        "NotNullViolation",
        "CheckViolation",
        "UniqueViolation",
        "UntranslatableCharacter",
    ]
    assert all(NAME in str(e) or PHONE in str(e) for e in found)  # what must not be logged
    return found


def test_a_database_error_is_logged_without_the_values_postgresql_quoted(
    database_url: str, logged: Callable[[], str]
) -> None:
    log = logging.getLogger("tests.redaction")
    for exc in _errors(database_url):
        try:
            raise exc
        except psycopg.Error:
            log.exception("the insert failed")
        log.error("the insert failed: %s", exc)
        try:
            try:
                raise exc
            except psycopg.Error as inner:
                raise RuntimeError("the batch failed") from inner
        except RuntimeError:
            log.exception("the batch failed")

    text = logged()
    assert NAME not in text and PHONE not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 12
    # What an operator needs stays: the error, the constraint, where PostgreSQL refused.
    assert 'violates check constraint \\"firms_employees_positive\\"' in text
    assert 'null value in column \\"employees\\" of relation \\"firms\\"' in text
    assert "DETAIL:  [withheld]" in text and "CONTEXT:  [withheld]" in text
    assert "psycopg.errors.UniqueViolation" in lines[6]["exc"]


def test_a_failed_actor_is_logged_by_name_message_and_outbox_row_only(
    database_url: str, logged: Callable[[], str]
) -> None:
    broker = StubBroker(middleware=[Retries(max_retries=0)])

    @dramatiq.actor(broker=broker, actor_name="register_entry", queue_name="dict")
    def register_entry(key: str, name: str) -> None:
        with db.connect(database_url) as conn:
            conn.execute(FIRMS)
            conn.execute("INSERT INTO firms VALUES (%s, %s, -1)", (key, name))

    message = register_entry.message_with_options(args=(PHONE, NAME), outbox_id=42)
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        broker.enqueue(message)
        broker.join("dict", timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
        broker.close()

    text = logged()
    assert NAME not in text and PHONE not in text
    (failed,) = [
        line
        for line in map(json.loads, text.splitlines())
        if line["msg"].startswith("Failed to process message")
    ]
    assert failed["msg"] == (
        "Failed to process message register_entry(<2 args>) with unhandled exception."
    )
    assert (failed["message_id"], failed["outbox_id"]) == (message.message_id, 42)
    assert "CheckViolation" in failed["exc"] and "firms_employees_positive" in failed["exc"]
