"""Bring a claim to a row's status and instant, make the row's call, say what the DICT said
(and ``answer``: what the DICT said to any call, for the entry suites too).

The claim is always the other participant's claim of our PHONE key (PHONE may be
claimed either way), so ``DONOR`` calls come from ``ours`` and ``CLAIMER`` calls from
``theirs``. Time moves only by the simulator's clock (``AdminClient.advance_clock``).
"""

from __future__ import annotations

from collections.abc import Callable

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain.problems import DictProblem
from simulator.admin_client import AdminClient
from tests.conformance.spec_tables import (
    ACCEPTED,
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    DEFAULT,
    DONOR,
    OPEN,
    OWNERSHIP,
    OWNERSHIP_CONFIRMED_AT,
    USER,
    WAITING,
    ClaimCall,
)
from tests.integration.bridge.builders import OTHER, OURS, rid
from tests.integration.bridge.claim_steps import ack, cancel, complete, confirm, open_claim


def answer(call: Callable[[], object]) -> tuple[str, set[str], object]:
    """What the DICT said: (ACCEPTED or the problem type, violation fields, response)."""
    try:
        response = call()
    except DictProblem as problem:
        return problem.type, {f for f, _reason in problem.violations}, None
    return ACCEPTED, set(), response


class SinceCreation:
    """The simulator's clock, counted in seconds from the claim's creation."""

    def __init__(self, admin: AdminClient) -> None:
        self.admin = admin
        self.elapsed = 0

    def to(self, seconds: int) -> None:
        if seconds < self.elapsed:
            raise AssertionError(f"the row asks for {seconds} s, the setup already took us past")
        if seconds > self.elapsed:
            self.admin.advance_clock(seconds - self.elapsed)
            self.elapsed = seconds


def claim_for(
    case: ClaimCall, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> pb.Claim:
    """A claim in ``case.status``, the clock at ``case.at`` after its creation (the setup
    stated in spec_tables: acknowledged at once, an OWNERSHIP confirmed DEFAULT_OPERATION
    after ResolutionPeriodEnd, a PORTABILITY confirmed USER_REQUESTED at once...)."""
    claim = open_claim(ours, theirs, case.claim_type)
    clock = SinceCreation(admin)
    if case.status != OPEN and case.status != CANCELLED:
        ack(ours, claim)
    if case.status == CONFIRMED and case.claim_type == OWNERSHIP:
        clock.to(OWNERSHIP_CONFIRMED_AT)
        confirm(ours, claim, DEFAULT)
    elif case.status in (CONFIRMED, COMPLETED):
        confirm(ours, claim, USER)
    if case.status == COMPLETED:
        complete(theirs, claim, rid())
    if case.status == CANCELLED:
        cancel(theirs, claim, USER)
    clock.to(case.at)
    return claim


def outcome(case: ClaimCall, claim: pb.Claim, ours: DictClient, theirs: DictClient) -> str:
    """ACCEPTED (checking the status the call leaves) or the DICT's problem type."""
    client = ours if case.role == DONOR else theirs
    participant = OURS if case.role == DONOR else OTHER
    try:
        after = _call(case, client, participant, claim.id)
    except DictProblem as problem:
        return problem.type
    expected_status = {
        "acknowledge": WAITING,
        "confirm": CONFIRMED,
        "cancel": CANCELLED,
        "complete": COMPLETED,
    }[case.operation]
    assert after.status == expected_status
    if case.operation == "cancel":
        assert (after.cancelled_by, after.cancel_reason) == (case.role, case.reason)
    return ACCEPTED


def _call(case: ClaimCall, client: DictClient, participant: str, claim_id: str) -> pb.Claim:
    if case.operation == "acknowledge":
        request = pb.AcknowledgeClaimRequest(claim_id=claim_id, participant=participant)
        return client.acknowledge_claim(request).claim
    if case.operation == "confirm":
        confirming = pb.ConfirmClaimRequest(
            claim_id=claim_id, participant=participant, reason=case.reason
        )
        return client.confirm_claim(confirming).claim
    if case.operation == "cancel":
        cancelling = pb.CancelClaimRequest(
            claim_id=claim_id, participant=participant, reason=case.reason
        )
        return client.cancel_claim(cancelling).claim
    completing = pb.CompleteClaimRequest(
        claim_id=claim_id, participant=participant, request_id=rid()
    )
    return client.complete_claim(completing).claim
