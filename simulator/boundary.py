"""The one place a DictBridge call crosses into the simulated DICT and back.

Every RPC goes through ``Boundary.unary`` (or ``.stream``), which in order:
applies injected faults (latency, UNAVAILABLE before acting), then under the
simulator's lock counts the call, identifies the requesting participant from the
``pi-requesting-participant`` metadata, admits it through the method's token
bucket, runs the operation and charges the bucket; it turns a ``DictProblem`` into
the gRPC status that carries it, and finally may lose the answer (drop fault).
Services only raise domain problems; none of them knows gRPC. With no fault set,
the fault check is one attribute test, and disabled rate limits one more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from app.bridge.status import to_status
from app.domain import problems
from simulator.config import Participant
from simulator.state import Simulator

PARTICIPANT_METADATA = "pi-requesting-participant"

Operation = Callable[[Simulator, Participant, Any], Any]
PolicyOf = str | Callable[[Any], str] | None


@dataclass(frozen=True)
class Route:
    fn: Operation
    policy: PolicyOf = None  # the bucket charged 1 per answered call; None: the op charges


class Boundary:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def execute(self, method: str, route: Route, request: Any, requesting: str) -> Any:
        """Count, identify, admit, run, charge: the simulated DICT's side of one call.
        Raises the DictProblem the DICT would answer."""
        sim = self.sim
        with sim.lock:
            sim.state.counters.seen(method, request)
            caller = sim.participant(requesting)
            policy = route.policy(request) if callable(route.policy) else route.policy
            if policy is None:
                return route.fn(sim, caller, request)
            ticket = sim.buckets.admit(caller, policy)
            try:
                response = route.fn(sim, caller, request)
            except problems.InternalServerError:
                raise  # a 500 costs nothing
            except problems.DictProblem:
                sim.buckets.settle(ticket, 1)
                raise
            sim.buckets.settle(ticket, 1)
            return response

    def unary(self, method: str, route: Route) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            drop = self._faults(method, request, context)
            response = self._answer(method, route, request, context)
            if drop:
                context.abort(grpc.StatusCode.UNAVAILABLE, "simulated fault: response lost")
            response.correlation_id = self.sim.correlation_id()
            return response

        return handle

    def stream(self, method: str, route: Route) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            drop = self._faults(method, request, context)
            chunks = self._answer(method, route, request, context)
            if drop:
                context.abort(grpc.StatusCode.UNAVAILABLE, "simulated fault: response lost")
            yield from chunks

        return handle

    def _faults(self, method: str, request: Any, context: grpc.ServicerContext) -> bool:
        """Apply latency and UNAVAILABLE faults. True: drop the answer once acted on."""
        faults = self.sim.faults
        if not faults.applies(method, _requesting(context)):
            return False
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)  # ok: injected network latency is wall time
        if faults.roll_unavailable():
            with self.sim.lock:
                self.sim.state.counters.seen(method, request)  # seen, never acted on
            context.abort(grpc.StatusCode.UNAVAILABLE, "simulated fault: unavailable")
        return faults.roll_drop()

    def _answer(
        self, method: str, route: Route, request: Any, context: grpc.ServicerContext
    ) -> Any:
        try:
            return self.execute(method, route, request, _requesting(context))
        except problems.DictProblem as problem:
            with self.sim.lock:
                self.sim.state.counters.refusal(type(problem).__name__)
            problem.correlation_id = problem.correlation_id or self.sim.correlation_id()
            context.abort_with_status(to_status(problem))
            raise AssertionError("abort_with_status returns only by raising") from None


def _requesting(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == PARTICIPANT_METADATA:
            return str(value)
    return ""  # refused as Forbidden by Simulator.participant
