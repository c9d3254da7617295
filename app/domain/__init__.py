"""What the DICT allows, as pure Python: no I/O, no clock, nothing imported from the rest
of the project. The API, the state machines, the actors and the simulator all decide
with these rules, so they agree with each other by construction.

- ``keys``: key types, normalisation and validation of keys, accounts and owners
- ``cid``: CIDs and VSyncs (synchronisation)
- ``claims``: claim periods, deadlines and the reasons each call accepts
- ``buckets``: rate-limit policies and the token bucket
- ``problems``: the DICT's problem types as exceptions
- ``fixtures``: valid CPFs and CNPJs from a seed, for tests and benchmarks
"""

from app.domain.buckets import Policy, Scope, TokenBucket, policy
from app.domain.cid import (
    EMPTY_VSYNC,
    VSync,
    compute_cid,
    compute_cid_bytes,
    compute_vsync,
    xor_hex,
)
from app.domain.claims import (
    ClaimPeriods,
    ClaimReason,
    ClaimRole,
    ClaimStatus,
    ClaimType,
    Deadline,
    Operation,
    allowed_cancel_reasons,
    allowed_confirm_reasons,
    deadlines,
    may_call,
)
from app.domain.keys import (
    Account,
    AccountType,
    KeyType,
    Owner,
    PersonType,
    ValidationError,
    Violation,
    claimable,
    is_valid_cnpj,
    is_valid_cpf,
    normalize_key,
    validate_account,
    validate_entry,
    validate_owner,
)

__all__ = [
    "EMPTY_VSYNC",
    "Account",
    "AccountType",
    "ClaimPeriods",
    "ClaimReason",
    "ClaimRole",
    "ClaimStatus",
    "ClaimType",
    "Deadline",
    "KeyType",
    "Operation",
    "Owner",
    "PersonType",
    "Policy",
    "Scope",
    "TokenBucket",
    "VSync",
    "ValidationError",
    "Violation",
    "allowed_cancel_reasons",
    "allowed_confirm_reasons",
    "claimable",
    "compute_cid",
    "compute_cid_bytes",
    "compute_vsync",
    "deadlines",
    "is_valid_cnpj",
    "is_valid_cpf",
    "may_call",
    "normalize_key",
    "policy",
    "validate_account",
    "validate_entry",
    "validate_owner",
    "xor_hex",
]
