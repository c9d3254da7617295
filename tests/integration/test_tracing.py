"""Traces from the API request through the outbox row to the actor and its DICT call.

Given tracing on in this process (an in-memory exporter, as ``OTEL_TRACES_EXPORTER``
would install OTLP), a registration through the API writes its outbox row with the
request's trace context, and the worker (a real Dramatiq ``Worker`` on the test's Redis,
with the worker's middleware and the real ``register_entry`` actor, calling the
simulated DICT) continues that trace: request → actor → bridge call, one trace. Given
tracing off (the default), nothing of it is written or recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
import redis as redis_lib
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware, SkipMessage
from litestar.testing import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from actors.middleware import OutboxMiddleware, TracingMiddleware
from app import db, outbox, queue, settings, tracing
from app.api.app import create_app
from app.bridge.client import DictClient
from app.domain import problems
from app.security import create_api_key
from simulator.server import SimulatorHandle
from tests.integration.api.conftest import bearer
from tests.integration.bridge.builders import create, entry

CPF = "52998224725"
NAME = "Maria da Silva"
BODY: dict[str, Any] = {
    "key_type": "CPF",
    "key": CPF,
    "account": {
        "participant": "12345678",
        "branch": "1",
        "account_number": "123456",
        "account_type": "CACC",
        "opening_date": "2020-03-01T03:00:00Z",
    },
    "owner": {"type": "NATURAL_PERSON", "tax_id": CPF, "name": NAME},
}


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, every span kept in memory."""
    tracing.reset()
    exporter = InMemorySpanExporter()
    assert tracing.configure("test", exporter=exporter)
    yield exporter
    tracing.reset()


@pytest.fixture(scope="module")
def stray() -> InMemorySpanExporter:
    """Spans made through OpenTelemetry's global provider: what an instrumentation left
    installed while tracing is off would record."""
    exporter = InMemorySpanExporter()
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def api(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient[Any]]:
    """The API as ``dict-connect api`` builds it (tracing as this process has it)."""
    monkeypatch.setenv("PARTICIPANT_ISPB", "12345678")
    settings.reset()
    queue.broker.cache_clear()
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(conn, "tracing", ["entries:read", "entries:write"])
    with TestClient(create_app()) as client:
        client.headers.update(bearer(key))
        yield client
    queue.broker.cache_clear()


@pytest.fixture
def worker(
    sim: SimulatorHandle, database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], None]]:
    """``run()`` works the ``dict`` queue until it is empty, as ``dict-connect worker``
    does: Redis, the worker's middleware, the real ``register_entry`` against the
    simulated DICT."""
    from actors import entries

    monkeypatch.setenv("BRIDGE_ADDRESS", sim.address)
    monkeypatch.setenv("DICT_LIMITER", "off")
    settings.reset()
    entries.client.cache_clear()
    queue.broker.cache_clear()
    broker = queue.broker()
    broker.add_middleware(TracingMiddleware("test"))
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(OutboxMiddleware())
    dramatiq.actor(
        entries.register_entry.fn, broker=broker, actor_name="register_entry", queue_name="dict"
    )

    def run() -> None:
        w = dramatiq.Worker(broker, queues={"dict"}, worker_threads=1, worker_timeout=100)
        w.start()
        try:
            broker.join("dict", timeout=20_000)
        finally:
            w.stop()

    yield run
    entries.client().close()
    entries.client.cache_clear()
    queue.broker.cache_clear()


# --- helpers ------------------------------------------------------------------------


def rows(database_url: str) -> list[dict[str, Any]]:
    with db.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, actor, status, trace_context FROM outbox ORDER BY id"
        ).fetchall()


