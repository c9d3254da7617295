"""DICT problems <-> gRPC statuses: the one place both sides of the bridge agree on.

A problem travels as a gRPC status whose code follows ``DictProblem.grpc_code`` and
whose details (google.rpc.Status in grpc-status-details-bin) hold one ``Problem``.
"""

from __future__ import annotations

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems


class BridgeUnavailable(problems.DictProblem):
    """The bridge could not be reached or did not answer in time (no DICT answer)."""

    type = "BridgeUnavailable"
    http_status = 503
    grpc_code = "UNAVAILABLE"
    retryable = True


_CODE_TO_PROBLEM: dict[grpc.StatusCode, type[problems.DictProblem]] = {
    grpc.StatusCode.UNAVAILABLE: BridgeUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: BridgeUnavailable,
    grpc.StatusCode.CANCELLED: BridgeUnavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: problems.RateLimited,
    grpc.StatusCode.NOT_FOUND: problems.NotFound,
    grpc.StatusCode.PERMISSION_DENIED: problems.Forbidden,
    grpc.StatusCode.INVALID_ARGUMENT: problems.BadRequest,
    grpc.StatusCode.UNIMPLEMENTED: problems.BadRequest,
}


def to_status(problem: problems.DictProblem) -> grpc.Status:
    """The gRPC status that carries ``problem``."""
    detail = pb.Problem(
        type=problem.type,
        title=problem.type,
        status=problem.http_status,
        detail=problem.detail,
        violations=[pb.Violation(field=f, reason=r, message="") for f, r in problem.violations],
        correlation_id=problem.correlation_id,
        retry_after_seconds=problem.retry_after_s or 0.0,
    )
    code = getattr(grpc.StatusCode, problem.grpc_code, grpc.StatusCode.UNKNOWN)
    status = status_pb2.Status(code=code.value[0], message=str(problem))
    status.details.add().Pack(detail)
    found: grpc.Status = rpc_status.to_status(status)
    return found


def from_rpc_error(error: grpc.RpcError) -> problems.DictProblem:
    """The domain exception for a failed call: the DICT's problem when one travelled,
    else one chosen by status code (transport failures become ``BridgeUnavailable``)."""
    status = rpc_status.from_call(error)
    if status is not None:
        for any_detail in status.details:
            if any_detail.Is(pb.Problem.DESCRIPTOR):
                detail = pb.Problem()
                any_detail.Unpack(detail)
                cls = problems.problem_class(detail.type)
                answered = cls(
                    detail.detail,
                    violations=[(v.field, v.reason) for v in detail.violations],
                    retry_after_s=detail.retry_after_seconds or None,
                    correlation_id=detail.correlation_id,
                )
                answered.answered = True
                return answered
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    cls = _CODE_TO_PROBLEM.get(code, problems.InternalServerError)
    details = error.details() if hasattr(error, "details") else ""
    return cls(f"{code.name}: {details}")
