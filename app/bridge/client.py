"""The client every actor uses to call the DICT through the bridge.

One ``DictClient`` per process, shared by all worker threads (a gRPC channel and
its stubs are thread-safe). Every call goes through ``DictClient._call``, which
adds what the DICT demands of each request and what we demand of each answer:

- a deadline on every call, and the ``pi-requesting-participant`` metadata;
- gRPC's own retry policy (service config) for UNAVAILABLE only: that status means
  the request did not reach the DICT or the bridge asks for a repeat, and creating
  calls carry a RequestId, so a repeat is recognised as one;
- a circuit breaker that opens on repeated transport failures (never on a DICT
  problem: that is a successful round trip) and then fails fast without I/O;
- every ``grpc.RpcError`` mapped to a ``DictProblem`` saying whether a retry helps;
- Prometheus metrics per RPC and outcome;
- a client span per call when tracing is on (``app.tracing``): the RPC's name and, when
  refused, the DICT's problem type; never the request (it holds keys, tax ids, names).
  A streaming call's span ends with its first message.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar, overload

import grpc
from google.protobuf.message import Message

from app import settings, tracing
from app.bridge import dict_bridge_pb2 as pb
from app.bridge import dict_bridge_pb2_grpc as pb_grpc
from app.bridge import metrics
from app.bridge.breaker import TransportBreaker
from app.bridge.status import from_rpc_error
from app.domain import problems

T = TypeVar("T")
log = logging.getLogger(__name__)

PARTICIPANT_METADATA = "pi-requesting-participant"
_SERVICE = pb.DESCRIPTOR.services_by_name["DictBridge"]

# gRPC retries on its own, inside the call's deadline (A6 client retries). Only
# UNAVAILABLE: any other status is an answer (a DICT problem, or a deadline that a
# repeat would only exceed again). Backoff is randomised up to 0.1 s, 0.2 s, 0.4 s.
SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{"service": _SERVICE.full_name}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}

CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    # The bridge's DNS must not be able to replace our retry policy.
    ("grpc.service_config_disable_resolution", 1),
]


class CidSetFileCorrupt(problems.DictProblem):
    """A downloaded CID file does not match the sha256 the DICT announced; download again."""

    type = "CidSetFileCorrupt"
    http_status = 502
    grpc_code = "DATA_LOSS"
    retryable = True


def _credentials(
    ca_file: str | None, cert_file: str | None, key_file: str | None
) -> grpc.ChannelCredentials | None:
    """TLS with the CA alone, mTLS with CA + certificate + key, plaintext with none."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("bridge mTLS needs both a certificate and a key file")
    if ca_file is None and cert_file is None:
        return None

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(ca_file),
        private_key=read(key_file),
        certificate_chain=read(cert_file),
    )


def _primed(stream: Any) -> Iterator[Any]:
    """Pull a stream's first message now, so that a refusal or an unreachable bridge
    is raised by the call (breaker, metrics, retries all see it), not later by the
    reader. Later errors are mapped the same way; abandoning the iterator cancels."""
    try:
        first = next(stream)
    except StopIteration:
        return iter(())
    return _rest(first, stream)


def _rest(first: Any, stream: Any) -> Iterator[Any]:
    try:
        yield from itertools.chain([first], stream)
    except grpc.RpcError as err:
        raise from_rpc_error(err) from err
    finally:
        stream.cancel()


R = TypeVar("R")


def _rpc(rpc_name: str) -> dict[str, str]:
    """A bridge call's span attributes (OpenTelemetry's RPC conventions)."""
    return {"rpc.system": "grpc", "rpc.service": _SERVICE.full_name, "rpc.method": rpc_name}


def security_and_breaker(s: settings.BridgeSettings) -> dict[str, Any]:
    """The mTLS files and breaker settings every bridge client of the process takes."""
    return {
        "ca_file": s.ca_file,
        "cert_file": s.cert_file,
        "key_file": s.key_file,
        "breaker_fail_max": s.breaker_fail_max,
        "breaker_reset_s": s.breaker_reset_s,
    }


class Limits(Protocol):
    """What the client asks of a limiter (``app.ratelimit.limiter.Limiter``)."""

    def take(self, rpc: str, request: Any) -> float: ...
    def give_back(self, rpc: str, request: Any) -> None: ...
    def observe(
        self, name: str, available: int, capacity: int, refill_tokens: int, refill_period_s: int
    ) -> None: ...


