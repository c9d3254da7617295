"""Tracing is off unless the standard OTEL_* settings turn it on (``app.tracing``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from app import tracing

OTEL = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_TRACES_SAMPLER",
)


@pytest.fixture(autouse=True)
def _no_otel_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")  # never reached
    tracing.reset()
    yield
    tracing.reset()


def test_off_by_default_nothing_is_traced() -> None:
    assert tracing.exporter_from_env() is None
    assert tracing.configure("api") is False
    assert not tracing.enabled() and tracing.provider() is None
    with tracing.span("anything") as span:
        assert span is None
    assert tracing.traceparent() is None
    assert tracing.start_actor_span("register_entry", None, {}) is None


@pytest.mark.parametrize("value", ["none", "", "NONE"])
def test_none_is_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", value)
    assert tracing.configure("worker") is False


def test_otlp_turns_it_on_named_after_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")  # read by the SDK; nothing sent
    assert isinstance(tracing.exporter_from_env(), OTLPSpanExporter)
    assert tracing.configure("worker") is True
    assert tracing.enabled()
    provider = tracing.provider()
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "dict-connect-worker"
    with tracing.span("a step") as span:
        assert span is not None and not span.is_recording()  # the sampler said no
        parent = tracing.traceparent()
    assert parent is not None and not int(parent[-2:], 16) & 1  # carried on, not sampled


def test_the_standard_service_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "pix-keys-api")
    assert tracing.configure("api")
    provider = tracing.provider()
    assert provider is not None and provider.resource.attributes["service.name"] == "pix-keys-api"


def test_console_prints_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert isinstance(tracing.exporter_from_env(), ConsoleSpanExporter)


def test_the_sdk_switch_turns_it_off_whatever_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.configure("api") is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin"),  # not installed: say so at start-up
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),  # we ship the gRPC exporter only
    ],
)
def test_a_setting_we_cannot_honour_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=value):
        tracing.configure("api")
