"""The DICT's problem types (DICT.md §6, "Error types") as domain exceptions.

Each type keeps its DICT name, the HTTP status the DICT answers with, the gRPC
status code the bridge carries it under, and whether repeating the same call
later can succeed. The bridge client raises these; the simulator raises them;
the API maps them to problem+json. Nothing here does I/O.
"""

from __future__ import annotations

from typing import ClassVar


class DictProblem(Exception):
    """A problem reported by the DICT (or the bridge in front of it)."""

    type: ClassVar[str] = "InternalServerError"
    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "INTERNAL"
    retryable: ClassVar[bool] = True

    def __init__(
        self,
        detail: str = "",
        *,
        violations: list[tuple[str, str]] | None = None,
        retry_after_s: float | None = None,
        correlation_id: str = "",
    ) -> None:
        super().__init__(f"{self.type}: {detail}" if detail else self.type)
        self.detail = detail
        self.violations = violations or []
        self.retry_after_s = retry_after_s
        self.correlation_id = correlation_id
        self.answered = False
        """True when the DICT's own answer carried it (set by the bridge client); a
        transport failure or a timeout is not an answer: the call may have been applied."""


_CATALOGUE: dict[str, type[DictProblem]] = {}


def _define(
    name: str, http_status: int, grpc_code: str, retryable: bool, base: type[DictProblem]
) -> type[DictProblem]:
    cls = type(
        name,
        (base,),
        {
            "type": name,
            "http_status": http_status,
            "grpc_code": grpc_code,
            "retryable": retryable,
            "__doc__": f"DICT problem type {name} (HTTP {http_status}).",
        },
    )
    _CATALOGUE[name] = cls
    return cls


class EntryProblem(DictProblem):
    """A problem with an entry (vínculo) operation."""


class ClaimProblem(DictProblem):
    """A problem with a claim operation."""


class InfractionProblem(DictProblem):
    """A problem with an infraction report, refund or fraud marker."""


class LimiterWait(DictProblem):
    """Not the DICT's: our own limiter holds the call back for ``retry_after_s`` seconds
    (``app.ratelimit``), so that the DICT never answers RateLimited. Nothing was sent."""

    type = "LimiterWait"
    http_status = 429
    grpc_code = "RESOURCE_EXHAUSTED"
    retryable = True


# General (PicPay treats Forbidden, RateLimited, InternalServerError, ServiceUnavailable
# and RequestSignatureInvalid as retryable; DICT.md §6 "Idempotency").
Forbidden = _define("Forbidden", 403, "PERMISSION_DENIED", True, DictProblem)
BadRequest = _define("BadRequest", 400, "INVALID_ARGUMENT", False, DictProblem)
NotFound = _define("NotFound", 404, "NOT_FOUND", False, DictProblem)
Gone = _define("Gone", 410, "NOT_FOUND", False, DictProblem)
RateLimited = _define("RateLimited", 429, "RESOURCE_EXHAUSTED", True, DictProblem)
InternalServerError = _define("InternalServerError", 500, "INTERNAL", True, DictProblem)
ServiceUnavailable = _define("ServiceUnavailable", 503, "UNAVAILABLE", True, DictProblem)
RequestSignatureInvalid = _define(
    "RequestSignatureInvalid", 400, "UNAUTHENTICATED", True, DictProblem
)
RequestIdAlreadyUsed = _define("RequestIdAlreadyUsed", 400, "ALREADY_EXISTS", False, DictProblem)
InvalidReason = _define("InvalidReason", 400, "INVALID_ARGUMENT", False, DictProblem)
ParticipantInvalid = _define("ParticipantInvalid", 400, "INVALID_ARGUMENT", False, DictProblem)
TaxIdNumberBlocked = _define("TaxIdNumberBlocked", 400, "FAILED_PRECONDITION", False, DictProblem)

# Entries
EntryInvalid = _define("EntryInvalid", 400, "INVALID_ARGUMENT", False, EntryProblem)
EntryLimitExceeded = _define("EntryLimitExceeded", 400, "FAILED_PRECONDITION", False, EntryProblem)
EntryAlreadyExists = _define("EntryAlreadyExists", 400, "ALREADY_EXISTS", False, EntryProblem)
EntryCannotBeQueriedForBookTransfer = _define(
    "EntryCannotBeQueriedForBookTransfer", 400, "FAILED_PRECONDITION", False, EntryProblem
)
EntryKeyOwnedByDifferentPerson = _define(
    "EntryKeyOwnedByDifferentPerson", 400, "ALREADY_EXISTS", False, EntryProblem
)
EntryKeyInCustodyOfDifferentParticipant = _define(
    "EntryKeyInCustodyOfDifferentParticipant", 400, "ALREADY_EXISTS", False, EntryProblem
)
EntryLockedByClaim = _define("EntryLockedByClaim", 400, "FAILED_PRECONDITION", False, EntryProblem)
EntryTaxIdNumberByDifferentOwner = _define(
    "EntryTaxIdNumberByDifferentOwner", 400, "FAILED_PRECONDITION", False, EntryProblem
)
EntryBlocked = _define("EntryBlocked", 400, "FAILED_PRECONDITION", False, EntryProblem)
EntryWithFraudRelatedRestriction = _define(
    "EntryWithFraudRelatedRestriction", 400, "FAILED_PRECONDITION", False, EntryProblem
)

