"""The client against a real gRPC peer: retries, deadlines, breaker, metrics, streams, mTLS.

The peer is a tiny in-process DictBridge server whose answers follow a script, one
step per attempt, and which records every attempt it saw. It needs no database.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from app.bridge import dict_bridge_pb2 as pb
from app.bridge import dict_bridge_pb2_grpc as pb_grpc
from app.bridge.breaker import CircuitOpen
from app.bridge.client import CidSetFileCorrupt, DictClient
from app.bridge.status import BridgeUnavailable, to_status
from app.domain import problems

ISPB = "12345678"
Step = Callable[[grpc.ServicerContext], Any]


class ScriptedBridge(pb_grpc.DictBridgeServicer):
    """Answers GetEntry and CreateEntry by ``script`` (the last step repeats)."""

    def __init__(self) -> None:
        self.script: list[Step] = [self.ok]
        self.attempts: list[dict[str, str]] = []
        self.file = b""
        self.release = threading.Event()
        self.answered = threading.Event()  # a slow step returned
        self.deadlines: list[float | None] = []  # seconds left to each slow call's deadline
        self._lock = threading.Lock()

    def _next(self, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.attempts.append(dict(context.invocation_metadata()))
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return step(context)

    def GetEntry(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._next(context)

    def CreateEntry(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._next(context)

    def DownloadCidSetFile(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._next(context)
        for i in range(0, len(self.file), 4):
            yield pb.CidSetFileChunk(data=self.file[i : i + 4])

    # Steps

    @staticmethod
    def ok(context: grpc.ServicerContext) -> Any:
        return pb.GetEntryResponse(correlation_id="c-1")

    @staticmethod
    def unavailable(context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAVAILABLE, "bridge restarting")

    @staticmethod
    def refuse(problem: problems.DictProblem) -> Step:
        return lambda context: context.abort_with_status(to_status(problem))

    def slow(self, context: grpc.ServicerContext) -> Any:
        self.deadlines.append(context.time_remaining())
        self.release.wait(5)
        self.answered.set()
        return self.ok(context)


def _serve(bridge: ScriptedBridge, credentials: grpc.ServerCredentials | None = None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_DictBridgeServicer_to_server(bridge, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
def bridge() -> ScriptedBridge:
    return ScriptedBridge()


@pytest.fixture
def address(bridge: ScriptedBridge) -> Iterator[str]:
    server, address = _serve(bridge)
    yield address
    bridge.release.set()
    server.stop(None).wait(5)


@pytest.fixture
def client(address: str) -> Iterator[DictClient]:
    with DictClient(address, ISPB, timeout_s=3, breaker_fail_max=2, breaker_reset_s=60) as c:
        yield c


def calls(rpc: str, outcome: str) -> float:
    labels = {"rpc": rpc, "outcome": outcome}
    return REGISTRY.get_sample_value("dict_bridge_calls_total", labels) or 0.0


# Retries


def test_unavailable_is_retried_by_grpc_until_it_succeeds(client, bridge) -> None:
    bridge.script = [bridge.unavailable, bridge.unavailable, bridge.ok]

    answer = client.get_entry(pb.GetEntryRequest(key="+5561988880000"))

    assert answer.correlation_id == "c-1"
    assert len(bridge.attempts) == 3
    assert all(a["pi-requesting-participant"] == ISPB for a in bridge.attempts)


def test_retries_stop_after_four_attempts(client, bridge) -> None:
    bridge.script = [bridge.unavailable]

    with pytest.raises(BridgeUnavailable) as raised:
        client.get_entry(pb.GetEntryRequest())

    assert type(raised.value) is BridgeUnavailable
    assert len(bridge.attempts) == 4


def test_a_dict_problem_is_an_answer_and_is_not_retried(client, bridge) -> None:
    bridge.script = [bridge.refuse(problems.ClaimResolutionPeriodNotEnded("day 7 not reached"))]

    with pytest.raises(problems.ClaimResolutionPeriodNotEnded) as raised:
        client.create_entry(pb.CreateEntryRequest())

    assert raised.value.retryable is True  # later, by our own timer; not by gRPC now
    assert len(bridge.attempts) == 1
    assert client.breaker.state == "closed"


# Deadlines and the breaker


def test_a_slow_bridge_fails_at_the_deadline_of_the_call(address, bridge) -> None:
    """The call's own deadline bounds it: the client gives up without the bridge's
    answer. Nothing is timed. The client's default deadline is one no test waits out,
    and the bridge answers only when released (or after 5 s): a DEADLINE_EXCEEDED
    while it has not answered can only come from the call's 0.5 s. The bridge also
    records the deadline it was given, when the call reached it in time (a starved
    test process may not get it there within 0.5 s; that must not fail the test)."""
    bridge.script = [bridge.slow]
    with DictClient(address, ISPB, timeout_s=60) as client:
        assert client.wait_ready(5)

        with pytest.raises(BridgeUnavailable, match="DEADLINE_EXCEEDED"):
            client.get_entry(pb.GetEntryRequest(), timeout_s=0.5)

    assert not bridge.answered.is_set()  # the client stopped waiting, the bridge had not answered
    assert len(bridge.attempts) <= 1  # DEADLINE_EXCEEDED is not retried
    # the call's deadline (0.5 s), not the client's default (60 s): the grpc-timeout header
    # is rounded to its unit, so the server may see a hair more than 0.5 s (failed CI once,
    # 2026-12-03), or the deadline already spent when the test process was starved
    assert all(d is not None and d < 1.0 for d in bridge.deadlines), bridge.deadlines


def test_the_breaker_opens_on_transport_failures_and_then_spares_the_network(
    client, bridge
) -> None:
    bridge.script = [bridge.unavailable]
    fast_before = calls("GetEntry", "CircuitOpen")
    for _ in range(2):  # breaker_fail_max=2; each call is 4 attempts (gRPC's retries)
        with pytest.raises(BridgeUnavailable):
            client.get_entry(pb.GetEntryRequest())

    with pytest.raises(CircuitOpen):
        client.get_entry(pb.GetEntryRequest())

    assert client.breaker.state == "open"
    assert len(bridge.attempts) == 8
    assert calls("GetEntry", "CircuitOpen") == fast_before + 1


def test_dict_problems_never_open_the_breaker(client, bridge) -> None:
    bridge.script = [bridge.refuse(problems.EntryAlreadyExists("taken"))]

    for _ in range(5):
        with pytest.raises(problems.EntryAlreadyExists):
            client.create_entry(pb.CreateEntryRequest())

    assert client.breaker.state == "closed"
    assert len(bridge.attempts) == 5


# Metrics


def test_each_call_is_counted_by_rpc_and_outcome(client, bridge) -> None:
    ok_before = calls("GetEntry", "ok")
    refused_before = calls("CreateEntry", "EntryAlreadyExists")
    timed_before = (
        REGISTRY.get_sample_value(
            "dict_bridge_call_duration_seconds_count", {"rpc": "GetEntry", "outcome": "ok"}
        )
        or 0.0
    )

    client.get_entry(pb.GetEntryRequest())
    bridge.script = [bridge.refuse(problems.EntryAlreadyExists("taken"))]
    with pytest.raises(problems.EntryAlreadyExists):
        client.create_entry(pb.CreateEntryRequest())

    assert calls("GetEntry", "ok") == ok_before + 1
    assert calls("CreateEntry", "EntryAlreadyExists") == refused_before + 1
    timed = REGISTRY.get_sample_value(
        "dict_bridge_call_duration_seconds_count", {"rpc": "GetEntry", "outcome": "ok"}
    )
    assert timed == timed_before + 1


# The streaming download


def test_a_cid_file_downloads_in_chunks_and_verifies(client, bridge) -> None:
    bridge.file = b"cid-1\ncid-2\ncid-3\n"
    digest = hashlib.sha256(bridge.file).hexdigest()

    chunks = list(client.download_cid_set_file(pb.DownloadCidSetFileRequest(id=7)))
    whole = client.download_cid_set_file_verified(7, digest.upper())

    assert len(chunks) > 1
    assert b"".join(chunks) == whole == bridge.file


def test_a_cid_file_that_does_not_match_its_sha256_is_refused(client, bridge) -> None:
    bridge.file = b"cid-1\ncid-2\n"

    with pytest.raises(CidSetFileCorrupt) as raised:
        client.download_cid_set_file_verified(7, hashlib.sha256(b"other").hexdigest())

    assert raised.value.retryable is True


def test_a_refused_download_raises_at_the_call_not_while_reading(client, bridge) -> None:
    bridge.script = [bridge.refuse(problems.NotFound("no file 7"))]

    with pytest.raises(problems.NotFound):
        client.download_cid_set_file(pb.DownloadCidSetFileRequest(id=7))


# Readiness


def test_wait_ready_tells_whether_the_bridge_can_be_reached(client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]

    assert client.wait_ready(5) is True
    with DictClient(f"127.0.0.1:{closed_port}", ISPB) as nowhere:
        assert nowhere.wait_ready(0.2) is False


# mTLS


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _issue(cwd: Path, name: str, usage: str) -> None:
    """A P-256 key and a certificate for 127.0.0.1 signed by the throwaway CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        cwd, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}"
    )
    (cwd / f"{name}.ext").write_text(f"subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n")
    _openssl(
        cwd,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-days",
        "1",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA, a server and a client certificate (openssl CLI)."""
    cwd = tmp_path_factory.mktemp("pki")
    try:
        _openssl(
            cwd,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
    except FileNotFoundError:
        pytest.skip("the openssl command is not installed")
    _issue(cwd, "bridge", "serverAuth")
    _issue(cwd, "psp", "clientAuth")
    return cwd


@pytest.fixture
def mtls_address(pki: Path, bridge: ScriptedBridge) -> Iterator[str]:
    credentials = grpc.ssl_server_credentials(
        [((pki / "bridge.key").read_bytes(), (pki / "bridge.crt").read_bytes())],
        root_certificates=(pki / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    server, address = _serve(bridge, credentials)
    yield address
    server.stop(None).wait(5)


def test_mtls_presents_our_certificate_and_checks_the_bridge(pki, mtls_address, bridge) -> None:
    seen: list[Any] = []

    def note_peer(context: grpc.ServicerContext) -> Any:
        seen.append(context.auth_context())
        return bridge.ok(context)

    bridge.script = [note_peer]

    with DictClient(
        mtls_address,
        ISPB,
        ca_file=str(pki / "ca.crt"),
        cert_file=str(pki / "psp.crt"),
        key_file=str(pki / "psp.key"),
    ) as c:
        assert c.get_entry(pb.GetEntryRequest()).correlation_id == "c-1"

    assert seen[0]["x509_common_name"] == [b"psp"]


def test_without_a_client_certificate_the_bridge_refuses_the_handshake(pki, mtls_address, bridge):
    with (
        DictClient(mtls_address, ISPB, ca_file=str(pki / "ca.crt"), timeout_s=2) as c,
        pytest.raises(BridgeUnavailable),
    ):
        c.get_entry(pb.GetEntryRequest())

    assert bridge.attempts == []
