"""OpenTelemetry traces: from the API request through the outbox row to the actor and
its calls to the DICT. Off unless ``OTEL_TRACES_EXPORTER`` says otherwise.

Every process calls ``configure(process)`` once (the API in ``create_app``, each worker
process at boot through ``actors.middleware.TracingMiddleware``). The standard OTEL_*
variables drive it: ``OTEL_TRACES_EXPORTER=otlp`` exports over OTLP/gRPC to
``OTEL_EXPORTER_OTLP_ENDPOINT`` (``console`` prints spans, for a look in development);
``OTEL_SERVICE_NAME`` defaults to ``dict-connect-<process>``; ``OTEL_TRACES_SAMPLER``,
``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_EXPORTER_OTLP_*`` are read by the SDK itself.
**Difference from the OpenTelemetry default**: an unset ``OTEL_TRACES_EXPORTER`` means
``none`` here, not ``otlp``: a deployment without a collector must not spend anything on
spans nobody receives. ``OTEL_SDK_DISABLED=true`` turns it off whatever the rest says.

Off, every function here returns at its first line: no span object, no context, no
trace context in the outbox (``traceparent()`` is None), no middleware in the API.

How the trace crosses the outbox: ``traceparent()`` is the W3C ``traceparent`` of the
current span; ``app.outbox`` writes it in each row it inserts (``outbox.trace_context``)
and puts it in the row's message options; the worker's ``TracingMiddleware`` starts the
actor's span as its child (``start_actor_span``). A timer carries the context of the
transaction that scheduled it, even if it runs days later.

No customer data in spans: attributes are names of things (an actor, an RPC, a route
template, a DICT problem type) and our ids, never a key, a tax id or a name, and
exceptions are recorded by type only (their messages may quote a key).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

CLIENT = SpanKind.CLIENT
EXPORTERS = ("otlp", "console")
"""The values of ``OTEL_TRACES_EXPORTER`` that turn tracing on (unset, ``none``: off)."""

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_tracer: Tracer | None = None
_OFF: AbstractContextManager[None] = nullcontext()


def configure(process: str, *, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on in this process if the environment says so (or ``exporter`` is
    given: tests pass an in-memory one, exported span by span); True when on. Calling
    it again does nothing."""
    global _provider, _tracer
    if _tracer is not None:
        return True
    if exporter is None:
        exporter = exporter_from_env()
        if exporter is None:
            return False
        batched = True
    else:
        batched = False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"dict-connect-{process}"}))
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER
    provider.add_span_processor(
        BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter)
    )
    _provider, _tracer = provider, provider.get_tracer("dict-connect")
    log.info("tracing on", extra={"exporter": type(exporter).__name__})
    return True


def exporter_from_env() -> SpanExporter | None:
    """The exporter ``OTEL_TRACES_EXPORTER`` names, or None (off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() or "none"
    if name == "none":
        return None
    if name not in EXPORTERS:
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: dict-connect knows {EXPORTERS}, none")
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    )
    if protocol != "grpc":
        raise ValueError(f"OTLP protocol {protocol!r}: dict-connect exports traces over grpc only")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _INSECURE…


def enabled() -> bool:
    return _tracer is not None


def provider() -> TracerProvider | None:
    """The process's tracer provider (for the API's ASGI middleware); None when off."""
    return _provider


def reset() -> None:
    """Off again, after flushing what was recorded (tests)."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider = _tracer = None


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, for an outbox row; None when tracing
    is off or no span is current."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def span(
    name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[Span | None]:
    """A span around a block, current inside it (None when off). Exceptions set its
    status by their type (``failed``), never their message."""
    if _tracer is None:
        return _OFF
    return _span(_tracer, name, kind, attributes)


def child_span(
    name: str, attributes: Mapping[str, Any] | None = None
) -> AbstractContextManager[Span | None]:
    """``span``, but only inside a span being recorded: a step of work already traced
    (a transaction of a request or an actor) never starts a trace of its own."""
    if _tracer is None or not trace.get_current_span().is_recording():
        return _OFF
    return _span(_tracer, name, SpanKind.INTERNAL, attributes)


@contextmanager
def _span(
    tracer: Tracer, name: str, kind: SpanKind, attributes: Mapping[str, Any] | None
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            failed(current, type(exc).__name__)
            raise


def failed(current: Span | None, error_type: str) -> None:
    """Mark a span failed with ``error_type`` (an exception's class, a DICT problem type)."""
    if current is not None and current.is_recording():
        current.set_attribute("error.type", error_type)
        current.set_status(Status(StatusCode.ERROR, error_type))


def refused(current: Span | None, problem_type: str) -> None:
    """Name the DICT's problem type on a span (``dict.problem_type``)."""
    if current is not None and current.is_recording():
        current.set_attribute("dict.problem_type", problem_type)


def start_actor_span(
    actor: str, traceparent: str | None, attributes: Mapping[str, Any]
) -> tuple[Span, Token[Context]] | None:
    """Start an actor's span as a child of ``traceparent`` (its outbox row's) and make it
    current; returns what ``end_actor_span`` needs. A message with no trace context (a
    cron tick) starts a trace of its own."""
    if _tracer is None:
        return None
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    current = _tracer.start_span(
        f"actor {actor}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    token = otel_context.attach(trace.set_span_in_context(current))
    return current, token


def end_actor_span(
    started: tuple[Span, Token[Context]],
    error_type: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """End what ``start_actor_span`` started (failed with ``error_type`` if given)."""
    current, token = started
    if attributes:
        current.set_attributes(attributes)
    if error_type is not None:
        failed(current, error_type)
    current.end()
    otel_context.detach(token)
