"""The worker's and the scheduler's probe server (``app.probes``), in this process.

The kubelet and Prometheus depend on what it answers: /ready names the dependency
that fails, /health follows the process's own loop, a forked child (Dramatiq's worker
processes) does not keep the port, and a taken port does not stop the process.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import probes, settings
from simulator.server import SimulatorHandle
from tests.integration.bridge.test_client_transport import (  # noqa: F401 - fixtures
    bridge,
    mtls_address,
    pki,
)

WORKER_CHECKS = {
    "postgres": probes.postgres_connects,
    "redis": probes.redis_ready,
    "bridge": probes.bridge_reachable,
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on leaving: nothing listens there


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start a probe server on a free port; its base URL."""
    servers = []

    def start(routes: Mapping[str, probes.Route]) -> str:
        server = probes.serve("127.0.0.1", 0, routes)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    probes.close_clients()


def _ready(url: str) -> tuple[int, Any]:
    r = httpx.get(f"{url}/ready", timeout=10)
    return r.status_code, r.json()


def test_ready_names_the_dependency_that_does_not_answer(
    serve: Any, database_url: str, redis_url: str, sim: SimulatorHandle, monkeypatch: Any
) -> None:
    monkeypatch.setenv("BRIDGE_ADDRESS", sim.address)
    settings.reset()
    url = serve({"/ready": probes.ready_route(WORKER_CHECKS)})

    assert _ready(url) == (
        200,
        {"status": "ready", "checks": {"postgres": True, "redis": True, "bridge": True}},
    )

    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{_closed_port()}/x")
    settings.reset()
    assert _ready(url) == (
        503,
        {"status": "unavailable", "checks": {"postgres": False, "redis": True, "bridge": True}},
    )

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    monkeypatch.setenv("BRIDGE_ADDRESS", f"127.0.0.1:{_closed_port()}")
    settings.reset()
    status, body = _ready(url)
    assert status == 503
    assert body["checks"] == {"postgres": True, "redis": False, "bridge": False}


def test_the_bridge_check_completes_the_tls_handshake_with_our_certificate(
    pki: Path,  # noqa: F811 - the fixture imported above
    mtls_address: str,  # noqa: F811
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("BRIDGE_ADDRESS", mtls_address)
    monkeypatch.setenv("BRIDGE_CA_FILE", str(pki / "ca.crt"))
    monkeypatch.setenv("BRIDGE_CERT_FILE", str(pki / "psp.crt"))
    monkeypatch.setenv("BRIDGE_KEY_FILE", str(pki / "psp.key"))
    settings.reset()
    assert probes.bridge_reachable() is True

    # A bridge whose certificate our CA did not sign is not the DICT's bridge.
    monkeypatch.setenv("BRIDGE_CA_FILE", str(pki / "psp.crt"))
    settings.reset()
    assert probes.bridge_reachable() is False
    settings.reset()


def test_health_follows_the_process_loop_not_its_dependencies(serve: Any) -> None:
    looping = [True]
    url = serve({"/health": probes.health_route(lambda: looping[0])})

    first = httpx.get(f"{url}/health")
    looping[0] = False
    stalled = httpx.get(f"{url}/health")

    assert (first.status_code, first.json()) == (200, {"status": "ok"})
    assert (stalled.status_code, stalled.json()) == (503, {"status": "stalled"})
    assert httpx.get(f"{url}/metrics").status_code == 404  # not on this port


def test_start_serves_each_port_it_is_given_and_survives_a_taken_one(
    monkeypatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = [_closed_port()]
    monkeypatch.setenv("METRICS_PORT", str(metrics[0]))
    monkeypatch.setenv("PROBE_HOST", "127.0.0.1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("HEALTH_PORT", str(taken.getsockname()[1]))
        settings.reset()
        with caplog.at_level(logging.ERROR, logger="app.probes"):
            servers = probes.start(
                "scheduler",
                alive=lambda: True,
                checks={},
                metrics=lambda: (200, "text/plain", b"dict_scheduler_ticks_total 1.0\n"),
            )
    try:
        assert [s.server_port for s in servers] == metrics  # the metrics port still serves
        assert "cannot serve /health /ready on port" in caplog.text
        scraped = httpx.get(f"http://127.0.0.1:{metrics[0]}/metrics").text
        assert scraped == "dict_scheduler_ticks_total 1.0\n"
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        settings.reset()


def test_port_zero_turns_a_server_off_and_one_port_may_serve_everything(monkeypatch: Any) -> None:
    monkeypatch.setenv("PROBE_HOST", "127.0.0.1")
    monkeypatch.setenv("HEALTH_PORT", "0")
    monkeypatch.setenv("METRICS_PORT", "0")
    settings.reset()
    metrics: probes.Route = lambda: (200, "text/plain", b"")  # noqa: E731
    assert probes.start("worker", alive=lambda: True, checks={}, metrics=metrics) == []

    port = _closed_port()
    monkeypatch.setenv("HEALTH_PORT", str(port))
    monkeypatch.setenv("METRICS_PORT", str(port))
    settings.reset()
    servers = probes.start("worker", alive=lambda: True, checks={}, metrics=metrics)
    try:
        assert len(servers) == 1
        for path in ("/health", "/ready", "/metrics"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}").status_code == 200
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        settings.reset()


def test_a_forked_child_does_not_keep_the_port() -> None:
    """Dramatiq's main process forks its worker processes after the server started: once
    the main process is gone, the port must be free although a child still runs."""
    server = probes.serve("127.0.0.1", 0, {"/health": probes.health_route(lambda: True)})
    port = server.server_port
    child = os.fork()
    if child == 0:  # the child: outlive the parent's server for a while, then vanish
        time.sleep(3)  # ok: a real process staying alive
        os._exit(0)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        server.shutdown()
        server.server_close()
        with socket.socket() as again:  # fails while any process holds the listening socket
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", port))
            again.listen()
        assert os.waitpid(child, os.WNOHANG) == (0, 0)  # the child was alive all along
    finally:
        os.waitpid(child, 0)


def test_multiprocess_dir_empties_a_given_one_and_removes_a_private_one(
    tmp_path: Path, monkeypatch: Any
) -> None:
    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_7.db").write_bytes(b"a dead process's values")
    (given / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    probes.multiprocess_dir()()
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cleanup = probes.multiprocess_dir()
    private = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert private.parent == tmp_path and private.is_dir()
    cleanup()
    assert not private.exists()
