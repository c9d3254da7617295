"""The DICT's claim rules as the spec states them, one row per rule (DICT.md §2).

Written from the spec text alone: docs/DICT.md §2 (which wins on any disagreement), the
OpenAPI v2.6.1 text of createClaim, acknowledgeClaim, confirmClaim, cancelClaim and
completeClaim with its error table, and the operating manual §5 (portability) and §6
(ownership). Nothing here is imported from ``app.domain`` or from the simulator's
``claim_rules``: the point is to catch a wrong rule that the connector and the simulator
share. Two suites read these rows: ``tests/conformance`` (the simulator, over gRPC) and
``tests/unit/domain/test_claims_spec.py`` (the connector's own rule functions).

A row's ``expected`` is ``ACCEPTED`` or the DICT's problem type. Rows marked ``inferred``
name a problem type the spec does not state for that refusal; ``source`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCEPTED = "accepted"
PORTABILITY, OWNERSHIP = "PORTABILITY", "OWNERSHIP"
DONOR, CLAIMER = "DONOR", "CLAIMER"
OPEN, WAITING, CONFIRMED = "OPEN", "WAITING_RESOLUTION", "CONFIRMED"
CANCELLED, COMPLETED = "CANCELLED", "COMPLETED"
USER, CLOSURE, FRAUD = "USER_REQUESTED", "ACCOUNT_CLOSURE", "FRAUD"
DEFAULT, RECONCILIATION, RFB = "DEFAULT_OPERATION", "RECONCILIATION", "RFB_VALIDATION"
INVALID_OP, INVALID_REASON = "ClaimOperationInvalid", "InvalidReason"
RESOLUTION_NOT_ENDED = "ClaimResolutionPeriodNotEnded"
COMPLETION_NOT_ENDED = "ClaimCompletionPeriodNotEnded"

# When a call is made, in seconds after the claim's creation. Periods (manual §5-6,
# DICT.md §2 "Timers"): ResolutionPeriodEnd = creation + 7 days; for OWNERSHIP
# CompletionPeriodEnd = ResolutionPeriodEnd + 7 days; day 30 = creation + 30 days.
DAY = 86_400
AT: dict[str, int] = {
    "at once": 60,
    "before ResolutionPeriodEnd": 6 * DAY,
    "after ResolutionPeriodEnd": 7 * DAY + 3600,  # and before CompletionPeriodEnd
    "after CompletionPeriodEnd": 14 * DAY + 3600,  # and before day 30
    "before day 30": 29 * DAY,
    "after day 30": 30 * DAY + 3600,
}
# How a claim reaches a status before the call (the setup both suites assume): the
# donor acknowledges at once; a PORTABILITY is confirmed USER_REQUESTED at once; an
# OWNERSHIP is confirmed DEFAULT_OPERATION just after ResolutionPeriodEnd (keeping its
# CompletionPeriodEnd); COMPLETED follows a USER_REQUESTED confirm; CANCELLED is the
# claimer's USER_REQUESTED cancel at once.
OWNERSHIP_CONFIRMED_AT = 7 * DAY + 1

CANCEL_SRC = "OpenAPI /claims/{ClaimId}/cancel"
OWNERSHIP_CANCEL_SRC = "OpenAPI /claims/{ClaimId}/cancel; DICT.md §2 (ownership claimer)"
CONFIRM_SRC = "OpenAPI /claims/{ClaimId}/confirm"
COMPLETE_SRC = "OpenAPI /claims/{ClaimId}/complete"
ACK_SRC = "OpenAPI /claims/{ClaimId}/acknowledge"
STATUS_SRC = "error table: ClaimOperationInvalid (status does not allow the operation)"
FORBIDDEN_SRC = "[inferred] error table: Forbidden (an authorization rule); the spec names none"


@dataclass(frozen=True)
class ClaimCall:
    """One rule: ``role`` calls ``operation`` on a ``claim_type`` claim in ``status`` with
    ``reason``, ``when`` after its creation -> ``expected``."""

    operation: str  # acknowledge | confirm | cancel | complete
    role: str
    claim_type: str
    status: str
    reason: str  # "" for acknowledge and complete
    when: str  # a key of AT
    expected: str
    source: str
    inferred: bool = False

    @property
    def at(self) -> int:
        return AT[self.when]

    @property
    def id(self) -> str:
        reason = f" with {self.reason}" if self.reason else ""
        mark = " [inferred]" if self.inferred else ""
        return (
            f"{self.role.lower()} {self.operation}s {self.status} {self.claim_type}"
            f"{reason} {self.when}: {self.expected}{mark}"
        )


def _c(
    op: str,
    role: str,
    kind: str,
    status: str,
    reason: str,
    when: str,
    expected: str,
    source: str,
    inferred: bool = False,
) -> ClaimCall:
    return ClaimCall(op, role, kind, status, reason, when, expected, source, inferred)


_NOW, _BEFORE_R, _AFTER_R = "at once", "before ResolutionPeriodEnd", "after ResolutionPeriodEnd"
_AFTER_C, _BEFORE_30, _AFTER_30 = "after CompletionPeriodEnd", "before day 30", "after day 30"
_P, _O, _D, _C = PORTABILITY, OWNERSHIP, DONOR, CLAIMER

# cancelClaim, PORTABILITY: "Status deve ser OPEN ou WAITING_RESOLUTION"; reason x role
# table: USER_REQUESTED both, ACCOUNT_CLOSURE claimer, DEFAULT_OPERATION donor (after
# ResolutionPeriodEnd), FRAUD both, RECONCILIATION claimer, RFB_VALIDATION claimer.
# Exceptions: the claimer may also cancel CONFIRMED with FRAUD / RECONCILIATION /
# RFB_VALIDATION; no RECONCILIATION while WAITING_RESOLUTION.
PORTABILITY_CANCEL = [
    _c("cancel", _D, _P, OPEN, USER, _NOW, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _P, OPEN, FRAUD, _NOW, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _P, WAITING, USER, _NOW, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _P, WAITING, FRAUD, _NOW, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _P, OPEN, DEFAULT, _BEFORE_R, RESOLUTION_NOT_ENDED, CANCEL_SRC),
    _c("cancel", _D, _P, OPEN, DEFAULT, _AFTER_R, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _P, WAITING, DEFAULT, _BEFORE_R, RESOLUTION_NOT_ENDED, CANCEL_SRC),
    _c("cancel", _D, _P, WAITING, DEFAULT, _AFTER_R, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _P, OPEN, CLOSURE, _NOW, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _P, WAITING, CLOSURE, _NOW, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _P, WAITING, RECONCILIATION, _NOW, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _P, WAITING, RFB, _NOW, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _P, CONFIRMED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
    _c("cancel", _D, _P, CONFIRMED, USER, _NOW, INVALID_OP, STATUS_SRC),
    _c("cancel", _D, _P, COMPLETED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
    _c("cancel", _D, _P, CANCELLED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
    *[
        _c("cancel", _C, _P, OPEN, r, _NOW, ACCEPTED, CANCEL_SRC)
        for r in (USER, CLOSURE, FRAUD, RECONCILIATION, RFB)
    ],
    _c("cancel", _C, _P, OPEN, DEFAULT, _AFTER_R, INVALID_REASON, CANCEL_SRC),
    *[
        _c("cancel", _C, _P, WAITING, r, _NOW, ACCEPTED, CANCEL_SRC)
        for r in (USER, CLOSURE, FRAUD, RFB)
    ],
    _c("cancel", _C, _P, WAITING, RECONCILIATION, _NOW, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _C, _P, WAITING, DEFAULT, _AFTER_R, INVALID_REASON, CANCEL_SRC),
    *[
        _c("cancel", _C, _P, CONFIRMED, r, _NOW, ACCEPTED, CANCEL_SRC)
        for r in (FRAUD, RECONCILIATION, RFB)
    ],
    # The claimer may cancel a CONFIRMED portability, but only with the exception's
    # reasons: [inferred] a wrong reason is InvalidReason, not a status refusal.
    _c("cancel", _C, _P, CONFIRMED, USER, _NOW, INVALID_REASON, CANCEL_SRC, inferred=True),
    _c("cancel", _C, _P, CONFIRMED, CLOSURE, _NOW, INVALID_REASON, CANCEL_SRC, inferred=True),
    _c("cancel", _C, _P, COMPLETED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
    _c("cancel", _C, _P, CANCELLED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
]

# cancelClaim, OWNERSHIP: "Status deve ser OPEN, WAITING_RESOLUTION ou CONFIRMED"; the
# claimer cancels (DICT.md §2: USER_REQUESTED, ACCOUNT_CLOSURE, FRAUD, DEFAULT_OPERATION
# once the possession-validation limit, day 30, has passed); exception: with FRAUD the
# donor may cancel too. Manual §6: the old owner may prove possession until the end of the
# completion period (days 8-14); after it the claimer's turn begins.
DAY30_SRC = "[inferred] cancelClaim: DEFAULT_OPERATION only after day 30; no type named"
DONOR_LATE_SRC = "[inferred] manual §6: the donor cancels (FRAUD) until CompletionPeriodEnd"
OWNERSHIP_CANCEL = [
    *[
        _c("cancel", _C, _O, s, r, when, ACCEPTED, OWNERSHIP_CANCEL_SRC)
        for s, when in ((OPEN, _NOW), (WAITING, _NOW), (CONFIRMED, _AFTER_R))
        for r in (USER, CLOSURE, FRAUD)
    ],
    _c("cancel", _C, _O, OPEN, DEFAULT, _BEFORE_30, INVALID_REASON, DAY30_SRC, inferred=True),
    _c("cancel", _C, _O, CONFIRMED, DEFAULT, _AFTER_C, INVALID_REASON, DAY30_SRC, inferred=True),
    _c("cancel", _C, _O, OPEN, DEFAULT, _AFTER_30, ACCEPTED, OWNERSHIP_CANCEL_SRC),
    _c("cancel", _C, _O, WAITING, DEFAULT, _AFTER_30, ACCEPTED, OWNERSHIP_CANCEL_SRC),
    _c("cancel", _C, _O, CONFIRMED, DEFAULT, _AFTER_30, ACCEPTED, OWNERSHIP_CANCEL_SRC),
    _c("cancel", _C, _O, OPEN, RECONCILIATION, _NOW, INVALID_REASON, OWNERSHIP_CANCEL_SRC),
    _c("cancel", _C, _O, WAITING, RFB, _NOW, INVALID_REASON, OWNERSHIP_CANCEL_SRC),
    _c("cancel", _C, _O, COMPLETED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
    _c("cancel", _C, _O, CANCELLED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
    _c("cancel", _D, _O, OPEN, FRAUD, _NOW, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _O, WAITING, FRAUD, _NOW, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _O, CONFIRMED, FRAUD, _AFTER_R, ACCEPTED, CANCEL_SRC),
    _c("cancel", _D, _O, CONFIRMED, FRAUD, _AFTER_C, INVALID_OP, DONOR_LATE_SRC, inferred=True),
    _c("cancel", _D, _O, OPEN, CLOSURE, _NOW, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _O, WAITING, USER, _NOW, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _O, WAITING, DEFAULT, _AFTER_R, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _O, CONFIRMED, USER, _AFTER_R, INVALID_REASON, CANCEL_SRC),
    _c("cancel", _D, _O, COMPLETED, FRAUD, _NOW, INVALID_OP, STATUS_SRC),
]

# confirmClaim: "Status deve estar em WAITING_RESOLUTION"; the table (the claimer column is
# empty): OWNERSHIP donor USER_REQUESTED, DEFAULT_OPERATION (after ResolutionPeriodEnd);
# PORTABILITY donor USER_REQUESTED, ACCOUNT_CLOSURE.
CONFIRM = [
    _c("confirm", _D, _O, WAITING, USER, _NOW, ACCEPTED, CONFIRM_SRC),
    _c("confirm", _D, _O, WAITING, DEFAULT, _BEFORE_R, RESOLUTION_NOT_ENDED, CONFIRM_SRC),
    _c("confirm", _D, _O, WAITING, DEFAULT, _AFTER_R, ACCEPTED, CONFIRM_SRC),
    _c("confirm", _D, _O, WAITING, CLOSURE, _NOW, INVALID_REASON, CONFIRM_SRC),
    _c("confirm", _D, _O, WAITING, FRAUD, _NOW, INVALID_REASON, CONFIRM_SRC),
    _c("confirm", _D, _P, WAITING, USER, _NOW, ACCEPTED, CONFIRM_SRC),
    _c("confirm", _D, _P, WAITING, CLOSURE, _NOW, ACCEPTED, CONFIRM_SRC),
    _c("confirm", _D, _P, WAITING, DEFAULT, _AFTER_R, INVALID_REASON, CONFIRM_SRC),
    _c("confirm", _D, _P, WAITING, FRAUD, _NOW, INVALID_REASON, CONFIRM_SRC),
    _c("confirm", _D, _P, OPEN, USER, _NOW, INVALID_OP, CONFIRM_SRC),
    _c("confirm", _D, _O, OPEN, USER, _NOW, INVALID_OP, CONFIRM_SRC),
    _c("confirm", _D, _P, CONFIRMED, CLOSURE, _NOW, INVALID_OP, CONFIRM_SRC),
    _c("confirm", _D, _P, CANCELLED, USER, _NOW, INVALID_OP, CONFIRM_SRC),
    _c("confirm", _D, _O, COMPLETED, USER, _NOW, INVALID_OP, CONFIRM_SRC),
    _c("confirm", _C, _P, WAITING, USER, _NOW, "Forbidden", FORBIDDEN_SRC, inferred=True),
    _c("confirm", _C, _O, WAITING, USER, _NOW, "Forbidden", FORBIDDEN_SRC, inferred=True),
]

# completeClaim: by the claimer, from CONFIRMED; OWNERSHIP only once CompletionPeriodEnd
# has passed (error table: ClaimCompletionPeriodNotEnded).
COMPLETE = [
    _c("complete", _C, _P, CONFIRMED, "", _NOW, ACCEPTED, COMPLETE_SRC),
    _c("complete", _C, _O, CONFIRMED, "", _AFTER_R, COMPLETION_NOT_ENDED, COMPLETE_SRC),
    _c("complete", _C, _O, CONFIRMED, "", _AFTER_C, ACCEPTED, COMPLETE_SRC),
    _c("complete", _C, _P, OPEN, "", _NOW, INVALID_OP, COMPLETE_SRC),
    _c("complete", _C, _P, WAITING, "", _NOW, INVALID_OP, COMPLETE_SRC),
    _c("complete", _C, _O, WAITING, "", _AFTER_C, INVALID_OP, COMPLETE_SRC),
    _c("complete", _C, _P, CANCELLED, "", _NOW, INVALID_OP, COMPLETE_SRC),
    _c("complete", _D, _P, CONFIRMED, "", _NOW, "Forbidden", FORBIDDEN_SRC, inferred=True),
]

# acknowledgeClaim: the donor notifies receipt of an OPEN claim.
ACKNOWLEDGE = [
    _c("acknowledge", _D, _P, OPEN, "", _NOW, ACCEPTED, ACK_SRC),
    _c("acknowledge", _D, _O, OPEN, "", _NOW, ACCEPTED, ACK_SRC),
    _c("acknowledge", _D, _P, CONFIRMED, "", _NOW, INVALID_OP, STATUS_SRC),
    _c("acknowledge", _D, _O, CANCELLED, "", _NOW, INVALID_OP, STATUS_SRC),
    _c("acknowledge", _C, _P, OPEN, "", _NOW, "Forbidden", FORBIDDEN_SRC, inferred=True),
]

CLAIM_CALLS: list[ClaimCall] = [
    *PORTABILITY_CANCEL,
    *OWNERSHIP_CANCEL,
    *CONFIRM,
    *COMPLETE,
    *ACKNOWLEDGE,
]


@dataclass(frozen=True)
class Claimable:
    """createClaim's table (v2.6.1): may a key of ``key_type`` be claimed this way?"""

    key_type: str
    claim_type: str
    expected: str  # ACCEPTED or ClaimInvalid
    source: str
    inferred: bool = False

    @property
    def id(self) -> str:
        mark = " [inferred]" if self.inferred else ""
        return f"{self.claim_type} of a {self.key_type} key: {self.expected}{mark}"