# Claims
ClaimInvalid = _define("ClaimInvalid", 400, "INVALID_ARGUMENT", False, ClaimProblem)
ClaimTypeInconsistent = _define(
    "ClaimTypeInconsistent", 400, "FAILED_PRECONDITION", False, ClaimProblem
)
ClaimKeyNotFound = _define("ClaimKeyNotFound", 404, "NOT_FOUND", False, ClaimProblem)
ClaimAlreadyExistsForKey = _define(
    "ClaimAlreadyExistsForKey", 400, "ALREADY_EXISTS", False, ClaimProblem
)
ClaimResultingEntryAlreadyExists = _define(
    "ClaimResultingEntryAlreadyExists", 400, "ALREADY_EXISTS", False, ClaimProblem
)
ClaimOperationInvalid = _define(
    "ClaimOperationInvalid", 400, "FAILED_PRECONDITION", False, ClaimProblem
)
# "Too early": retrying later, once the period has ended, succeeds.
ClaimResolutionPeriodNotEnded = _define(
    "ClaimResolutionPeriodNotEnded", 400, "FAILED_PRECONDITION", True, ClaimProblem
)
ClaimCompletionPeriodNotEnded = _define(
    "ClaimCompletionPeriodNotEnded", 400, "FAILED_PRECONDITION", True, ClaimProblem
)

# Infraction reports: the error table's "Notificação de infração" rows (v2.6.1), all HTTP 400.
InfractionReportInvalid = _define(
    "InfractionReportInvalid", 400, "INVALID_ARGUMENT", False, InfractionProblem
)
InfractionReportOperationInvalid = _define(
    "InfractionReportOperationInvalid", 400, "FAILED_PRECONDITION", False, InfractionProblem
)
InfractionReportTransactionNotFound = _define(
    "InfractionReportTransactionNotFound", 400, "NOT_FOUND", False, InfractionProblem
)
# "Too early": once the SPI has settled the transaction, the same report can be made.
InfractionReportTransactionNotSettled = _define(
    "InfractionReportTransactionNotSettled", 400, "FAILED_PRECONDITION", True, InfractionProblem
)
InfractionReportAlreadyBeingProcessedForTransaction = _define(
    "InfractionReportAlreadyBeingProcessedForTransaction",
    400,
    "ALREADY_EXISTS",
    False,
    InfractionProblem,
)
InfractionReportAlreadyProcessedForTransaction = _define(
    "InfractionReportAlreadyProcessedForTransaction",
    400,
    "ALREADY_EXISTS",
    False,
    InfractionProblem,
)
InfractionReportPeriodExpired = _define(
    "InfractionReportPeriodExpired", 400, "FAILED_PRECONDITION", False, InfractionProblem
)
INFRACTION_REPORT_ON_TRANSACTION: tuple[type[DictProblem], ...] = (
    InfractionReportAlreadyBeingProcessedForTransaction,
    InfractionReportAlreadyProcessedForTransaction,
)
"""How the DICT refuses a report on a transaction that already has one in progress or
closed: what a repeated CreateInfractionReport meets (its request has no RequestId)."""

# Fraud markers
FraudMarkerInvalid = _define(
    "FraudMarkerInvalid", 400, "INVALID_ARGUMENT", False, InfractionProblem
)
FraudMarkerOperationInvalid = _define(
    "FraudMarkerOperationInvalid", 400, "FAILED_PRECONDITION", False, InfractionProblem
)
# Refunds: the error table's "Solicitação de Devolução" rows (v2.6.1), all HTTP 400.
RefundInvalid = _define("RefundInvalid", 400, "INVALID_ARGUMENT", False, InfractionProblem)
RefundOperationInvalid = _define(
    "RefundOperationInvalid", 400, "FAILED_PRECONDITION", False, InfractionProblem
)
RefundTransactionNotFound = _define(
    "RefundTransactionNotFound", 400, "NOT_FOUND", False, InfractionProblem
)
# "Too early": once the SPI has settled the transaction, the same request can succeed.
RefundTransactionNotSettled = _define(
    "RefundTransactionNotSettled", 400, "FAILED_PRECONDITION", True, InfractionProblem
)
RefundAlreadyProcessedForTransaction = _define(
    "RefundAlreadyProcessedForTransaction", 400, "ALREADY_EXISTS", False, InfractionProblem
)
RefundAlreadyBeingProcessedForTransaction = _define(
    "RefundAlreadyBeingProcessedForTransaction", 400, "ALREADY_EXISTS", False, InfractionProblem
)
RefundPeriodExpired = _define(
    "RefundPeriodExpired", 400, "FAILED_PRECONDITION", False, InfractionProblem
)
RefundInfractionReportNotFound = _define(
    "RefundInfractionReportNotFound", 400, "FAILED_PRECONDITION", False, InfractionProblem
)


def problem_class(type_name: str) -> type[DictProblem]:
    """The exception class for a DICT problem type; unknown types keep their name."""
    cls = _CATALOGUE.get(type_name)
    if cls is None:
        # Clients must tolerate new problem types: keep the name, treat as not retryable.
        cls = type(
            type_name,
            (DictProblem,),
            {"type": type_name, "retryable": False, "http_status": 400, "grpc_code": "UNKNOWN"},
        )
    return cls
