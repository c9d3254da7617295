"""Claim requests and a ready-made claim on one of our keys, for the claim tests."""

from __future__ import annotations

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from tests.integration.bridge.builders import OTHER, OURS, account, create, entry, person

DAY = 86_400.0


def claim_request(
    key_type: str = "PHONE", claim_type: str = "OWNERSHIP", n: int = 1, claimer_n: int | None = None
) -> pb.CreateClaimRequest:
    """OTHER claims our n-th key: OWNERSHIP by another person, PORTABILITY by the same."""
    held = entry(key_type, n)
    owner = held.owner if claim_type == "PORTABILITY" else person(claimer_n or 100 + n)
    return pb.CreateClaimRequest(
        type=claim_type,
        key=held.key,
        key_type=key_type,
        claimer_account=account(OTHER, "9000"),
        claimer=owner,
    )


def open_claim(
    ours: DictClient,
    theirs: DictClient,
    claim_type: str = "OWNERSHIP",
    key_type: str = "PHONE",
    n: int = 1,
) -> pb.Claim:
    """Our key n exists and OTHER claims it: the claim is OPEN."""
    ours.create_entry(create(entry(key_type, n)))
    return theirs.create_claim(claim_request(key_type, claim_type, n)).claim


def ack(ours: DictClient, claim: pb.Claim) -> pb.Claim:
    return ours.acknowledge_claim(
        pb.AcknowledgeClaimRequest(claim_id=claim.id, participant=OURS)
    ).claim


def confirm(ours: DictClient, claim: pb.Claim, reason: str = "USER_REQUESTED") -> pb.Claim:
    return ours.confirm_claim(
        pb.ConfirmClaimRequest(claim_id=claim.id, participant=OURS, reason=reason)
    ).claim


def cancel(client: DictClient, claim: pb.Claim, reason: str) -> pb.Claim:
    return client.cancel_claim(
        pb.CancelClaimRequest(claim_id=claim.id, participant=client.participant, reason=reason)
    ).claim


def complete(theirs: DictClient, claim: pb.Claim, request_id: str) -> pb.Claim:
    return theirs.complete_claim(
        pb.CompleteClaimRequest(claim_id=claim.id, participant=OTHER, request_id=request_id)
    ).claim