TABLE_SRC = "OpenAPI /claims/ createClaim table (v2.6.1)"
CPF_CNPJ_SRC = "schema Claim.KeyType: CPF and CNPJ are invalid for an ownership claim"
NOT_CLAIMABLE_SRC = "[inferred] createClaim table; ClaimInvalid (KeyType is the bad field)"
CLAIMABLE = [
    Claimable("CPF", PORTABILITY, ACCEPTED, TABLE_SRC),
    Claimable("CNPJ", PORTABILITY, ACCEPTED, TABLE_SRC),
    Claimable("PHONE", PORTABILITY, ACCEPTED, TABLE_SRC),
    Claimable("EMAIL", PORTABILITY, ACCEPTED, TABLE_SRC),
    Claimable("PHONE", OWNERSHIP, ACCEPTED, TABLE_SRC),
    Claimable("CPF", OWNERSHIP, "ClaimInvalid", CPF_CNPJ_SRC),
    Claimable("CNPJ", OWNERSHIP, "ClaimInvalid", CPF_CNPJ_SRC),
    Claimable("EMAIL", OWNERSHIP, "ClaimInvalid", NOT_CLAIMABLE_SRC, inferred=True),
    Claimable("EVP", PORTABILITY, "ClaimInvalid", NOT_CLAIMABLE_SRC, inferred=True),
    Claimable("EVP", OWNERSHIP, "ClaimInvalid", NOT_CLAIMABLE_SRC, inferred=True),
]


