"""Claims (reivindicações) with the DICT's status rules (DICT.md §2).

The tables of who may call what, which reasons each role may give and when the
periods end are ``app.domain.claims``; this module applies them to the simulated
DICT and makes the effects happen: confirm removes the donor's entry (REMOVED),
complete creates the claimer's entry keyed by the completion RequestId (ADDED).
The DICT makes no automatic transitions, and neither does the simulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.simulator.clock import from_datetime, to_datetime
from app.bridge.simulator.common import limit, own, visible_until_us
from app.bridge.simulator.config import Participant
from app.bridge.simulator.convert import optional_us, record_of, uuid_bytes
from app.bridge.simulator.entries import check_key_limit, domain_account, domain_owner, invalid
from app.bridge.simulator.models import (
    CANCELLED,
    CLAIM_IN_PROGRESS,
    COMPLETED,
    CONFIRMED,
    WAITING,
    Claim,
)
from app.bridge.simulator.state import Simulator
from app.domain import claims as rules
from app.domain import keys, problems
from app.domain.claims import ClaimReason, ClaimRole, ClaimType, Operation

CLAIM_TYPES = frozenset(ClaimType)


def create(sim: Simulator, caller: Participant, req: pb.CreateClaimRequest) -> pb.ClaimResponse:
    if req.claimer_account.participant != caller.ispb:
        raise problems.Forbidden("the claimer account must be at the requesting participant")
    _validate(req)
    entry = sim.state.store.get(req.key)
    if entry is None:
        raise problems.ClaimKeyNotFound("no active entry has this key")
    if entry.key_type != req.key_type:
        raise problems.ClaimInvalid(
            "key_type differs from the entry's", violations=[("key_type", "matches_entry")]
        )
    if req.key in sim.state.open_claims:
        raise problems.ClaimAlreadyExistsForKey("a claim is already in progress on this key")
    same_owner = entry.tax_id == req.claimer.tax_id_number
    if req.type == ClaimType.PORTABILITY and (not same_owner or entry.participant == caller.ispb):
        raise problems.ClaimTypeInconsistent(
            "portability moves the same owner's key to another participant"
        )
    if req.type == ClaimType.OWNERSHIP and same_owner:
        raise problems.ClaimTypeInconsistent("ownership is claimed by a different owner")
    now = sim.now_us()
    created = to_datetime(now)
    completion = rules.completion_period_end(req.type, created)
    claim = Claim(
        str(uuid.uuid4()),
        req.type,
        req.key,
        req.key_type,
        req.claimer_account,
        req.claimer,
        entry.participant,
        now,
        from_datetime(rules.resolution_period_end(created)),
        None if completion is None else from_datetime(completion),
        now,
        donor_owned_us=entry.owned_us,
    )
    sim.state.claims[claim.id] = claim
    sim.state.open_claims[claim.key] = claim.id
    return pb.ClaimResponse(claim=claim.to_pb())


def _validate(req: pb.CreateClaimRequest) -> None:
    if req.type not in CLAIM_TYPES:
        raise problems.ClaimInvalid(
            "type is PORTABILITY or OWNERSHIP", violations=[("type", "one_of")]
        )
    try:
        keys.validate_entry(
            req.key_type,
            req.key,
            domain_account(req.claimer_account),
            domain_owner(req.claimer),
            creating=False,
        )
    except keys.ValidationError as exc:
        raise invalid(exc, problems.ClaimInvalid) from None
    if req.key_type == "EVP":
        raise problems.ClaimInvalid(
            "EVP keys cannot be claimed", violations=[("key_type", "not_claimable")]
        )
    if not keys.claimable(req.key_type, req.type):
        raise problems.ClaimTypeInconsistent(
            f"a {req.key_type} key cannot be claimed by {req.type}"
        )


def _claim(sim: Simulator, caller: Participant, claim_id: str) -> Claim:
    claim = sim.state.claims.get(claim_id)
    if claim is None:
        raise problems.NotFound(f"no claim {claim_id}")
    if caller.ispb not in (claim.donor_participant, claim.claimer_participant):
        raise problems.Forbidden("only the donor and the claimer see a claim")
    return claim


def _acting(
    sim: Simulator, caller: Participant, claim_id: str, participant: str, role: ClaimRole
) -> Claim:
    """The claim, if the caller plays ``role`` in it (Forbidden otherwise)."""
    own(caller, participant)
    claim = _claim(sim, caller, claim_id)
    holder = claim.donor_participant if role is ClaimRole.DONOR else claim.claimer_participant
    if caller.ispb != holder:
        raise problems.Forbidden(f"only the {role.lower()} may do this")
    return claim


def _move(sim: Simulator, claim: Claim, status: str, now: int) -> pb.ClaimResponse:
    claim.status = status
    claim.last_modified_us = now
    if status not in CLAIM_IN_PROGRESS:
        sim.state.open_claims.pop(claim.key, None)
    return pb.ClaimResponse(claim=claim.to_pb())


def _require(claim: Claim, role: ClaimRole, operation: Operation) -> None:
    if not rules.may_call(role, operation, claim.status):
        raise problems.ClaimOperationInvalid(f"cannot {operation} a {claim.status} claim")


def get(sim: Simulator, caller: Participant, req: pb.GetClaimRequest) -> pb.ClaimResponse:
    return pb.ClaimResponse(claim=_claim(sim, caller, req.claim_id).to_pb())


def acknowledge(
    sim: Simulator, caller: Participant, req: pb.AcknowledgeClaimRequest
) -> pb.ClaimResponse:
    claim = _acting(sim, caller, req.claim_id, req.participant, ClaimRole.DONOR)
    if claim.status == WAITING:
        return pb.ClaimResponse(claim=claim.to_pb())  # idempotent
    _require(claim, ClaimRole.DONOR, Operation.ACKNOWLEDGE)
    return _move(sim, claim, WAITING, sim.now_us())


def confirm(sim: Simulator, caller: Participant, req: pb.ConfirmClaimRequest) -> pb.ClaimResponse:
    claim = _acting(sim, caller, req.claim_id, req.participant, ClaimRole.DONOR)
    if claim.status == CONFIRMED and claim.confirm_reason == req.reason:
        return pb.ClaimResponse(claim=claim.to_pb())  # idempotent
    _require(claim, ClaimRole.DONOR, Operation.CONFIRM)
    now = sim.now_us()
    allowed = rules.allowed_confirm_reasons(
        claim.type, to_datetime(now), to_datetime(claim.resolution_end_us)
    )
    if req.reason not in allowed:
        if req.reason == ClaimReason.DEFAULT_OPERATION and claim.type == ClaimType.OWNERSHIP:
            raise problems.ClaimResolutionPeriodNotEnded(
                "DEFAULT_OPERATION only after ResolutionPeriodEnd"
            )
        raise problems.InvalidReason(f"{req.reason!r} cannot confirm a {claim.type} claim")
    donor_entry = sim.state.store.get(claim.key)
    if donor_entry is not None and donor_entry.participant == claim.donor_participant:
        sim.deactivate(claim.key, now)
    end = rules.completion_period_end_after_confirm(
        claim.type, to_datetime(claim.created_us), to_datetime(now), req.reason
    )
    claim.completion_end_us = None if end is None else from_datetime(end)
    claim.confirm_reason = req.reason
    return _move(sim, claim, CONFIRMED, now)


def cancel(sim: Simulator, caller: Participant, req: pb.CancelClaimRequest) -> pb.ClaimResponse:
    own(caller, req.participant)
    claim = _claim(sim, caller, req.claim_id)
    roles = [
        r
        for r, p in (
            (ClaimRole.CLAIMER, claim.claimer_participant),
            (ClaimRole.DONOR, claim.donor_participant),
        )
        if p == caller.ispb
    ]
    if claim.status == CANCELLED:
        if claim.cancel_reason == req.reason and claim.cancelled_by in roles:
            return pb.ClaimResponse(claim=claim.to_pb())  # idempotent
        raise problems.ClaimOperationInvalid("the claim was cancelled otherwise")
    if not any(rules.may_call(r, Operation.CANCEL, claim.status) for r in roles):
        raise problems.ClaimOperationInvalid(f"cannot cancel a {claim.status} claim")
    now = sim.now_us()
    role = _cancelling_role(claim, roles, req.reason, to_datetime(now))
    claim.cancel_reason, claim.cancelled_by = req.reason, str(role)
    return _move(sim, claim, CANCELLED, now)


def _cancelling_role(claim: Claim, roles: list[ClaimRole], reason: str, now: datetime) -> ClaimRole:
    """The caller's role whose rules accept ``reason`` now (both roles when the same
    PSP claims its own customer's key for someone else)."""
    periods = _periods(claim)
    for role in roles:
        if reason in rules.allowed_cancel_reasons(claim.type, role, claim.status, now, periods):
            return role
    too_early = (
        claim.type == ClaimType.PORTABILITY
        and ClaimRole.DONOR in roles
        and reason == ClaimReason.DEFAULT_OPERATION
        and now < periods.resolution_end
    )
    if too_early:
        raise problems.ClaimResolutionPeriodNotEnded(
            "DEFAULT_OPERATION only after ResolutionPeriodEnd"
        )
    raise problems.InvalidReason(f"{reason!r} cannot cancel this claim now")


