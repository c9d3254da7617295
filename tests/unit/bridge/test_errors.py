"""A failed call becomes the DICT's problem type, or BridgeUnavailable when none travelled.

The calls here are plain values standing for a finished ``grpc.Call``: the status a
server would send (built by the same ``to_status`` the simulator uses) seen from
the client's side, with no channel involved.
"""

from __future__ import annotations

import grpc
import pytest

from app.bridge.breaker import CircuitOpen
from app.bridge.status import BridgeUnavailable, from_rpc_error, to_status
from app.domain import problems


class FinishedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """What the client holds after a failed unary call: code, details, trailers."""

    def __init__(self, code: grpc.StatusCode, details: str, trailers: tuple = ()) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    @classmethod
    def carrying(cls, problem: problems.DictProblem) -> FinishedCall:
        status = to_status(problem)
        return cls(status.code, status.details, status.trailing_metadata)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailers

    def initial_metadata(self) -> tuple:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


def test_a_problem_detail_becomes_its_own_exception_class() -> None:
    sent = problems.EntryAlreadyExists(
        "key already registered",
        violations=[("key", "already_exists"), ("account", "mismatch")],
        correlation_id="corr-1",
    )

    got = from_rpc_error(FinishedCall.carrying(sent))

    assert type(got) is problems.EntryAlreadyExists
    assert isinstance(got, problems.EntryProblem)
    assert got.retryable is False
    assert got.detail == "key already registered"
    assert got.violations == [("key", "already_exists"), ("account", "mismatch")]
    assert got.correlation_id == "corr-1"


@pytest.mark.parametrize(
    ("sent", "retryable"),
    [
        (problems.ClaimResolutionPeriodNotEnded("too early"), True),
        (problems.EntryLockedByClaim("claim open"), False),
        (problems.ServiceUnavailable("DICT down"), True),
        (problems.RequestIdAlreadyUsed("other body"), False),
    ],
)
def test_the_problem_type_says_whether_a_retry_can_help(
    sent: problems.DictProblem, retryable: bool
) -> None:
    got = from_rpc_error(FinishedCall.carrying(sent))

    assert type(got) is type(sent)
    assert got.retryable is retryable


def test_rate_limited_keeps_the_time_to_wait() -> None:
    got = from_rpc_error(
        FinishedCall.carrying(problems.RateLimited("bucket empty", retry_after_s=12.5))
    )

    assert isinstance(got, problems.RateLimited)
    assert got.retryable is True
    assert got.retry_after_s == 12.5


def test_an_unknown_problem_type_keeps_its_name_and_is_not_retried() -> None:
    newer = problems.problem_class("SomethingAddedInV3")("new rule")

    got = from_rpc_error(FinishedCall.carrying(newer))

    assert got.type == "SomethingAddedInV3"
    assert got.retryable is False


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED],
)
def test_a_plain_transport_status_is_bridge_unavailable(code: grpc.StatusCode) -> None:
    got = from_rpc_error(FinishedCall(code, "failed to connect to all addresses"))

    assert type(got) is BridgeUnavailable
    assert got.retryable is True
    assert code.name in str(got)


def test_a_plain_status_without_problem_maps_by_code() -> None:
    got = from_rpc_error(FinishedCall(grpc.StatusCode.NOT_FOUND, "no such method"))

    assert type(got) is problems.NotFound
    assert got.retryable is False


def test_circuit_open_is_a_retryable_bridge_unavailable() -> None:
    got = CircuitOpen("failing fast")

    assert isinstance(got, BridgeUnavailable)
    assert got.retryable is True
    assert got.type == "CircuitOpen"
    assert got.http_status == 503