def parts(traceparent: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C traceparent, in hex."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    return trace_id, span_id


def ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def parent_of(span: ReadableSpan) -> str:
    assert span.parent is not None, f"{span.name} has no parent"
    return format(span.parent.span_id, "016x")


def named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (found,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return found


def no_customer_data(exporter: InMemorySpanExporter) -> None:
    for span in exporter.get_finished_spans():
        values = " ".join(str(v) for v in (span.attributes or {}).values())
        assert CPF not in values and NAME not in values and "Maria" not in values, span.name
        assert CPF not in span.name


# --- tests --------------------------------------------------------------------------


def test_the_registrations_outbox_row_carries_the_request_span(
    spans: InMemorySpanExporter, api: TestClient[Any], database_url: str
) -> None:
    r = api.post("/v1/entries", json=BODY)
    assert r.status_code == 202, r.text
    (row,) = rows(database_url)
    assert row["actor"] == "register_entry"
    request = named(spans, "POST /v1/entries")
    assert request.kind == SpanKind.SERVER
    assert parts(row["trace_context"]) == ids(request)  # the request span is its parent
    assert api.get(f"/v1/entries/{CPF}").status_code == 200
    read = named(spans, "GET /v1/entries/{ref}")
    assert read.attributes is not None and read.attributes["http.route"] == "/v1/entries/{ref}"
    no_customer_data(spans)  # the key in the path is not on the span
    spans.clear()
    assert api.get("/health").status_code == 200
    assert spans.get_finished_spans() == ()  # probes make no span


def test_the_actor_and_its_dict_call_continue_the_requests_trace(
    spans: InMemorySpanExporter,
    api: TestClient[Any],
    worker: Callable[[], None],
    database_url: str,
) -> None:
    assert api.post("/v1/entries", json=BODY).status_code == 202
    (registration,) = rows(database_url)
    trace_id, request_span = parts(registration["trace_context"])

    worker()  # the message the API enqueued, through Redis and the worker's middleware

    actor = named(spans, "actor register_entry")
    call = named(spans, "dict.bridge.v1.DictBridge/CreateEntry")
    assert actor.kind == SpanKind.CONSUMER and call.kind == SpanKind.CLIENT
    assert ids(actor)[0] == ids(call)[0] == trace_id  # one trace, request to DICT
    assert parent_of(actor) == request_span
    assert parent_of(call) == ids(actor)[1]
    assert actor.attributes is not None and actor.attributes["dict.outbox_id"] == registration["id"]
    assert call.attributes is not None and call.attributes["rpc.method"] == "CreateEntry"
    assert call.status.status_code == StatusCode.UNSET
    step = named(spans, "outbox.step")  # the actor's transaction applying the answer
    assert parent_of(step) == ids(actor)[1]
    after = rows(database_url)
    assert after[0]["status"] == "done"
    (event,) = [r for r in after if r["actor"] == "publish_event"]
    assert parts(event["trace_context"]) == (trace_id, ids(step)[1])  # and on to the event
    no_customer_data(spans)


def test_the_relay_hands_the_row_on_with_its_trace_context(
    spans: InMemorySpanExporter, api: TestClient[Any], database_url: str, redis_url: str
) -> None:
    assert api.post("/v1/entries", json=BODY).status_code == 202
    (row,) = rows(database_url)
    r = redis_lib.Redis.from_url(redis_url)
    r.flushdb()  # the API's message is lost: only the lease brings the row back
    with db.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE outbox SET lease_until = now() - interval '1 second'")
    assert outbox.relay_tick() == 1
    (raw,) = r.hvals("dramatiq:dict.msgs")
    message = dramatiq.Message.decode(raw)
    assert message.options["outbox_id"] == row["id"]
    assert message.options["trace_context"] == row["trace_context"]


def test_a_refused_call_names_the_dicts_problem_on_its_span(
    spans: InMemorySpanExporter, ours: DictClient, theirs: DictClient
) -> None:
    theirs.create_entry(create(entry("PHONE", participant="87654321")))
    with pytest.raises(problems.EntryKeyInCustodyOfDifferentParticipant):
        ours.create_entry(create(entry("PHONE")))
    accepted, refused = spans.get_finished_spans()
    assert refused.attributes is not None
    assert refused.attributes["dict.problem_type"] == "EntryKeyInCustodyOfDifferentParticipant"
    assert refused.status.status_code == StatusCode.ERROR
    assert accepted.attributes is not None and "dict.problem_type" not in accepted.attributes
    assert accepted.status.status_code == StatusCode.UNSET
    for span in (accepted, refused):  # the phone number and the owner stay out
        assert "+55119" not in " ".join(str(v) for v in (span.attributes or {}).values())


def test_with_tracing_off_nothing_is_written_or_recorded(
    stray: InMemorySpanExporter,
    api: TestClient[Any],
    worker: Callable[[], None],
    database_url: str,
) -> None:
    assert not tracing.enabled()
    stray.clear()
    assert api.post("/v1/entries", json=BODY).status_code == 202
    worker()
    after = rows(database_url)
    assert after[0]["status"] == "done" and len(after) == 2  # the call ran, its event waits
    assert [r["trace_context"] for r in after] == [None, None]
    assert stray.get_finished_spans() == ()


class _TooLate(Middleware):
    """Skips the actor ``late`` after the tracing middleware started its span, as
    periodiq skips a cron tick that arrives too late."""

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.actor_name == "late":
            raise SkipMessage("too late")


def test_a_skipped_message_ends_its_span_and_leaves_no_context_behind(
    spans: InMemorySpanExporter,
) -> None:
    broker = StubBroker()
    broker.add_middleware(TracingMiddleware("test"))
    broker.add_middleware(_TooLate())
    ran: list[str] = []
    late = dramatiq.actor(lambda: ran.append("late"), broker=broker, actor_name="late")
    then = dramatiq.actor(lambda: ran.append("then"), broker=broker, actor_name="then")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        for actor in (late, then):  # one after the other, on the same worker thread
            broker.enqueue(actor.message())
            broker.join("default", timeout=10_000)
    finally:
        worker.stop()
    assert ran == ["then"]
    assert named(spans, "actor late").end_time is not None
    assert named(spans, "actor then").parent is None  # its own trace, not the skipped one's
