"""The DICT's rules for claims (reivindicações), stated from the spec text, not from our code.

The simulator must accept exactly what the DICT accepts, so it does not share the
connector's tables (``app.domain.claims``): a rule both got wrong would pass every test.
Sources: docs/DICT.md §2 (which wins on any disagreement), the OpenAPI v2.6.1 text of
``/claims/`` (createClaim), ``/claims/{ClaimId}/acknowledge``, ``/confirm``, ``/cancel``,
``/complete``, its error table, and manual §5 (portability) and §6 (ownership). Each
table keeps the spec's own shape and cites where it comes from. Rows marked
**[inferred]** are not stated by the spec; their comment says why they read so.

Instants are integer microseconds on the simulator's clock. A period "has passed" at its
end instant (``now >= end``). The claim record carries no creation date (DICT.md §2):
creation is ResolutionPeriodEnd − 7 days, and the simulator keeps it only for itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain import problems

PORTABILITY, OWNERSHIP = "PORTABILITY", "OWNERSHIP"  # schema ClaimType
CLAIM_TYPES = frozenset({PORTABILITY, OWNERSHIP})
OPEN, WAITING, CONFIRMED = "OPEN", "WAITING_RESOLUTION", "CONFIRMED"  # schema ClaimStatus
CANCELLED, COMPLETED = "CANCELLED", "COMPLETED"
DONOR, CLAIMER = "DONOR", "CLAIMER"  # ExtendedClaim.CancelledBy
USER, CLOSURE, FRAUD = "USER_REQUESTED", "ACCOUNT_CLOSURE", "FRAUD"  # ClaimOperationReason
DEFAULT, RECONCILIATION, RFB = "DEFAULT_OPERATION", "RECONCILIATION", "RFB_VALIDATION"

# --- periods: manual §5/§6, DICT.md §2 "Timers" ---------------------------------------
_DAY_US = 86_400 * 1_000_000
RESOLUTION_PERIOD_US = 7 * _DAY_US  # both types, from creation (OPEN), not from acknowledge
COMPLETION_PERIOD_US = 7 * _DAY_US  # OWNERSHIP: starts the instant the resolution period ends
DAY30_US = 30 * _DAY_US  # OWNERSHIP: the claimer's possession-validation limit, from creation

# --- which key types may be claimed: createClaim's table (v2.6.1) -----------------------
#                 OWNERSHIP  PORTABILITY
# CPF                            ✓        (schema Claim.KeyType: "CPF e CNPJ são inválidos,
# CNPJ                           ✓         não podem ter posse reivindicada")
# PHONE               ✓          ✓
# EMAIL                          ✓        (v1.8.0 allowed OWNERSHIP too; DICT.md §2)
# EVP                                     (never claimable)
CLAIMABLE: dict[str, frozenset[str]] = {
    "CPF": frozenset({PORTABILITY}),
    "CNPJ": frozenset({PORTABILITY}),
    "PHONE": frozenset({OWNERSHIP, PORTABILITY}),
    "EMAIL": frozenset({PORTABILITY}),
    "EVP": frozenset(),
}
# A combination outside the table is refused as ``ClaimInvalid``, naming KeyType. For
# CPF/CNPJ under OWNERSHIP the schema calls the key type "inválido". For EVP and for an
# OWNERSHIP claim of an EMAIL key [inferred]: the spec names no type; ClaimInvalid ("campos
# inválidos") fits, while ClaimTypeInconsistent is defined only by owner (mis)matches.

# --- acknowledge / confirm / complete: who, from which status (each operation's text) ---
#   operation     caller    from status           to status
ACKNOWLEDGE = (DONOR, OPEN, WAITING)  # a repeat while WAITING_RESOLUTION: same answer
CONFIRM = (DONOR, WAITING, CONFIRMED)  # "Status deve estar em WAITING_RESOLUTION"
COMPLETE = (CLAIMER, CONFIRMED, COMPLETED)  # "status deve ser CONFIRMED"
# The other party calling is ``Forbidden`` [inferred: the error table's "viola alguma regra
# de autorização"]; the right party from another status is ``ClaimOperationInvalid``
# ("Status atual da reivindicação não permite que operação seja feita").

# --- confirm: confirmClaim's table, reason × (type, role); the claimer column is empty ---
#                    OWNERSHIP donor   PORTABILITY donor
CONFIRM_REASONS: dict[str, frozenset[str]] = {
    USER: frozenset({OWNERSHIP, PORTABILITY}),
    CLOSURE: frozenset({PORTABILITY}),
    DEFAULT: frozenset({OWNERSHIP}),  # only once ResolutionPeriodEnd has passed
}
# "Para reivindicação de posse, caso razão seja DEFAULT_OPERATION, o prazo de resolução
# deve ter passado" -> ClaimResolutionPeriodNotEnded (error table, first sentence).
CONFIRM_NOT_BEFORE_RESOLUTION_END = frozenset({(OWNERSHIP, DEFAULT)})
# "Se a razão informada for USER_REQUESTED, o prazo de encerramento (CompletionPeriodEnd)
# será adiantado para permitir o encerramento imediato": moved to the confirm instant.
CONFIRM_BRINGS_COMPLETION_FORWARD = frozenset({(OWNERSHIP, USER)})

# --- cancel: cancelClaim's tables, reason -> roles, per claim type and status -----------
_D, _C, _BOTH = frozenset({DONOR}), frozenset({CLAIMER}), frozenset({DONOR, CLAIMER})
# PORTABILITY: "Status deve ser OPEN ou WAITING_RESOLUTION"; the reason × role table; its
# exceptions: no RECONCILIATION while WAITING_RESOLUTION, and the claimer may also cancel
# a CONFIRMED portability with FRAUD, RECONCILIATION or RFB_VALIDATION.
# OWNERSHIP: "Status deve ser OPEN, WAITING_RESOLUTION ou CONFIRMED"; the claimer cancels
# (reasons per DICT.md §2: USER_REQUESTED, ACCOUNT_CLOSURE, FRAUD, DEFAULT_OPERATION); the
# exception: with FRAUD the donor may cancel too.
_OWNERSHIP_CANCEL = {USER: _C, CLOSURE: _C, FRAUD: _BOTH, DEFAULT: _C}
CANCEL_REASONS: dict[tuple[str, str], dict[str, frozenset[str]]] = {
    (PORTABILITY, OPEN): {
        USER: _BOTH,
        CLOSURE: _C,
        DEFAULT: _D,
        FRAUD: _BOTH,
        RECONCILIATION: _C,
        RFB: _C,
    },
    (PORTABILITY, WAITING): {USER: _BOTH, CLOSURE: _C, DEFAULT: _D, FRAUD: _BOTH, RFB: _C},
    (PORTABILITY, CONFIRMED): {FRAUD: _C, RECONCILIATION: _C, RFB: _C},
    (OWNERSHIP, OPEN): _OWNERSHIP_CANCEL,
    (OWNERSHIP, WAITING): _OWNERSHIP_CANCEL,
    (OWNERSHIP, CONFIRMED): _OWNERSHIP_CANCEL,
}
# A reason allowed only once a period has passed: (type, role, reason) -> period.
# Portability donor: "prazo definido pelo campo ResolutionPeriodEnd deve ter passado"
# -> ClaimResolutionPeriodNotEnded (error table, second sentence).
# Ownership claimer: "prazo de validação de posse ... deve ter passado", i.e. day 30 after
# the claim opened (manual §6) = ResolutionPeriodEnd + 23 days (DICT.md §2). Before it:
# InvalidReason [inferred: the error table's period errors name other operations only].
CANCEL_NOT_BEFORE: dict[tuple[str, str, str], str] = {
    (PORTABILITY, DONOR, DEFAULT): "resolution_end",
    (OWNERSHIP, CLAIMER, DEFAULT): "day30",
}
# A cancel allowed only until a period ends: (type, role, status) -> period. [inferred from
# manual §6: the old owner may prove possession during the completion period (days 8-14),
# "ao final do período de encerramento" the claimer's turn begins.] Afterwards the donor's
# cancel is ClaimOperationInvalid [inferred: the claim's state no longer allows it].
CANCEL_UNTIL: dict[tuple[str, str, str], str] = {
    (OWNERSHIP, DONOR, CONFIRMED): "completion_end",
}
# A caller whose role has no reason at all in (type, status) -> ClaimOperationInvalid; a
# role that may cancel from that status but not with this reason -> InvalidReason
# ("razão inválida para a operação") [inferred where the spec states a status rule, e.g.
# a claimer's USER_REQUESTED cancel of a CONFIRMED portability].


@dataclass(frozen=True, slots=True)
class Periods:
    """The instants a claim's rules turn on (µs)."""

    resolution_end: int
    completion_end: int | None  # OWNERSHIP only
    day30: int

    @classmethod
    def of(cls, claim_type: str, created_us: int) -> Periods:
        resolution_end = created_us + RESOLUTION_PERIOD_US
        completion_end = resolution_end + COMPLETION_PERIOD_US if claim_type == OWNERSHIP else None
        return cls(resolution_end, completion_end, created_us + DAY30_US)


