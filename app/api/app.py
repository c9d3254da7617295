"""``create_app()``: the whole API composed in one place.

Two kinds of routes. Open ones (``/health``, ``/ready``, ``/metrics``, ``/schema``)
sit on the app itself. Everything else sits on one secured router that carries
the API-key middleware, the ``authenticated`` guard, the idempotency middleware
and the OpenAPI bearer requirement: a controller added there cannot forget auth.

Middleware, outermost first: request id and access log → HTTP metrics → problem
boundary (renders what the inner middleware raise) → [secured router] API key →
Idempotency-Key → the handler (whose exceptions Litestar renders through
``errors.exception_handlers()``).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
from collections.abc import Sequence

from litestar import Litestar, Router
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler

from app import db
from app.api import auth, errors, observability, openapi, system
from app.api.idempotency import IdempotencyMiddleware
from app.logging import configure_logging, is_configured
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
            DefineMiddleware(IdempotencyMiddleware),
        ],
        guards=[auth.authenticated],
        security=[{auth.BEARER_SCHEME: []}],
    )
    return Litestar(
        route_handlers=[system.SystemController, openapi.assets(), secured],
        middleware=[
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
        debug=debug,
    )
