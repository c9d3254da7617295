"""Request ids, access logs and HTTP metrics: what every request leaves behind.

``RequestIdMiddleware`` is the outermost middleware: it takes the caller's
``X-Request-Id`` (or makes one), puts it in ``app.logging.request_id_var`` so every
log line of the request carries it (including lines from handlers run in worker
threads: anyio copies the context), echoes it on the response and writes one
access-log line. The line names the route template (``/v1/entries/{ref:str}``),
never the concrete path, which may hold a Pix key.

HTTP metrics use Litestar's Prometheus middleware on the default
``prometheus_client`` registry, labelled by route template (``group_path``) so
keys in paths neither leak into metrics nor explode their cardinality.
"""

from __future__ import annotations

import logging
import random
import re
import time

from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import request_id_var

access_log = logging.getLogger("dict_connect.access")

_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

METRICS_PREFIX = "dict_connect_http"
"""Metrics are ``dict_connect_http_requests_total`` and ``…_request_duration_seconds``."""


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="dict-connect",
        prefix=METRICS_PREFIX,
        group_path=True,
        buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
    )


def _log_access(scope: Scope, method: str, status: int, started: float) -> None:
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
    if not access_log.isEnabledFor(level):
        return
    route = scope.get("path_template", "?")
    access_log.log(
        level,
        "%s %s %s",
        method,
        route,
        status,
        extra={
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


def _new_id() -> str:
    """32 random hex digits: a log correlation id, not a secret. Not ``uuid4``: its
    ``os.urandom`` releases the GIL on the event loop's thread, which then waits for the
    batcher's thread to hand it back (up to the 5 ms switch interval), once per request;
    measured at 5 % of the API's samples under load (docs/benchmarks.md). ``random`` is
    reseeded in each forked process."""
    return f"{random.getrandbits(128):032x}"  # not used for security


def _incoming_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            candidate = str(value.decode("latin-1"))
            return candidate if _ACCEPTED_ID.match(candidate) else None
    return None


class RequestIdMiddleware:
    """Sets the request id for logs and the response; logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        request_id = _incoming_id(scope) or _new_id()
        token = request_id_var.set(request_id)
        started, status = time.perf_counter(), 500
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", encoded)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _log_access(scope, method, status, started)
            request_id_var.reset(token)