def _periods(claim: Claim) -> rules.ClaimPeriods:
    created = to_datetime(claim.created_us)
    return rules.ClaimPeriods(
        to_datetime(claim.resolution_end_us),
        None if claim.completion_end_us is None else to_datetime(claim.completion_end_us),
        rules.day30_limit(created),
    )


def complete(sim: Simulator, caller: Participant, req: pb.CompleteClaimRequest) -> pb.ClaimResponse:
    claim = _acting(sim, caller, req.claim_id, req.participant, ClaimRole.CLAIMER)
    if claim.status == COMPLETED and claim.complete_request_id == req.request_id.lower():
        return pb.ClaimResponse(claim=claim.to_pb())  # idempotent
    _require(claim, ClaimRole.CLAIMER, Operation.COMPLETE)
    rid = uuid_bytes(req.request_id)
    if rid is None:
        raise problems.ClaimInvalid(
            "RequestId must be a UUID", violations=[("request_id", "pattern")]
        )
    now = sim.now_us()
    if not rules.completion_allowed(claim.type, to_datetime(now), _periods(claim)):
        raise problems.ClaimCompletionPeriodNotEnded("complete after CompletionPeriodEnd")
    if sim.state.store.get(claim.key) is not None:
        raise problems.ClaimResultingEntryAlreadyExists("the key is active again")
    entry = pb.Entry(
        key_type=claim.key_type, key=claim.key, account=claim.claimer_account, owner=claim.claimer
    )
    record = record_of(entry, claim.key, rid, now)
    if claim.type == ClaimType.PORTABILITY:
        record.owned_us = claim.donor_owned_us  # the same owner keeps its ownership date
    check_key_limit(sim, record)
    sim.activate(record, now)
    sim.state.counters.entry_created(req.request_id)
    claim.complete_request_id = req.request_id.lower()
    return _move(sim, claim, COMPLETED, now)


