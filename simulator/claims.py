"""Claims (reivindicações) with the DICT's status rules (DICT.md §2).

Who may call what, with which reason and when is ``claim_rules``, written from the spec
text rather than shared with the connector's ``app.domain.claims``: a rule both got wrong
would otherwise pass every test. This module applies those rules to the simulated DICT
and makes the effects happen: confirm removes the donor's entry (REMOVED), complete
creates the claimer's entry keyed by the completion RequestId (ADDED). The DICT makes no
automatic transitions, and neither does the simulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from simulator import claim_rules as rules
from simulator import entry_rules
from simulator.common import limit, own, visible_until_us
from simulator.config import Participant
from simulator.convert import optional_us, record_of, uuid_bytes
from simulator.entries import check_key_limit
from simulator.models import CLAIM_IN_PROGRESS, Claim
from simulator.state import Simulator


def create(sim: Simulator, caller: Participant, req: pb.CreateClaimRequest) -> pb.ClaimResponse:
    """Checks in the order a request is read: its fields, who sends it, then the key's
    entry and claims (createClaim; error table: ClaimKeyNotFound, ClaimAlreadyExistsForKey,
    ClaimTypeInconsistent, ClaimResultingEntryAlreadyExists)."""
    _validate(req)
    if req.claimer_account.participant != caller.ispb:
        raise problems.Forbidden("the claimer account must be at the requesting participant")
    entry = sim.state.store.get(req.key)
    if entry is None:
        raise problems.ClaimKeyNotFound("no active entry has this key")
    if entry.key_type != req.key_type:
        raise problems.ClaimInvalid(
            "KeyType differs from the entry's", violations=[("key_type", "matches_entry")]
        )
    if req.key in sim.state.open_claims:
        raise problems.ClaimAlreadyExistsForKey("a claim is already in progress on this key")
    _check_owners(req, entry.tax_id, entry.participant == caller.ispb)
    now = sim.now_us()
    periods = rules.Periods.of(req.type, now)
    claim = Claim(
        str(uuid.uuid4()),
        req.type,
        req.key,
        req.key_type,
        req.claimer_account,
        req.claimer,
        entry.participant,
        now,
        periods.resolution_end,
        periods.completion_end,
        now,
        donor_owned_us=entry.owned_us,
    )
    sim.state.claims[claim.id] = claim
    sim.state.open_claims[claim.key] = claim.id
    return pb.ClaimResponse(claim=claim.to_pb())


def _validate(req: pb.CreateClaimRequest) -> None:
    """ClaimInvalid naming every broken field (patterns only, as for entries), then the
    createClaim table of which key types each claim type may take."""
    found = (
        entry_rules.key_violations(req.key_type, req.key, creating=False)
        + entry_rules.account_violations(req.claimer_account, "claimer_account")
        + entry_rules.owner_violations(req.claimer, "claimer")
    )
    if found:
        raise problems.ClaimInvalid("the claim has invalid fields", violations=found)
    refusal = rules.claim_type_problem(req.key_type, req.type)
    if refusal is not None:
        raise refusal


def _check_owners(req: pb.CreateClaimRequest, holder_tax_id: str, held_here: bool) -> None:
    """The error table: ClaimTypeInconsistent for an OWNERSHIP claim by the same owner or
    a PORTABILITY claim by another; a portability to the participant already holding the
    key would result in the entry that exists: ClaimResultingEntryAlreadyExists
    ("vínculo que resultaria ... já existe, com mesma chave, participante e dono")
    [inferred: the table does not say at which call; at creation nothing else fits]."""
    same_owner = holder_tax_id == req.claimer.tax_id_number
    if req.type == rules.OWNERSHIP and same_owner:
        raise problems.ClaimTypeInconsistent("ownership is claimed by a different owner")
    if req.type == rules.PORTABILITY and not same_owner:
        raise problems.ClaimTypeInconsistent("portability keeps the key's owner")
    if req.type == rules.PORTABILITY and held_here:
        raise problems.ClaimResultingEntryAlreadyExists("the owner holds the key here already")


def _claim(sim: Simulator, caller: Participant, claim_id: str) -> Claim:
    claim = sim.state.claims.get(claim_id)
    if claim is None:
        raise problems.NotFound(f"no claim {claim_id}")
    if caller.ispb not in (claim.donor_participant, claim.claimer_participant):
        raise problems.Forbidden("only the donor and the claimer see a claim")
    return claim


def _roles(claim: Claim, caller: Participant) -> list[str]:
    """The caller's roles in the claim: both when one PSP is donor and claimer."""
    return [
        role
        for role, participant in (
            (rules.CLAIMER, claim.claimer_participant),
            (rules.DONOR, claim.donor_participant),
        )
        if participant == caller.ispb
    ]


def _periods(claim: Claim) -> rules.Periods:
    return rules.Periods(
        claim.resolution_end_us, claim.completion_end_us, claim.created_us + rules.DAY30_US
    )


