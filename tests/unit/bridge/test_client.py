"""The client's shape: one method per RPC of the contract, the retry policy it hands
to gRPC, and its construction. No call leaves the process (channels connect lazily).
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest
from google.protobuf.message import Message

from app import settings
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import CHANNEL_OPTIONS, DictClient

SERVICE = pb.DESCRIPTOR.services_by_name["DictBridge"]
UNARY = [m for m in SERVICE.methods if not m.server_streaming]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Recording(DictClient):
    """Stops at the one call path and records what reached it."""

    def _call(  # type: ignore[override]
        self, rpc_name: str, request: Message, timeout: float | None, response: Any = None
    ) -> Any:
        self.seen = (rpc_name, request, timeout)
        return "answer"


def test_every_rpc_of_the_contract_has_a_method_that_reaches_the_call_path() -> None:
    with Recording("127.0.0.1:1", "12345678") as c:
        for method in UNARY:
            request = getattr(pb, method.input_type.name)()

            answer = getattr(c, snake(method.name))(request, timeout_s=1.5)

            assert answer == "answer"
            assert c.seen == (method.name, request, 1.5)


@pytest.mark.parametrize("method", UNARY, ids=lambda m: m.name)
def test_each_method_is_typed_with_the_contract_messages(method: Any) -> None:
    hints = inspect.get_annotations(getattr(DictClient, snake(method.name)))

    assert hints["request"] == f"pb.{method.input_type.name}"
    assert hints["return"] == f"pb.{method.output_type.name}"


def test_the_retry_policy_retries_unavailable_only_for_the_bridge_service() -> None:
    options = dict(CHANNEL_OPTIONS)
    (method_config,) = json.loads(options["grpc.service_config"])["methodConfig"]

    assert options["grpc.enable_retries"] == 1
    assert method_config["name"] == [{"service": "dict.bridge.v1.DictBridge"}]
    policy = method_config["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert policy["maxAttempts"] == 4
    assert (policy["initialBackoff"], policy["maxBackoff"]) == ("0.1s", "1s")


def test_from_settings_reads_the_bridge_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_ADDRESS", "bridge.internal:443")
    monkeypatch.setenv("PARTICIPANT_ISPB", "87654321")
    monkeypatch.setenv("BRIDGE_TIMEOUT_S", "2.5")
    monkeypatch.setenv("BRIDGE_BREAKER_FAIL_MAX", "7")
    settings.reset()
    try:
        with DictClient.from_settings() as c:
            assert (c.address, c.participant, c.timeout_s) == (
                "bridge.internal:443",
                "87654321",
                2.5,
            )
            assert c.breaker.state == "closed"
    finally:
        settings.reset()


def test_a_certificate_without_its_key_is_refused(tmp_path: Any) -> None:
    cert = tmp_path / "client.crt"
    cert.write_text("not read")

    with pytest.raises(ValueError, match="both a certificate and a key"):
        DictClient("127.0.0.1:1", "12345678", cert_file=str(cert))
