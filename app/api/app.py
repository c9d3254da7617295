"""``create_app()``: the whole API composed in one place.

Two kinds of routes. Open ones (``/health``, ``/ready``, ``/metrics``, ``/schema``)
sit on the app itself. Everything else sits on one secured router that carries
the API-key middleware, the ``authenticated`` guard, the idempotency middleware
and the OpenAPI bearer requirement: a controller added there cannot forget auth.

Middleware, outermost first: [when tracing is on] the request's span → request id and
access log → HTTP metrics → problem boundary (renders what the inner middleware raise)
→ [secured router] API key → input guard (``app.api.inputs``: what the database cannot
store is a 4xx naming the field) → Idempotency-Key → the handler (whose exceptions
Litestar renders through ``errors.exception_handlers()``).

The request's span (Litestar's OpenTelemetry middleware, ``app.tracing``) is named by
route template (``POST /v1/entries``); the concrete path and the query, which may hold a
Pix key or a tax id, are replaced by the template on the span (``_redact``). Probes and
metrics scrapes make no span. With tracing off the middleware is not installed at all.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, ControllerRouterHandler, Receive, Scope, Send
from opentelemetry.trace import Span, get_current_span

from app import db, tracing
from app.api import auth, errors, inputs, observability, openapi, system
from app.api.idempotency import IdempotencyMiddleware
from app.logging import REDACTED, configure_logging, is_configured
from app.lookups import service as lookups

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
RESOURCES = (
    ("app.api.entries", "EntryController"),
    ("app.api.claims", "ClaimController"),
    ("app.api.sync", "SyncRunController"),
    ("app.api.lookups", "LookupController"),
    ("app.api.infractions", "InfractionReportController"),
    ("app.api.fraud_markers", "FraudMarkerController"),
    ("app.api.refunds", "RefundController"),
    ("app.api.rate_limits", "RateLimitController"),
    ("app.api.events", "EventController"),
)
"""(module, controller) pairs joining the secured router. A module not written yet is
skipped; one that exists but fails to import fails the app, loudly."""


def resource_controllers() -> list[ControllerRouterHandler]:
    """The resource controllers present in this checkout."""
    return [
        getattr(importlib.import_module(module), name)
        for module, name in RESOURCES
        if importlib.util.find_spec(module) is not None
    ]


GC_GEN0_THRESHOLD = 50_000
"""Allocations between young collections (CPython's default is 700). A request
allocates thousands of short-lived objects; at the default the collector runs
several times per request and its pauses were the API's latency tail."""


def _on_startup(app: Litestar) -> None:
    gc.freeze()  # what start-up built lives forever: keep it out of every collection
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    openapi.document_problems(app.openapi_schema)
    log.info("api ready", extra={"routes": len(app.routes)})


UNTRACED = ["^/health$", "^/ready$", "^/metrics$"]
"""Paths that make no span: probes and scrapes, every few seconds, tell a trace nothing."""
_PATH_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full", "url.query")
"""Span attributes of the ASGI instrumentation that hold the concrete path or query."""


def _method(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's first name: Litestar starts it before routing, so only the method."""
    return str(scope.get("method", scope["type"])), {}


def _redact(span: Span, value: str) -> None:
    """Put ``value`` where the instrumentation recorded the path or the query."""
    recorded = getattr(span, "attributes", None) or {}
    for name in _PATH_ATTRIBUTES:
        if name in recorded:
            span.set_attribute(name, value)


class RouteOnSpan:
    """Once routed, the request's span is named by route template (``POST /v1/entries``)
    and records the template where the instrumentation put the path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = get_current_span()
        if span.is_recording() and scope["type"] == ScopeType.HTTP:
            template = scope["path_template"]
            span.update_name(f"{scope['method']} {template}")
            span.set_attribute("http.route", template)
            _redact(span, template)
        await self.app(scope, receive, send)


def _tracing_middleware() -> list[DefineMiddleware]:
    """The request's span and its naming, when ``tracing.configure("api")`` turns tracing
    on. Litestar moves its OpenTelemetry middleware outside the router (the span covers
    a 404 too); the path is redacted when the span starts and replaced by the template
    when ``RouteOnSpan`` runs."""
    if not tracing.configure("api"):
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig

    config = OpenTelemetryConfig(
        tracer_provider=tracing.provider(),
        scope_span_details_extractor=_method,
        server_request_hook_handler=lambda span, _: _redact(span, REDACTED),
        exclude=UNTRACED,
        exclude_spans=["receive", "send"],
    )
    return [config.middleware, DefineMiddleware(RouteOnSpan)]


async def _on_shutdown() -> None:
    await lookups.close()
    system.close_clients()
    db.close_pool()


def create_app(
    *,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
    resources: bool = True,
    debug: bool = False,
) -> Litestar:
    """The API. ``extra_route_handlers`` join the secured router (tests use them);
    ``resources=False`` leaves out the resource controllers (tests of the plumbing)."""
    if not is_configured():
        configure_logging("api")
    secured = Router(
        path="/",
        route_handlers=[*(resource_controllers() if resources else ()), *extra_route_handlers],
        middleware=[
            DefineMiddleware(auth.ApiKeyMiddleware),
            DefineMiddleware(inputs.InputGuard),
            DefineMiddleware(IdempotencyMiddleware),
        ],
        guards=[auth.authenticated],
        security=[{auth.BEARER_SCHEME: []}],
    )
    return Litestar(
        route_handlers=[system.SystemController, openapi.assets(), secured],
        middleware=[
            *_tracing_middleware(),
            DefineMiddleware(observability.RequestIdMiddleware),
            observability.prometheus_config().middleware,
            DefineMiddleware(errors.ProblemBoundary),
        ],
        exception_handlers=errors.exception_handlers(),
        openapi_config=openapi.config(API_VERSION),
        on_startup=[_on_startup],
        on_shutdown=[_on_shutdown],
        logging_config=None,
        request_max_body_size=errors.MAX_BODY_BYTES,
        state=State({"db_gauges": system.DatabaseGauges()}),
        debug=debug,
    )
