"""``/health``, ``/ready`` and ``/metrics``: open routes for orchestrators and Prometheus.

``/health`` answers 200 as long as the process serves HTTP (liveness: restarting
will not fix a database outage) and reports, as details, whether the bridge to the
DICT answers. ``/ready`` says whether this replica can accept work now: PostgreSQL
and Redis. Not the bridge: during a DICT outage the API keeps accepting work into the
outbox, which the workers send when the DICT is back (a pod taken out of the load
balancer for the DICT's sake would refuse work that loses nothing by waiting). Each
check has a short timeout and the bridge probe is cached for 2 s, because probes are
polled often and must stay cheap. The bridge's state is also the gauge
``dict_bridge_up``.
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

from app import clock, db, outbox, settings
from app.lookups import metrics as lookup_metrics

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 1.0
BRIDGE_CACHE_S = 2.0


class HealthDetails(msgspec.Struct):
    bridge: str
    """``up`` when the bridge to the DICT answers, else ``down`` (not a readiness check)."""


class Health(msgspec.Struct):
    status: str
    details: HealthDetails


class Checks(msgspec.Struct):
    postgres: bool
    redis: bool


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


def _redis_client() -> redis_lib.Redis:
    url = settings.redis().url
    client = _redis.get(url)
    if client is None:
        client = _redis[url] = redis_lib.Redis.from_url(
            url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
        )
    return client


def redis_ready() -> bool:
    try:
        return bool(_redis_client().ping())
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

    @get("/health", operation_id="health", summary="Liveness", sync_to_thread=True)
    def health(self) -> Health:
        """Always 200 while the process serves requests; details say if the DICT answers."""
        return Health("ok", HealthDetails(bridge="up" if bridge_ready() else "down"))

    @get(
        "/ready",
        operation_id="ready",
        summary="Readiness",
        sync_to_thread=True,
        responses={503: ResponseSpec(Readiness, description="A dependency does not answer")},
    )
    def ready(self) -> Response[Readiness]:
        """200 when PostgreSQL and Redis answer; 503 otherwise. The bridge is not checked."""
        checks = Checks(postgres=postgres_ready(), redis=redis_ready())
        ok = checks.postgres and checks.redis
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
        body = (
            generate_latest(registry)
            + generate_latest(_bridge_registry)
            + _backlog_metrics()
            + _lookup_metrics()
        )
        # The header, not media_type: Litestar would append a second charset.
        return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _BridgeCollector:
    """``dict_bridge_up``: whether the bridge to the DICT answers, as ``/health`` says."""

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(
            "dict_bridge_up",
            "1 when the bridge to the DICT answers this process (probe cached 2 s)",
            value=float(bridge_ready()),
        )


_bridge_registry = CollectorRegistry(auto_describe=False)
_bridge_registry.register(_BridgeCollector())
_backlog_registry = CollectorRegistry(auto_describe=False)
_backlog_registry.register(outbox.BacklogCollector())


def _backlog_metrics() -> bytes:
    """The outbox gauges; absent (not an error page) while Postgres is down."""
    try:
        return generate_latest(_backlog_registry)
    except Exception:
        log.warning("outbox backlog metrics unavailable", exc_info=True)
        return b""


_lookup_registry = CollectorRegistry(auto_describe=False)
_lookup_registry.register(lookup_metrics.RedisCollector(_redis_client, clock.now))


def _lookup_metrics() -> bytes:
    """The lookups' gauges of shared Redis state; absent while Redis is down."""
    try:
        return generate_latest(_lookup_registry)
    except Exception:
        log.warning("lookup metrics unavailable", exc_info=True)
        return b""


def prom_multiprocess_dir() -> bool:
    """Whether prometheus-client runs in multiprocess mode (several API workers).

    The variable is prometheus-client's own switch, not a dict-connect setting.
    """
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
