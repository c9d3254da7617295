"""Every route of the API, fuzzed from its own OpenAPI schema: no answer is a server
error, and every answer is one the schema documents (status code, content type, body).

Schemathesis reads ``/schema/openapi.json`` from the app in this process (ASGI, no
socket) and, for every operation, sends requests generated from it: examples, the
boundaries and wrong types of every parameter (coverage phase) and random valid and
invalid inputs (fuzzing), each with an API key holding every scope, so the requests
reach the handlers. The app has a clean migrated database, its own Redis db and the
DICT simulator behind the bridge, as in production; nothing is mocked.

The run is deterministic (fixed seed, derandomized): CI sends the same requests every
time. Bench size, many more random examples per operation::

    FAULTS_SIZE=bench TEST_REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/pytest -q tests/faults/test_schemathesis.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import db, queue
from app import settings as app_settings
from app.api import auth, system
from app.api.app import create_app
from app.security import create_api_key, known_scopes
from simulator.server import SimulatorHandle
from tests.simulator_fixtures import OURS

SIZE = os.environ.get("FAULTS_SIZE", "ci")
MAX_EXAMPLES = {"ci": 8, "bench": 300}[SIZE]
"""Random examples per operation in the fuzzing phase (the examples and coverage
phases add their own, a few dozen per operation)."""
SEED = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


schema = schemathesis.openapi.from_asgi("/schema/openapi.json", create_app())
"""The schema as the API serves it. Reading it needs no database: the app that serves
the requests is made per test (``api``), once the test's database and Redis are set."""
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
schema.config.seed = SEED


@pytest.fixture
def api(
    database_url: str, redis_url: str, sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Litestar, dict[str, str]]]:
    """The app on a clean database, and the header of an API key holding every scope."""
    monkeypatch.setenv("BRIDGE_ADDRESS", sim.address)
    monkeypatch.setenv("PARTICIPANT_ISPB", OURS)
    _forget_clients()
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(conn, "schemathesis", known_scopes())
    yield create_app(), {"Authorization": f"Bearer {key}"}
    asgi.shutdown_lifespans()  # the apps' on_shutdown, as a server stopping runs it
    _forget_clients()


def _forget_clients() -> None:
    app_settings.reset()
    db.close_pool()
    queue.broker.cache_clear()
    auth.cache.clear()
    system.close_clients()


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one app per operation
def test_every_route_answers_as_documented_and_never_5xx(
    case: schemathesis.Case[Any], api: tuple[Litestar, dict[str, str]]
) -> None:
    app, headers = api
    case.call_and_validate(app=app, headers=headers, checks=CHECKS)
