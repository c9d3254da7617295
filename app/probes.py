"""Liveness, readiness and metrics: the checks, and the small server of the worker and
the scheduler.

The API serves ``/health``, ``/ready`` and ``/metrics`` on its own HTTP port
(``app.api.system``, with the checks below). The worker and the scheduler serve no HTTP
of their own, so ``start`` runs a stdlib ``ThreadingHTTPServer`` in a daemon thread:
``GET /health`` and ``GET /ready`` on HEALTH_PORT, ``GET /metrics`` on METRICS_PORT
(``settings.probes``; 0 turns one off). A port already taken is logged as an error and
the process runs without it: the liveness probe then fails and says so.

- ``/health`` (liveness) is 200 ``{"status": "ok"}`` while the process's ``alive()``
  holds, else 503 ``{"status": "stalled"}``: restarting fixes a stuck loop, not a
  database outage, so no dependency is checked here.
- ``/ready`` is 200 when every check answers, else 503, the body naming each check:
  ``{"status": "unavailable", "checks": {"postgres": true, "redis": false}}`` (the
  API's shape).

Each check has a short timeout: probes are polled often and must stay cheap.

In the worker this runs in Dramatiq's main process, which then forks the worker
processes (and the one that serves the worker's /metrics). So the listening socket is
closed in every forked child (``os.register_at_fork``); PostgreSQL is checked on a
connection of the check's own (``postgres_connects``), never a pool, whose
connections and threads must not cross a fork (``app.db.pool``); and the bridge with
a TCP connection and, with the mTLS settings, a TLS handshake (``bridge_reachable``),
not a gRPC channel: gRPC does not survive a fork (grpc's ``doc/fork_support.md``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis as redis_lib
from psycopg_pool import ConnectionPool

from app import db, settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 1.0
BRIDGE_CACHE_S = 2.0

Check = Callable[[], bool]
Route = Callable[[], tuple[int, str, bytes]]
"""A path's answer: (status, content type, body)."""


# --- the checks ---------------------------------------------------------------------


def postgres_ready() -> bool:
    """One round trip on the process's pool (the API: the pool its requests use)."""
    try:
        with db.pool().connection(timeout=CHECK_TIMEOUT_S) as conn:  # /ready within 2 s
            ConnectionPool.check_connection(conn)  # one round trip, like SELECT 1
        return True
    except Exception:
        return False