def list_claims(
    sim: Simulator, caller: Participant, req: pb.ListClaimsRequest
) -> pb.ListClaimsResponse:
    own(caller, req.participant)
    wanted = _role_filter(req)
    after, before = optional_us(req, "modified_after"), optional_us(req, "modified_before")
    until = visible_until_us(sim) if before is None else min(visible_until_us(sim), before)
    statuses = set(req.status)
    rows = sorted(
        (
            c
            for c in sim.state.claims.values()
            if wanted(c, caller.ispb)
            and (not statuses or c.status in statuses)
            and (not req.type or c.type == req.type)
            and (after is None or c.last_modified_us >= after)
            and c.last_modified_us <= until
        ),
        key=lambda c: (c.last_modified_us, c.id),
    )
    size = limit(req.limit, 20, 200)
    return pb.ListClaimsResponse(
        claims=[c.to_pb() for c in rows[:size]], has_more_elements=len(rows) > size
    )


def _role_filter(req: pb.ListClaimsRequest) -> Callable[[Claim, str], bool]:
    """IsDonor / IsClaimer are OR-ed; neither set means either role."""
    donor = req.HasField("is_donor") and req.is_donor
    claimer = req.HasField("is_claimer") and req.is_claimer
    if not (donor or claimer):
        donor = claimer = True
    return lambda c, ispb: (
        (donor and c.donor_participant == ispb) or (claimer and c.claimer_participant == ispb)
    )


def list_policy(req: pb.ListClaimsRequest) -> str:
    with_role = req.HasField("is_donor") or req.HasField("is_claimer")
    return "CLAIMS_LIST_WITH_ROLE" if with_role else "CLAIMS_LIST_WITHOUT_ROLE"