class DictClient:
    """Calls to the DICT: one method per DictBridge RPC, request in, response out.

    Raises a ``DictProblem`` subclass for every failure: the DICT's own problem
    type, or ``BridgeUnavailable`` (``CircuitOpen`` when failing fast) when the DICT
    never answered. ``timeout_s`` overrides the deadline of one call.
    """

    def __init__(
        self,
        address: str,
        participant: str,
        *,
        timeout_s: float = 5.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        breaker_fail_max: int = 5,
        breaker_reset_s: float = 10.0,
    ) -> None:
        self.address = address
        self.participant = participant
        self.timeout_s = timeout_s
        self._metadata = ((PARTICIPANT_METADATA, participant),)
        credentials = _credentials(ca_file, cert_file, key_file)
        if credentials is None:
            self._channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(address, credentials, options=CHANNEL_OPTIONS)
        self._stub = pb_grpc.DictBridgeStub(self._channel)
        self.breaker = TransportBreaker(breaker_fail_max, breaker_reset_s)
        self.limiter: Limits | None = None
        """Our copy of the DICT's buckets (``app.ratelimit.Limiter``); the workers set it."""

    @classmethod
    def from_settings(cls) -> DictClient:
        """The process's client as configured by the environment (``settings.bridge()``)."""
        s = settings.bridge()
        return cls(s.address, s.participant, timeout_s=s.timeout_s, **security_and_breaker(s))

    def __enter__(self) -> DictClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def wait_ready(self, timeout_s: float) -> bool:
        """Whether the channel connects within ``timeout_s`` (for /ready and dev mode).
        Bypasses the breaker: it asks about the network, not about the DICT."""
        future = grpc.channel_ready_future(self._channel)
        try:
            future.result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            future.cancel()
            return False
        return True

    @overload
    def _call(
        self, rpc_name: str, request: Message, timeout: float | None, response: type[R]
    ) -> R: ...

    @overload
    def _call(self, rpc_name: str, request: Message, timeout: float | None) -> Any: ...

    def _call(
        self,
        rpc_name: str,
        request: Message,
        timeout: float | None,
        response: type[Any] | None = None,
    ) -> Any:
        """The one call path: our limiter, breaker, deadline, metadata, error mapping,
        metrics. ``response`` is the answer's message type (for the type checker)."""
        if self.limiter is not None:
            wait = self.limiter.take(rpc_name, request)
            if wait > 0:
                metrics.observe(rpc_name, problems.LimiterWait.type, 0.0)
                raise problems.LimiterWait(f"{rpc_name} waits {wait:.3f} s", retry_after_s=wait)
        with tracing.span(
            f"{_SERVICE.full_name}/{rpc_name}", tracing.CLIENT, _rpc(rpc_name)
        ) as span:
            try:
                return self._measured(rpc_name, request, timeout)
            except problems.DictProblem as problem:
                tracing.refused(span, problem.type)
                raise

    def _measured(self, rpc_name: str, request: Message, timeout: float | None) -> Any:
        """The call through the breaker, its outcome counted (and named on the span)."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return self.breaker.call(lambda: self._invoke(rpc_name, request, timeout))
        except problems.DictProblem as problem:
            outcome = problem.type
            if problem.answered and problem.http_status == 500 and self.limiter is not None:
                self.limiter.give_back(rpc_name, request)  # a 500 costs nothing (DICT.md §4)
            raise
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            metrics.observe(rpc_name, outcome, time.perf_counter() - started)

    def _invoke(self, rpc_name: str, request: Message, timeout: float | None) -> Any:
        method = getattr(self._stub, rpc_name)
        try:
            answer = method(
                request,
                timeout=self.timeout_s if timeout is None else timeout,
                metadata=self._metadata,
            )
            if _SERVICE.methods_by_name[rpc_name].server_streaming:
                return _primed(answer)
            return answer
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    # CID files (the one streaming RPC)

    def download_cid_set_file(
        self, request: pb.DownloadCidSetFileRequest, *, timeout_s: float | None = None
    ) -> Iterator[bytes]:
        """The file's bytes as chunks arrive. ``timeout_s`` bounds the whole download:
        give a large file more than the default deadline."""
        chunks: Iterator[pb.CidSetFileChunk] = self._call("DownloadCidSetFile", request, timeout_s)
        return (chunk.data for chunk in chunks)

    def download_cid_set_file_verified(
        self, file_id: int, sha256: str, *, timeout_s: float | None = None
    ) -> bytes:
        """The whole file, checked against the sha256 from GetCidSetFile, so that a
        truncated or corrupted transfer is never compared against our entries."""
        digest = hashlib.sha256()
        parts = []
        request = pb.DownloadCidSetFileRequest(id=file_id)
        for data in self.download_cid_set_file(request, timeout_s=timeout_s):
            digest.update(data)
            parts.append(data)
        if digest.hexdigest() != sha256.lower():
            raise CidSetFileCorrupt(
                f"CID file {file_id}: sha256 {digest.hexdigest()}, announced {sha256}"
            )
        return b"".join(parts)

    # One method per unary RPC, in the order of dict_bridge.proto.

    def create_entry(
        self, request: pb.CreateEntryRequest, *, timeout_s: float | None = None
    ) -> pb.CreateEntryResponse:
        return self._call("CreateEntry", request, timeout_s, pb.CreateEntryResponse)

    def get_entry(
        self, request: pb.GetEntryRequest, *, timeout_s: float | None = None
    ) -> pb.GetEntryResponse:
        return self._call("GetEntry", request, timeout_s, pb.GetEntryResponse)

    def update_entry(
        self, request: pb.UpdateEntryRequest, *, timeout_s: float | None = None
    ) -> pb.UpdateEntryResponse:
        return self._call("UpdateEntry", request, timeout_s, pb.UpdateEntryResponse)

    def delete_entry(
        self, request: pb.DeleteEntryRequest, *, timeout_s: float | None = None
    ) -> pb.DeleteEntryResponse:
        return self._call("DeleteEntry", request, timeout_s, pb.DeleteEntryResponse)

    def check_keys(
        self, request: pb.CheckKeysRequest, *, timeout_s: float | None = None
    ) -> pb.CheckKeysResponse:
        return self._call("CheckKeys", request, timeout_s, pb.CheckKeysResponse)

    def create_claim(
        self, request: pb.CreateClaimRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        return self._call("CreateClaim", request, timeout_s, pb.ClaimResponse)

    def get_claim(
        self, request: pb.GetClaimRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        return self._call("GetClaim", request, timeout_s, pb.ClaimResponse)

    def list_claims(
        self, request: pb.ListClaimsRequest, *, timeout_s: float | None = None
    ) -> pb.ListClaimsResponse:
        return self._call("ListClaims", request, timeout_s, pb.ListClaimsResponse)

    def acknowledge_claim(
        self, request: pb.AcknowledgeClaimRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        return self._call("AcknowledgeClaim", request, timeout_s, pb.ClaimResponse)

    def confirm_claim(
        self, request: pb.ConfirmClaimRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        return self._call("ConfirmClaim", request, timeout_s, pb.ClaimResponse)

    def cancel_claim(
        self, request: pb.CancelClaimRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        return self._call("CancelClaim", request, timeout_s, pb.ClaimResponse)

    def complete_claim(
        self, request: pb.CompleteClaimRequest, *, timeout_s: float | None = None
    ) -> pb.ClaimResponse:
        return self._call("CompleteClaim", request, timeout_s, pb.ClaimResponse)

    def create_sync_verification(
        self, request: pb.CreateSyncVerificationRequest, *, timeout_s: float | None = None
    ) -> pb.SyncVerification:
        return self._call("CreateSyncVerification", request, timeout_s, pb.SyncVerification)

    def create_cid_set_file(
        self, request: pb.CreateCidSetFileRequest, *, timeout_s: float | None = None
    ) -> pb.CidSetFile:
        return self._call("CreateCidSetFile", request, timeout_s, pb.CidSetFile)

    def get_cid_set_file(
        self, request: pb.GetCidSetFileRequest, *, timeout_s: float | None = None
    ) -> pb.CidSetFile:
        return self._call("GetCidSetFile", request, timeout_s, pb.CidSetFile)

    def list_cid_set_events(
        self, request: pb.ListCidSetEventsRequest, *, timeout_s: float | None = None
    ) -> pb.ListCidSetEventsResponse:
        return self._call("ListCidSetEvents", request, timeout_s, pb.ListCidSetEventsResponse)

    def get_entry_by_cid(
        self, request: pb.GetEntryByCidRequest, *, timeout_s: float | None = None
    ) -> pb.GetEntryByCidResponse:
        return self._call("GetEntryByCid", request, timeout_s, pb.GetEntryByCidResponse)

    def create_infraction_report(
        self, request: pb.CreateInfractionReportRequest, *, timeout_s: float | None = None
    ) -> pb.InfractionReportResponse:
        return self._call("CreateInfractionReport", request, timeout_s, pb.InfractionReportResponse)

    def get_infraction_report(
        self, request: pb.GetInfractionReportRequest, *, timeout_s: float | None = None
    ) -> pb.InfractionReportResponse:
        return self._call("GetInfractionReport", request, timeout_s, pb.InfractionReportResponse)

    def list_infraction_reports(
        self, request: pb.ListInfractionReportsRequest, *, timeout_s: float | None = None
    ) -> pb.ListInfractionReportsResponse:
        return self._call(
            "ListInfractionReports", request, timeout_s, pb.ListInfractionReportsResponse
        )

    def acknowledge_infraction_report(
        self, request: pb.AcknowledgeInfractionReportRequest, *, timeout_s: float | None = None
    ) -> pb.InfractionReportResponse:
        return self._call(
            "AcknowledgeInfractionReport", request, timeout_s, pb.InfractionReportResponse
        )

    def close_infraction_report(
        self, request: pb.CloseInfractionReportRequest, *, timeout_s: float | None = None
    ) -> pb.InfractionReportResponse:
        return self._call("CloseInfractionReport", request, timeout_s, pb.InfractionReportResponse)

    def cancel_infraction_report(
        self, request: pb.CancelInfractionReportRequest, *, timeout_s: float | None = None
    ) -> pb.InfractionReportResponse:
        return self._call("CancelInfractionReport", request, timeout_s, pb.InfractionReportResponse)

    def update_infraction_report(
        self, request: pb.UpdateInfractionReportRequest, *, timeout_s: float | None = None
    ) -> pb.InfractionReportResponse:
        return self._call("UpdateInfractionReport", request, timeout_s, pb.InfractionReportResponse)

    def create_fraud_marker(
        self, request: pb.CreateFraudMarkerRequest, *, timeout_s: float | None = None
    ) -> pb.FraudMarkerResponse:
        return self._call("CreateFraudMarker", request, timeout_s, pb.FraudMarkerResponse)

    def get_fraud_marker(
        self, request: pb.GetFraudMarkerRequest, *, timeout_s: float | None = None
    ) -> pb.FraudMarkerResponse:
        return self._call("GetFraudMarker", request, timeout_s, pb.FraudMarkerResponse)

    def cancel_fraud_marker(
        self, request: pb.CancelFraudMarkerRequest, *, timeout_s: float | None = None
    ) -> pb.FraudMarkerResponse:
        return self._call("CancelFraudMarker", request, timeout_s, pb.FraudMarkerResponse)

    def create_refund(
        self, request: pb.CreateRefundRequest, *, timeout_s: float | None = None
    ) -> pb.RefundResponse:
        return self._call("CreateRefund", request, timeout_s, pb.RefundResponse)

    def get_refund(
        self, request: pb.GetRefundRequest, *, timeout_s: float | None = None
    ) -> pb.RefundResponse:
        return self._call("GetRefund", request, timeout_s, pb.RefundResponse)

    def list_refunds(
        self, request: pb.ListRefundsRequest, *, timeout_s: float | None = None
    ) -> pb.ListRefundsResponse:
        return self._call("ListRefunds", request, timeout_s, pb.ListRefundsResponse)

    def close_refund(
        self, request: pb.CloseRefundRequest, *, timeout_s: float | None = None
    ) -> pb.RefundResponse:
        return self._call("CloseRefund", request, timeout_s, pb.RefundResponse)

    def cancel_refund(
        self, request: pb.CancelRefundRequest, *, timeout_s: float | None = None
    ) -> pb.RefundResponse:
        return self._call("CancelRefund", request, timeout_s, pb.RefundResponse)

    def list_bucket_states(
        self, request: pb.ListBucketStatesRequest, *, timeout_s: float | None = None
    ) -> pb.ListBucketStatesResponse:
        return self._call("ListBucketStates", request, timeout_s, pb.ListBucketStatesResponse)

    def get_bucket_state(
        self, request: pb.GetBucketStateRequest, *, timeout_s: float | None = None
    ) -> pb.GetBucketStateResponse:
        return self._call("GetBucketState", request, timeout_s, pb.GetBucketStateResponse)