def postgres_connects() -> bool:
    """A connection of its own, opened and closed (libpq's shortest timeout is 2 s)."""
    try:
        with db.connect(settings.database().url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


_redis: dict[str, redis_lib.Redis] = {}


def redis_client() -> redis_lib.Redis:
    """The probes' Redis client: short timeouts, one per URL (redis-py's pool is
    fork-aware: a child never uses the parent's connections)."""
    url = settings.redis().url
    client = _redis.get(url)
    if client is None:
        client = _redis[url] = redis_lib.Redis.from_url(
            url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
        )
    return client


def redis_ready() -> bool:
    try:
        return bool(redis_client().ping())
    except Exception:
        return False


class _BridgeProbe:
    """The bridge client's ``wait_ready`` (a gRPC channel), remembered for
    ``BRIDGE_CACHE_S``: the API's check, and its ``dict_bridge_up`` gauge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._ok = False
        self._client: Any = None

    def __call__(self) -> bool:
        if time.monotonic() < self._until:
            return self._ok
        with self._lock:
            if time.monotonic() >= self._until:
                self._ok = self._probe()
                self._until = time.monotonic() + BRIDGE_CACHE_S
            return self._ok

    def _probe(self) -> bool:
        try:
            if self._client is None:
                from app.bridge.client import DictClient

                self._client = DictClient.from_settings()
            return bool(self._client.wait_ready(CHECK_TIMEOUT_S))
        except Exception:
            return False

    def reset(self) -> None:
        """Forget the cached answer and client (settings changed, or shutdown)."""
        with self._lock:
            client, self._client, self._until = self._client, None, 0.0
        close = getattr(client, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):  # a broken channel must not fail shutdown
                close()


_bridge_probe = _BridgeProbe()
bridge_ready = _bridge_probe
"""``bridge_ready() -> bool``: False on any exception; cached 2 s."""


def bridge_reachable() -> bool:
    """BRIDGE_ADDRESS accepts a TCP connection and, when BRIDGE_CA_FILE or
    BRIDGE_CERT_FILE is set, completes a TLS handshake with our certificate (the
    client's own credentials: an expired or wrong certificate fails here too)."""
    s = settings.bridge()
    host, _, port = s.address.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=CHECK_TIMEOUT_S) as sock:
            if s.ca_file or s.cert_file:
                context = ssl.create_default_context(cafile=s.ca_file)
                if s.cert_file and s.key_file:
                    context.load_cert_chain(s.cert_file, s.key_file)
                context.set_alpn_protocols(["h2"])
                with context.wrap_socket(sock, server_hostname=host):
                    pass
        return True
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return False


def close_clients() -> None:
    """Shutdown hook (and tests): drop the probes' connections and cached answers."""
    _bridge_probe.reset()
    for client in _redis.values():
        client.close()
    _redis.clear()


# --- the server ---------------------------------------------------------------------


def _json(status: int, body: Mapping[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode() + b"\n"


def health_route(alive: Check) -> Route:
    return lambda: _json(200, {"status": "ok"}) if alive() else _json(503, {"status": "stalled"})


def ready_route(checks: Mapping[str, Check]) -> Route:
    def ready() -> tuple[int, str, bytes]:
        results = {name: check() for name, check in checks.items()}
        ok = all(results.values())
        return _json(
            200 if ok else 503, {"status": "ready" if ok else "unavailable", "checks": results}
        )

    return ready


class _Handler(BaseHTTPRequestHandler):
    routes: Mapping[str, Route] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path.split("?", 1)[0])
        try:
            status, content_type, body = route() if route else (404, "text/plain", b"")
        except Exception:
            log.exception("probe %s failed", self.path)
            status, content_type, body = 500, "text/plain", b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("probe " + format, *args)  # polled every few seconds: not worth a line each


def serve(host: str, port: int, routes: Mapping[str, Route]) -> ThreadingHTTPServer:
    """Serve ``routes`` on host:port (0: any free port, ``server_port`` tells) from a
    daemon thread; OSError when the port is taken."""
    handler = type("Handler", (_Handler,), {"routes": dict(routes)})
    server = ThreadingHTTPServer((host, port), handler)
    os.register_at_fork(after_in_child=server.socket.close)  # the parent keeps serving
    threading.Thread(target=server.serve_forever, name=f"probes:{port}", daemon=True).start()
    return server


def start(
    process: str, *, alive: Check, checks: Mapping[str, Check], metrics: Route | None = None
) -> list[ThreadingHTTPServer]:
    """/health and /ready on HEALTH_PORT, ``metrics`` (when given) on METRICS_PORT; one
    server when both ports are the same. The servers listening."""
    conf = settings.probes(process)
    ports: dict[int, dict[str, Route]] = {}
    if conf.health_port:
        ports[conf.health_port] = {"/health": health_route(alive), "/ready": ready_route(checks)}
    if conf.metrics_port and metrics is not None:
        ports.setdefault(conf.metrics_port, {})["/metrics"] = metrics
    servers = []
    for port, routes in ports.items():
        try:
            servers.append(serve(conf.host, port, routes))
        except OSError as exc:
            log.error("%s: cannot serve %s on port %d: %s", process, " ".join(routes), port, exc)
            continue
        log.info("%s serves %s on %s:%d", process, " ".join(routes), conf.host or "*", port)
    return servers


# --- metrics of several processes ---------------------------------------------------


def multiprocess_dir() -> Callable[[], None]:
    """Make PROMETHEUS_MULTIPROC_DIR ready for this run, before prometheus-client is
    imported: the directory given, emptied of an earlier run's files (prometheus-client
    asks for it: a new process reusing a dead one's pid would carry on its values), or a
    private temporary one, set in the environment. The returned function removes the
    private one (nothing for a given one)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for old in Path(given).glob("*.db"):
            old.unlink(missing_ok=True)
        return lambda: None
    private = tempfile.mkdtemp(prefix="dict-connect-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = private
    return lambda: shutil.rmtree(private, ignore_errors=True)