def _move(sim: Simulator, claim: Claim, status: str, now: int) -> pb.ClaimResponse:
    claim.status = status
    claim.last_modified_us = now
    if status not in CLAIM_IN_PROGRESS:
        sim.state.open_claims.pop(claim.key, None)
    return pb.ClaimResponse(claim=claim.to_pb())


def get(sim: Simulator, caller: Participant, req: pb.GetClaimRequest) -> pb.ClaimResponse:
    return pb.ClaimResponse(claim=_claim(sim, caller, req.claim_id).to_pb())


def acknowledge(
    sim: Simulator, caller: Participant, req: pb.AcknowledgeClaimRequest
) -> pb.ClaimResponse:
    """Donor, OPEN -> WAITING_RESOLUTION; a repeat while WAITING_RESOLUTION gets the
    same answer (acknowledgeClaim "Idempotência")."""
    own(caller, req.participant)
    claim = _claim(sim, caller, req.claim_id)
    roles = _roles(claim, caller)
    if rules.DONOR in roles and claim.status == rules.WAITING:
        return pb.ClaimResponse(claim=claim.to_pb())
    rules.check_call(rules.ACKNOWLEDGE, roles, claim.status, "acknowledge")
    return _move(sim, claim, rules.WAITING, sim.now_us())


def confirm(sim: Simulator, caller: Participant, req: pb.ConfirmClaimRequest) -> pb.ClaimResponse:
    """Donor, WAITING_RESOLUTION -> CONFIRMED, with a reason of confirmClaim's table; the
    donor's entry leaves the DICT. A repeat with the same reason gets the same answer."""
    own(caller, req.participant)
    claim = _claim(sim, caller, req.claim_id)
    roles = _roles(claim, caller)
    repeat = claim.status == rules.CONFIRMED and claim.confirm_reason == req.reason
    if rules.DONOR in roles and repeat:
        return pb.ClaimResponse(claim=claim.to_pb())
    rules.check_call(rules.CONFIRM, roles, claim.status, "confirm")
    now = sim.now_us()
    periods = _periods(claim)
    rules.check_confirm_reason(claim.type, req.reason, now, periods)
    donor_entry = sim.state.store.get(claim.key)
    if donor_entry is not None and donor_entry.participant == claim.donor_participant:
        sim.deactivate(claim.key, now)
    claim.completion_end_us = rules.completion_end_after_confirm(
        claim.type, req.reason, now, periods
    )
    claim.confirm_reason = req.reason
    return _move(sim, claim, rules.CONFIRMED, now)


def cancel(sim: Simulator, caller: Participant, req: pb.CancelClaimRequest) -> pb.ClaimResponse:
    """Either party, per cancelClaim's tables; a repeat with the same parameters gets the
    same answer, any other call on a cancelled claim is ClaimOperationInvalid."""
    own(caller, req.participant)
    claim = _claim(sim, caller, req.claim_id)
    roles = _roles(claim, caller)
    if claim.status == rules.CANCELLED:
        if claim.cancel_reason == req.reason and claim.cancelled_by in roles:
            return pb.ClaimResponse(claim=claim.to_pb())
        raise problems.ClaimOperationInvalid("the claim was cancelled otherwise")
    now = sim.now_us()
    role = rules.cancelling_role(claim.type, claim.status, roles, req.reason, now, _periods(claim))
    claim.cancel_reason, claim.cancelled_by = req.reason, role
    return _move(sim, claim, rules.CANCELLED, now)


def complete(sim: Simulator, caller: Participant, req: pb.CompleteClaimRequest) -> pb.ClaimResponse:
    """Claimer, CONFIRMED -> COMPLETED (OWNERSHIP once CompletionPeriodEnd has passed);
    the claimer's entry is created, its CID keyed by this RequestId. A repeat with the
    same RequestId gets the same answer (completeClaim "Idempotência")."""
    own(caller, req.participant)
    claim = _claim(sim, caller, req.claim_id)
    roles = _roles(claim, caller)
    repeat = claim.status == rules.COMPLETED and claim.complete_request_id == req.request_id.lower()
    if rules.CLAIMER in roles and repeat:
        return pb.ClaimResponse(claim=claim.to_pb())
    rules.check_call(rules.COMPLETE, roles, claim.status, "complete")
    rid = uuid_bytes(req.request_id)
    if rid is None:
        raise problems.ClaimInvalid(
            "RequestId must be a UUID", violations=[("request_id", "pattern")]
        )
    now = sim.now_us()
    rules.check_complete(claim.type, now, _periods(claim))
    if sim.state.store.get(claim.key) is not None:
        raise problems.ClaimResultingEntryAlreadyExists("the key is active again")
    entry = pb.Entry(
        key_type=claim.key_type, key=claim.key, account=claim.claimer_account, owner=claim.claimer
    )
    record = record_of(entry, claim.key, rid, now)
    if claim.type == rules.PORTABILITY:
        record.owned_us = claim.donor_owned_us  # the same owner keeps its ownership date
    check_key_limit(sim, record)
    sim.activate(record, now)
    sim.state.counters.entry_created(req.request_id)
    claim.complete_request_id = req.request_id.lower()
    return _move(sim, claim, rules.COMPLETED, now)


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