def claim_type_problem(key_type: str, claim_type: str) -> problems.DictProblem | None:
    """Why the DICT refuses to claim a key of ``key_type`` this way, or None."""
    if claim_type not in CLAIM_TYPES:
        return problems.ClaimInvalid(
            "Type is OWNERSHIP or PORTABILITY", violations=[("type", "one_of")]
        )
    if claim_type not in CLAIMABLE.get(key_type, frozenset()):
        return problems.ClaimInvalid(
            f"a {key_type} key cannot be claimed by {claim_type}",
            violations=[("key_type", "not_claimable")],
        )
    return None


def check_call(operation: tuple[str, str, str], roles: list[str], status: str, name: str) -> None:
    """Forbidden unless the caller plays the operation's role; ClaimOperationInvalid
    unless the claim is in the status the operation moves it out of."""
    role, source, _target = operation
    if role not in roles:
        raise problems.Forbidden(f"only the {role.lower()} may {name} a claim")
    if status != source:
        raise problems.ClaimOperationInvalid(f"cannot {name} a {status} claim")


def check_confirm_reason(claim_type: str, reason: str, now: int, periods: Periods) -> None:
    """InvalidReason or ClaimResolutionPeriodNotEnded unless the donor may confirm so now."""
    if claim_type not in CONFIRM_REASONS.get(reason, frozenset()):
        raise problems.InvalidReason(f"{reason!r} cannot confirm a {claim_type} claim")
    if (claim_type, reason) in CONFIRM_NOT_BEFORE_RESOLUTION_END and now < periods.resolution_end:
        raise problems.ClaimResolutionPeriodNotEnded(f"{reason} only after ResolutionPeriodEnd")


