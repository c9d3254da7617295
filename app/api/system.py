"""``/health``, ``/ready`` and ``/metrics``: open routes for orchestrators and Prometheus.

``/health`` answers 200 as long as the process serves HTTP (liveness: restarting
will not fix a database outage) and reports, as details, whether the bridge to the
DICT answers. ``/ready`` says whether this replica can accept work now: PostgreSQL
and Redis. Not the bridge: during a DICT outage the API keeps accepting work into the
outbox, which the workers send when the DICT is back (a pod taken out of the load
balancer for the DICT's sake would refuse work that loses nothing by waiting). Each
check has a short timeout and the bridge probe is cached for 2 s, because probes are
polled often and must stay cheap (the checks live in ``app.probes``, which the worker
and the scheduler serve too). The bridge's state is also the gauge ``dict_bridge_up``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

from app import clock, outbox
from app.lookups import metrics as lookup_metrics
from app.probes import bridge_ready, postgres_ready, redis_client, redis_ready
from app.probes import close_clients as close_clients  # the app's shutdown hook

log = logging.getLogger(__name__)


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
    def metrics(self, state: State) -> Response[bytes]:
        """Text exposition of the default registry (all processes' in multiprocess mode),
        the bridge's gauge, the database's gauges (``DatabaseGauges``: at most once per
        ``DB_GAUGES_EVERY_S``) and the lookups' Redis gauges."""
        registry: CollectorRegistry = REGISTRY
        if prom_multiprocess_dir():
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = (
            generate_latest(registry)
            + generate_latest(_bridge_registry)
            + state.db_gauges()
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


DB_GAUGES_EVERY_S = 15.0
"""How often one API process reads the database's gauges at most. ``/metrics`` is open
(no API key), so a scraper, or anyone, calling it in a loop costs PostgreSQL one round
of those queries per interval, not one per call; Prometheus scrapes every 15-30 s, so
the gauges are as fresh as before."""


class DatabaseGauges:
    """``_backlog_metrics`` computed on an interval: a scrape within ``every_s`` of the
    last computation gets its text (an outage's empty text too, so a down database is
    not asked again on every scrape); one scrape at a time computes, the others wait for
    its answer. One per app (``app.state.db_gauges``)."""

    def __init__(self, every_s: float = DB_GAUGES_EVERY_S) -> None:
        self.every_s = every_s
        self._lock = threading.Lock()
        self._at = -math.inf
        self._text = b""

    def __call__(self) -> bytes:
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.every_s:
                self._text, self._at = _backlog_metrics(), now
            return self._text


_lookup_registry = CollectorRegistry(auto_describe=False)
_lookup_registry.register(lookup_metrics.RedisCollector(redis_client, clock.now))


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
