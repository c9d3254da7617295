"""Idempotency-Key on POST: replay the first answer, refuse a different request."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from litestar import post
from litestar.params import JSONBody
from litestar.testing import TestClient

from app import clock, db
from app.api.app import create_app
from app.api.auth import requires
from tests.integration.api.conftest import TEST_ROUTES, EchoIn, EchoOut, Executions, bearer


class Gate:
    """Holds ``/test/gated`` inside its handler: ``entered`` is set once the handler
    runs (the request holds its Idempotency-Key), and it answers once ``release`` is."""

    entered = threading.Event()
    release = threading.Event()


@post("/test/gated", operation_id="testGated", guards=[requires("test:write")], sync_to_thread=True)
def gated(data: JSONBody[EchoIn]) -> EchoOut:
    Executions.count += 1
    Gate.entered.set()
    assert Gate.release.wait(30), "the test never released the handler"
    return EchoOut(data.text, data.n, Executions.count, uuid.uuid4().hex)


@pytest.fixture
def gated_client(database_url: str, redis_url: str) -> Iterator[TestClient[Any]]:
    Gate.entered, Gate.release = threading.Event(), threading.Event()
    app = create_app(extra_route_handlers=[*TEST_ROUTES, gated], resources=False)
    with TestClient(app) as c:
        yield c
    Gate.release.set()  # never leave a handler thread waiting


def _post(client, key, body, idem="order-1", path="/test/echo"):
    headers = {**bearer(key), **({"Idempotency-Key": idem} if idem else {})}
    return client.post(path, json=body, headers=headers)


def test_the_same_key_and_body_replays_the_first_answer_without_executing(client, make_key) -> None:
    key = make_key("test:write")

    first = _post(client, key, {"text": "hi"})
    again = _post(client, key, {"text": "hi"})

    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # same nonce: not executed twice
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert Executions.count == 1


def test_the_same_key_with_another_body_is_422_naming_the_header(client, make_key) -> None:
    key = make_key("test:write")
    _post(client, key, {"text": "hi"})

    r = _post(client, key, {"text": "bye"})

    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [
        {
            "field": "Idempotency-Key",
            "rule": "idempotency_key_reused",
            "message": "this key was first used with a different method, path or body",
        }
    ]
    assert Executions.count == 1


def test_without_the_header_every_post_executes(client, make_key) -> None:
    key = make_key("test:write")

    a, b = (
        _post(client, key, {"text": "hi"}, idem=None),
        _post(client, key, {"text": "hi"}, idem=None),
    )

    assert a.json()["nonce"] != b.json()["nonce"]
    assert Executions.count == 2


def test_keys_belong_to_one_api_key(client, make_key) -> None:
    alice, bob = make_key("test:write"), make_key("test:write")

    a, b = _post(client, alice, {"text": "hi"}), _post(client, bob, {"text": "hi"})

    assert a.json()["nonce"] != b.json()["nonce"]


def test_a_refused_request_releases_the_key_for_a_corrected_body(client, make_key) -> None:
    key = make_key("test:write")

    refused = _post(client, key, {"text": 1})
    corrected = _post(client, key, {"text": "one"})
    again = _post(client, key, {"text": "one"})

    assert (refused.status_code, corrected.status_code, again.status_code) == (422, 201, 201)
    assert again.content == corrected.content
    assert Executions.count == 1


def test_concurrent_duplicates_do_not_both_execute(gated_client, make_key) -> None:
    client, key = gated_client, make_key("test:write")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, client, key, {"text": "hi"}, "dup", "/test/gated")
        assert Gate.entered.wait(10), "the first request never reached its handler"
        duplicate = _post(client, key, {"text": "hi"}, idem="dup", path="/test/gated")
        Gate.release.set()
        first_answer = first.result()
    after = _post(client, key, {"text": "hi"}, idem="dup", path="/test/gated")

    assert duplicate.status_code == 409
    assert duplicate.json()["type"] == "https://dict-connect/problems/idempotency-key-in-progress"
    assert first_answer.status_code == 201
    assert after.content == first_answer.content
    assert Executions.count == 1


def test_a_request_still_running_is_409_and_a_dead_one_is_taken_over(
    client, make_key, database_url
) -> None:
    key = make_key("test:write")
    first = _post(client, key, {"text": "hi"}, idem="other")  # creates the api key id row
    assert first.status_code == 201
    with psycopg.connect(database_url, autocommit=True) as conn:
        (key_id,) = conn.execute("SELECT id FROM api_keys").fetchone()
        body_hash = conn.execute(
            "SELECT body_hash FROM idempotency_keys WHERE key = 'other'"
        ).fetchone()[0]
        conn.execute(  # a placeholder as the first request leaves it while running
            "INSERT INTO idempotency_keys (api_key_id, key, method, path, body_hash, created_at)"
            " VALUES (%s, 'running', 'POST', '/test/echo', %s, %s)",
            (key_id, body_hash, clock.now()),
        )

    running = _post(client, key, {"text": "hi"}, idem="running")
    assert running.status_code == 409
    assert running.json()["errors"][0]["rule"] == "idempotency_key_in_progress"
    assert running.headers["retry-after"] == "1"

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = created_at - interval '2 minutes'")
    taken_over = _post(client, key, {"text": "hi"}, idem="running")
    assert taken_over.status_code == 201
    assert Executions.count == 2


def test_a_5xx_answer_is_not_kept_so_a_retry_executes(client, make_key, database_url) -> None:
    key = make_key("test:write")

    first = _post(client, key, {"text": "hi"}, idem="boom", path="/test/explode")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0]
    retry = _post(client, key, {"text": "hi"}, idem="boom", path="/test/explode")

    assert first.status_code == retry.status_code == 500
    assert rows == 0
    assert Executions.count == 2


def test_prune_forgets_answers_older_than_a_day(client, make_key, database_url) -> None:
    key = make_key("test:write")
    _post(client, key, {"text": "hi"})

    with psycopg.connect(database_url, autocommit=True) as conn:
        kept = conn.execute(db.q("idempotency.prune"), {"now": clock.now()}).rowcount
        pruned = conn.execute(
            db.q("idempotency.prune"), {"now": clock.now() + timedelta(hours=25)}
        ).rowcount

    assert (kept, pruned) == (0, 1)
