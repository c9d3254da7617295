"""The API against a real PostgreSQL and Redis, through Litestar's TestClient.

Routes defined here join the secured router through ``extra_route_handlers``, so
auth, idempotency and error mapping are proven on handlers that do nothing else.
The resource controllers are left out (``resources=False``): they have their own
tests, and these must not depend on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar import get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import TestClient

from app import db
from app.api import auth, system
from app.api.app import create_app
from app.api.auth import requires
from app.api.errors import NotFoundError
from app.domain.problems import EntryAlreadyExists, RateLimited
from app.security import create_api_key

# --- routes that exist only in these tests ----------------------------------------


class EchoIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    n: int = 0


class EchoOut(msgspec.Struct):
    text: str
    n: int
    execution: int
    nonce: str


class Conflicting(Exception):
    """Shaped like statemachines.core.IllegalTrigger, without importing it."""

    def __init__(self) -> None:
        super().__init__("entry e1 is deleting: 'update' is not allowed")
        self.detail = str(self)
        self.current, self.allowed = "deleting", ["confirm_deleted", "reject"]


class Executions:
    count = 0


@post("/test/echo", operation_id="testEcho", guards=[requires("test:write")])
async def echo(data: JSONBody[EchoIn]) -> EchoOut:
    Executions.count += 1
    return EchoOut(data.text, data.n, Executions.count, uuid.uuid4().hex)


@get("/test/read", operation_id="testRead", guards=[requires("test:read")])
async def read() -> dict[str, str]:
    return {"ok": "yes"}


@get("/test/dict-problem", operation_id="testDictProblem")
async def dict_problem() -> None:
    raise EntryAlreadyExists("the key already exists", violations=[("key", "already_exists")])


@get("/test/rate-limited", operation_id="testRateLimited")
async def rate_limited() -> None:
    raise RateLimited("bucket empty", retry_after_s=2.4)


@get("/test/conflict", operation_id="testConflict")
async def conflict() -> None:
    raise Conflicting()


@get("/test/missing/{ref:str}", operation_id="testMissing")
async def missing(ref: FromPath[str]) -> None:
    raise NotFoundError("entry", ref)


@get("/test/boom", operation_id="testBoom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


@post("/test/explode", operation_id="testExplode", guards=[requires("test:write")])
async def explode(data: JSONBody[EchoIn]) -> None:
    Executions.count += 1
    raise RuntimeError("the database fell over")


@get("/test/redis-down/{key:str}", operation_id="testRedisDown")
async def redis_down(key: FromPath[str]) -> None:
    import redis

    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


TEST_ROUTES = [echo, read, dict_problem, rate_limited, conflict, missing, boom, explode, redis_down]


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    auth.cache.clear()
    system.close_clients()
    Executions.count = 0
    yield
    auth.cache.clear()
    system.close_clients()


@pytest.fixture
def client(database_url: str, redis_url: str) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(extra_route_handlers=TEST_ROUTES, resources=False)) as c:
        yield c


@pytest.fixture
def make_key(database_url: str) -> Callable[..., str]:
    """``make_key("test:write", name=…)``: a new API key's plaintext."""

    def make(*scopes: str, name: str | None = None) -> str:
        with db.connect(database_url, autocommit=True) as conn:
            return create_api_key(conn, name or f"k-{uuid.uuid4().hex[:8]}", scopes)

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
