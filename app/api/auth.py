"""Bearer API keys on every route but the open ones, and scopes checked by guards.

``ApiKeyMiddleware`` authenticates (who is calling: 401 when nobody valid is);
``requires(scope)`` authorises (may this key do this: 403). The middleware sits on
the router that holds every resource controller (``app.api.app``), so a new
controller is protected without remembering to be; ``/health``, ``/ready``,
``/metrics`` and ``/schema`` live outside that router and stay open.

A verified key is kept in process memory for ``CACHE_SECONDS``: at the request
rates the API must sustain, a database round trip per request for the same few
keys would cost more than the handler. The price is that a revocation takes up to
that long to bite. The cache is keyed by a SHA-256 of the presented token, so the
plaintext is not kept, and failures are cached too so a client hammering with a
bad key does not hammer the database.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import psycopg
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Guard
from psycopg_pool import PoolTimeout

from app import db, security
from app.api.errors import FieldError, Forbidden, Unauthorized
from app.security import ApiKey

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
"""How long a verified (or refused) key is trusted without asking the database."""
CACHE_MAX = 10_000
"""Entries before the cache is emptied: bounds memory against random bad keys."""

DB_TIMEOUT_S = db.POOL_TIMEOUT_S
"""Wait at most this for a pooled connection; past it a stale key or a 503 (the request
still has its own database work to fail fast on within 2 s)."""
DOWN_SECONDS = 1.0
"""After the database failed a key check, checks are skipped this long (each would wait
``DB_TIMEOUT_S``, one after another): a stale key is trusted, an unknown one gets 503."""
STALE_SECONDS = 300.0
"""While the database cannot be asked, a key verified valid within this long is still
trusted (re-checked every ``CACHE_SECONDS``): key lookups for payments answer from the
DICT and Redis and must not stop because PostgreSQL did. A revocation cannot be read
during the outage either; it bites when the database answers again."""

BEARER_SCHEME = "BearerAuth"
"""The OpenAPI security scheme name (``app.api.app`` declares it)."""


class _KeyCache:
    """token digest → (expiry on ``clock``, key or None, when it was verified). ``clock``
    is the monotonic clock; tests replace it to pass ``CACHE_SECONDS`` without waiting."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[bytes, tuple[float, ApiKey | None, float]] = {}
        self._lock = threading.Lock()
        self.clock = clock
        self.down_until = 0.0  # on ``clock``: the database failed a check until then

    def get(self, digest: bytes) -> tuple[bool, ApiKey | None]:
        hit = self._items.get(digest)
        if hit is None or hit[0] < self.clock():
            return False, None
        return True, hit[1]

    def put(self, digest: bytes, key: ApiKey | None) -> None:
        with self._lock:
            if len(self._items) >= CACHE_MAX:
                self._items.clear()
            now = self.clock()
            self._items[digest] = (now + CACHE_SECONDS, key, now)

    def stale(self, digest: bytes) -> ApiKey | None:
        """While the database cannot be asked: a key verified valid within
        ``STALE_SECONDS``, trusted for another ``CACHE_SECONDS``; else None."""
        with self._lock:
            hit = self._items.get(digest)
            now = self.clock()
            if hit is None or hit[1] is None or hit[2] + STALE_SECONDS < now:
                return None
            self._items[digest] = (now + CACHE_SECONDS, hit[1], hit[2])
            return hit[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.down_until = 0.0


cache = _KeyCache()


def _bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must read 'Bearer <key>'")
    return token.strip()


_verifying = anyio.Lock()
"""Requests arriving together when a key's cache entry has just expired (a burst of
lookups) wait for one database check instead of each holding a thread for its own."""


def _verify(token: str) -> ApiKey | None:
    with db.pool().connection(timeout=DB_TIMEOUT_S) as conn:
        return security.verify(conn, token)


async def authenticate(token: str) -> ApiKey | None:
    """The live key for ``token``, from the cache or the database (off the event loop)."""
    digest = hashlib.sha256(token.encode()).digest()
    found, key = cache.get(digest)
    if found:
        return key
    async with _verifying:  # one verification at a time: the rest find it cached
        found, key = cache.get(digest)
        if found:
            return key
        return await _verify_or_stale(token, digest)


async def _verify_or_stale(token: str, digest: bytes) -> ApiKey | None:
    try:
        if cache.clock() < cache.down_until:  # requests queued behind ``_verifying``
            raise PoolTimeout("the database failed a key check a moment ago")
        try:
            key = await anyio.to_thread.run_sync(_verify, token)
        except psycopg.OperationalError:
            cache.down_until = cache.clock() + DOWN_SECONDS
            raise
    except (psycopg.OperationalError, PoolTimeout):
        stale = cache.stale(digest)
        if stale is None:
            raise
        log.warning("database unavailable: trusting API key %r as last verified", stale.name)
        return stale
    cache.put(digest, key)
    return key


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    """Puts the caller's ``ApiKey`` in ``request.auth`` (and ``request.user``)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        key = await authenticate(_bearer_token(connection))
        if key is None:
            raise Unauthorized("the API key is unknown or revoked")
        return AuthenticationResult(user=key, auth=key)


def current_key(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The authenticated caller; 401 if the route was somehow reached without one."""
    key = connection.scope.get("auth")
    if not isinstance(key, ApiKey):
        raise Unauthorized("a valid API key is required")
    return key


def requires(scope: str) -> Guard:
    """A guard admitting keys that hold ``scope`` (or ``admin``).

    Use at controller or route level: ``guards=[requires("entries:write")]``.
    Guards are coroutines on purpose: Litestar runs a plain function guard in a
    worker thread, a hop that costs more than the check. The scope is declared to
    ``app.security`` (``declare_scope``): keys may then be created holding it.
    """
    security.declare_scope(scope)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        key = current_key(connection)
        if not key.allows(scope):
            raise Forbidden(
                f"this API key lacks the scope {scope!r}",
                errors=[FieldError("Authorization", "scope", f"requires scope {scope!r}")],
            )

    guard.__name__ = guard.__qualname__ = f"requires_{scope.replace(':', '_')}"
    guard.required_scope = scope  # type: ignore[attr-defined]
    return guard


async def authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A guard for the secured router: fail closed even if the middleware was skipped."""
    current_key(connection)
