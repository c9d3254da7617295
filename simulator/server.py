"""Run the simulator: ``serve`` (blocking, for the CLI) and ``start_in_thread`` (tests).

Handlers are built from the service descriptors, so every RPC of the contract must
have a route (a missing one fails at start, not at the first call). The server is
gRPC's thread-pool server with two handler threads (``pools``): on this workload it
spends less CPU per call than ``grpc.aio`` (measured with a canned-answer server on
the 2-core reference machine: ~210 µs against ~300 µs per unary call; see
docs/benchmarks.md), and the simulator's state is guarded by one lock anyway.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.status import to_status
from app.domain import problems
from simulator import admin, persistence
from simulator import admin_pb2 as apb
from simulator.boundary import Boundary, Route
from simulator.config import SimConfig
from simulator.pools import ElasticPool, on_wide_pool
from simulator.routes import ROUTES
from simulator.state import Simulator

log = logging.getLogger("dict_connect.simulator")


def _serializers(method: MethodDescriptor) -> dict[str, Any]:
    request = message_factory.GetMessageClass(method.input_type)
    response = message_factory.GetMessageClass(method.output_type)
    return {
        "request_deserializer": request.FromString,
        "response_serializer": response.SerializeToString,
    }


def bridge_handlers(
    sim: Simulator, pool: ElasticPool
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    service = pb.DESCRIPTOR.services_by_name["DictBridge"]
    boundary = Boundary(sim)
    handlers = {}
    for method in service.methods:
        route: Route = ROUTES[method.name]
        if method.server_streaming:  # a CID file download may stream for long
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                on_wide_pool(boundary.stream(method.name, route), pool), **_serializers(method)
            )
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                boundary.unary(method.name, route), **_serializers(method)
            )
    return handlers


def admin_handlers(sim: Simulator, pool: ElasticPool) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    service = apb.DESCRIPTOR.services_by_name["SimulatorAdmin"]
    handlers = {}
    for m in service.methods:
        handle = _admin_call(sim, m.name)
        if m.name in admin.SELF_LOCKING:  # long: LoadEntries
            handle = on_wide_pool(handle, pool)
        handlers[m.name] = grpc.unary_unary_rpc_method_handler(handle, **_serializers(m))
    return handlers


def _register(server: grpc.Server, sim: Simulator, pool: ElasticPool) -> None:
    """Registered methods (as the generated code does): C-core matches the method
    itself rather than asking a generic handler on every call."""
    for service, handlers in (
        (_BRIDGE, bridge_handlers(sim, pool)),
        (_ADMIN, admin_handlers(sim, pool)),
    ):
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        server.add_registered_method_handlers(service, handlers)


_BRIDGE = pb.DESCRIPTOR.services_by_name["DictBridge"].full_name
_ADMIN = apb.DESCRIPTOR.services_by_name["SimulatorAdmin"].full_name


def _admin_call(sim: Simulator, name: str) -> Any:
    fn = admin.ROUTES[name]
    self_locking = name in admin.SELF_LOCKING

    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            if self_locking:
                return fn(sim, request)
            with sim.lock:
                return fn(sim, request)
        except problems.DictProblem as problem:
            context.abort_with_status(to_status(problem))

    return handle


@dataclass
class SimulatorHandle:
    """A running simulator: its port, its state (for in-process tests) and ``stop``."""

    server: grpc.Server
    simulator: Simulator
    host: str
    port: int
    pool: ElasticPool
    state_dir: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, grace: float = 1.0) -> None:
        self.server.stop(grace).wait()
        self.pool.shutdown(wait=False)
        if self.state_dir:
            persistence.save(self.simulator, self.state_dir)


def start_in_thread(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    participants: list[tuple[str, str]] | None = None,
    state_dir: str | None = None,
    config: SimConfig | None = None,
    max_workers: int = 2,
) -> SimulatorHandle:
    """Start serving in background threads; ``port=0`` picks a free port.
    ``max_workers`` handler threads serve ordinary calls (see ``pools``)."""
    sim = Simulator(participants, config)
    if state_dir:
        persistence.load(sim, state_dir)
    pool = ElasticPool(lambda: sim.faults, max_workers)
    server = grpc.server(pool, options=[("grpc.so_reuseport", 0)])
    _register(server, sim, pool)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:  # gRPC's way of saying the bind failed
        server.stop(None)
        pool.shutdown(wait=False)
        raise OSError(f"cannot listen on {host}:{port}") from exc
    server.start()
    return SimulatorHandle(server, sim, host, bound, pool, state_dir)


def serve(
    host: str,
    port: int,
    *,
    participants: list[tuple[str, str]] | None = None,
    state_dir: str | None = None,
    config: SimConfig | None = None,
    max_workers: int = 2,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly (and save state to state_dir)."""
    handle = start_in_thread(
        port,
        host=host,
        participants=participants,
        state_dir=state_dir,
        config=config,
        max_workers=max_workers,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    log.info("DICT simulator listening on %s", handle.address)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        handle.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