@dataclass(frozen=True)
class CreateClaim:
    """A createClaim rule: ``scenario`` names how the request or the DICT differs from a
    valid claim by the other participant of one of our keys (see test_claims.py)."""

    scenario: str
    claim_type: str
    expected: str
    source: str
    inferred: bool = False
    fields: tuple[str, ...] = ()  # the violations a ClaimInvalid names

    @property
    def id(self) -> str:
        mark = " [inferred]" if self.inferred else ""
        return f"{self.claim_type}: {self.scenario}: {self.expected}{mark}"


ERRORS_SRC = "OpenAPI error table"
CREATE_CLAIM = [
    CreateClaim("a valid claim", PORTABILITY, ACCEPTED, "OpenAPI /claims/ createClaim"),
    CreateClaim("a valid claim", OWNERSHIP, ACCEPTED, "OpenAPI /claims/ createClaim"),
    CreateClaim("the key has no entry", OWNERSHIP, "ClaimKeyNotFound", ERRORS_SRC),
    CreateClaim("a claim is in progress", OWNERSHIP, "ClaimAlreadyExistsForKey", ERRORS_SRC),
    CreateClaim("the last claim was cancelled", OWNERSHIP, ACCEPTED, ERRORS_SRC),
    CreateClaim("the claimer owns the key", OWNERSHIP, "ClaimTypeInconsistent", ERRORS_SRC),
    CreateClaim("the claimer is not the owner", PORTABILITY, "ClaimTypeInconsistent", ERRORS_SRC),
    CreateClaim(
        "the claimer's participant holds the key",
        PORTABILITY,
        "ClaimResultingEntryAlreadyExists",
        "[inferred] error table: the resulting entry (key, participant, owner) exists",
        inferred=True,
    ),
    CreateClaim(
        "donor and claimer are one participant",
        OWNERSHIP,
        ACCEPTED,
        "OpenAPI tag Claim: in an ownership claim donor and claimer may be the same",
    ),
    CreateClaim(
        "the claimer account is at another participant",
        OWNERSHIP,
        "Forbidden",
        FORBIDDEN_SRC,
        inferred=True,
    ),
    CreateClaim(
        "the claimer's branch has 5 digits",
        OWNERSHIP,
        "ClaimInvalid",
        ERRORS_SRC,
        fields=("claimer_account.branch",),
    ),
    CreateClaim(
        "the claimer's name has digits",
        OWNERSHIP,
        "ClaimInvalid",
        ERRORS_SRC,
        fields=("claimer.name",),
    ),
    CreateClaim(
        "the KeyType does not fit the key",
        PORTABILITY,
        "ClaimInvalid",
        ERRORS_SRC,
        fields=("key",),
    ),
]
