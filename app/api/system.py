"""``/health``, ``/ready`` and ``/metrics``: open routes for orchestrators and Prometheus.

``/health`` answers 200 as long as the process serves HTTP (liveness: restarting
will not fix a database outage, so it checks nothing). ``/ready`` says whether this
replica can do useful work now (Postgres, Redis, the bridge) so the load balancer
routes around it when it cannot; each check has a short timeout and the bridge
probe is cached for 2 s, because readiness is polled often and must stay cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

import msgspec
import redis as redis_lib
from litestar import Controller, MediaType, Response, get
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prom_multiprocess
from psycopg_pool import ConnectionPool

from app import db, outbox, settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 1.0
BRIDGE_CACHE_S = 2.0


class Health(msgspec.Struct):
    status: str


class Checks(msgspec.Struct):
    postgres: bool
    redis: bool
    bridge: bool


class Readiness(msgspec.Struct):
    status: str
    """``ready`` or ``unavailable``."""
    checks: Checks


def postgres_ready() -> bool:
    try:
        with db.pool().connection(timeout=CHECK_TIMEOUT_S * 2) as conn:
            ConnectionPool.check_connection(conn)  # one round trip, like SELECT 1
        return True
    except Exception:
        return False


_redis: dict[str, redis_lib.Redis] = {}


def redis_ready() -> bool:
    url = settings.redis().url
    try:
        client = _redis.get(url)
        if client is None:
            client = _redis[url] = redis_lib.Redis.from_url(
                url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
            )
        return bool(client.ping())
    except Exception:
        return False


class _BridgeProbe:
    """The bridge client's ``wait_ready``, remembered for ``BRIDGE_CACHE_S``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._ok = False
        self._client: Any = None

    def __call__(self) -> bool:
        if time.monotonic() < self._until:
            return self._ok
        with self._lock:
            if time.monotonic() >= self._until:
                self._ok = self._probe()
                self._until = time.monotonic() + BRIDGE_CACHE_S
            return self._ok

    def _probe(self) -> bool:
        try:
            if self._client is None:
                from app.bridge.client import DictClient

                self._client = DictClient.from_settings()
            return bool(self._client.wait_ready(CHECK_TIMEOUT_S))
        except Exception:
            return False

    def reset(self) -> None:
        """Forget the cached answer and client (settings changed, or shutdown)."""
        with self._lock:
            client, self._client, self._until = self._client, None, 0.0
        close = getattr(client, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):  # a broken channel must not fail shutdown
                close()


_bridge_probe = _BridgeProbe()
bridge_ready = _bridge_probe
"""``bridge_ready() -> bool``: False on any exception; cached 2 s."""


def close_clients() -> None:
    """Shutdown hook (and tests): drop the probes' connections and cached answers."""
    _bridge_probe.reset()
    for client in _redis.values():
        client.close()
    _redis.clear()


class SystemController(Controller):
    """Open routes: no API key (they are not under the secured router)."""

    tags = ["system"]

    @get("/health", operation_id="health", summary="Liveness")
    async def health(self) -> Health:
        """Always 200 while the process serves requests."""
        return Health("ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="Readiness",
        sync_to_thread=True,
        responses={503: ResponseSpec(Readiness, description="A dependency does not answer")},
    )
    def ready(self) -> Response[Readiness]:
        """200 when Postgres, Redis and the bridge answer; 503 otherwise."""
        checks = Checks(postgres=postgres_ready(), redis=redis_ready(), bridge=bridge_ready())
        ok = checks.postgres and checks.redis and checks.bridge
        return Response(
            Readiness("ready" if ok else "unavailable", checks), status_code=200 if ok else 503
        )

    @get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics",
        media_type=MediaType.TEXT,
        sync_to_thread=True,
    )
    def metrics(self) -> Response[bytes]:
        """Text exposition of the default registry (all processes' in multiprocess mode)."""
        registry: CollectorRegistry = REGISTRY
        if prom_multiprocess_dir():
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry) + _backlog_metrics()
        # The header, not media_type: Litestar would append a second charset.
        return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


_backlog_registry = CollectorRegistry(auto_describe=False)
_backlog_registry.register(outbox.BacklogCollector())  # type: ignore[arg-type]


def _backlog_metrics() -> bytes:
    """The outbox gauges; absent (not an error page) while Postgres is down."""
    try:
        return generate_latest(_backlog_registry)
    except Exception:
        log.warning("outbox backlog metrics unavailable", exc_info=True)
        return b""


def prom_multiprocess_dir() -> bool:
    """Whether prometheus-client runs in multiprocess mode (several API workers).

    The variable is prometheus-client's own switch, not a dict-connect setting.
    """
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