def completion_end_after_confirm(
    claim_type: str, reason: str, now: int, periods: Periods
) -> int | None:
    """CompletionPeriodEnd once confirmed: brought forward by a USER_REQUESTED ownership
    confirm (never pushed back), unchanged otherwise."""
    end = periods.completion_end
    if end is not None and (claim_type, reason) in CONFIRM_BRINGS_COMPLETION_FORWARD:
        return min(end, now)
    return end


def check_complete(claim_type: str, now: int, periods: Periods) -> None:
    """OWNERSHIP completes only once CompletionPeriodEnd has passed (completeClaim text;
    error table ClaimCompletionPeriodNotEnded); PORTABILITY at once."""
    end = periods.completion_end
    if claim_type == OWNERSHIP and end is not None and now < end:
        raise problems.ClaimCompletionPeriodNotEnded("complete after CompletionPeriodEnd")


def cancelling_role(
    claim_type: str, status: str, roles: list[str], reason: str, now: int, periods: Periods
) -> str:
    """The caller's role under which the DICT accepts this cancel now, or its refusal.

    ``roles`` holds both roles when one PSP is donor and claimer (an OWNERSHIP claim
    between two of its customers); the claimer's rules are tried first.
    """
    cell = CANCEL_REASONS.get((claim_type, status), {})
    mine = [r for r in (CLAIMER, DONOR) if r in roles and any(r in who for who in cell.values())]
    if not mine:
        raise problems.ClaimOperationInvalid(f"cannot cancel a {status} claim")
    refusals: list[problems.DictProblem] = []
    for role in mine:
        if role not in cell.get(reason, frozenset()):
            continue
        refusal = _period_refusal(claim_type, status, role, reason, now, periods)
        if refusal is None:
            return role
        refusals.append(refusal)
    if refusals:
        raise refusals[0]
    raise problems.InvalidReason(f"{reason!r} cannot cancel this claim")


def _period_refusal(
    claim_type: str, status: str, role: str, reason: str, now: int, periods: Periods
) -> problems.DictProblem | None:
    until = CANCEL_UNTIL.get((claim_type, role, status))
    end = getattr(periods, until) if until else None
    if end is not None and now >= end:
        return problems.ClaimOperationInvalid(f"the {role.lower()} may no longer cancel")
    since = CANCEL_NOT_BEFORE.get((claim_type, role, reason))
    if since is None or now >= getattr(periods, since):
        return None
    if since == "resolution_end":
        return problems.ClaimResolutionPeriodNotEnded(f"{reason} only after ResolutionPeriodEnd")
    return problems.InvalidReason(f"{reason} only after the possession-validation limit")
