"""Building blocks of the claim scenarios: our keys, the other PSP's moves, waiting."""

from __future__ import annotations

import uuid
from typing import Any

from app.bridge import dict_bridge_pb2 as pb
from app.domain.fixtures import make_cpf
from tests.acceptance.conftest import OTHER_ISPB, OUR_ISPB, Stack, wait_until
from tests.acceptance.test_entries import OPENING, account, person, register

DAY = 86_400.0


def our_phone_key(stack: Stack, n: int) -> tuple[str, str, dict[str, Any]]:
    """Register a phone key of ours; wait until active. Returns (entry id, key, owner)."""
    owner = person(make_cpf(5000 + n))
    body = {
        "key_type": "PHONE",
        "key": f"+55219{n:08d}",
        "account": account(300_000 + n),
        "owner": owner,
    }
    with stack.http() as http:
        entry_id = register(http, [body])[0]
        wait_until(lambda: http.get(f"/v1/entries/{entry_id}").json()["status"] == "active")
    return entry_id, body["key"], owner


def pb_account(participant: str, number: str) -> pb.Account:
    a = pb.Account(participant=participant, branch="7", account_number=number, account_type="CACC")
    a.opening_date.FromJsonString(OPENING)
    return a


def other_claims(stack: Stack, key: str, claim_type: str, tax_id: str) -> pb.Claim:
    """The other PSP claims ``key`` (ours) for its customer ``tax_id``."""
    with stack.dict_as(OTHER_ISPB) as other:
        return other.create_claim(
            pb.CreateClaimRequest(
                type=claim_type,
                key=key,
                key_type="PHONE",
                claimer_account=pb_account(OTHER_ISPB, "9001"),
                claimer=pb.Owner(type="NATURAL_PERSON", tax_id_number=tax_id, name="Joana Pereira"),
            )
        ).claim


def other_holds(stack: Stack, key: str, tax_id: str) -> None:
    """A phone key registered at the other PSP (for our customer to claim)."""
    with stack.dict_as(OTHER_ISPB) as other:
        other.create_entry(
            pb.CreateEntryRequest(
                entry=pb.Entry(
                    key_type="PHONE",
                    key=key,
                    account=pb_account(OTHER_ISPB, "4242"),
                    owner=pb.Owner(type="NATURAL_PERSON", tax_id_number=tax_id, name="Carlos Lima"),
                ),
                reason="USER_REQUESTED",
                request_id=str(uuid.uuid4()),
            )
        )


def as_other(stack: Stack, call: str, **fields: Any) -> pb.Claim:
    """The other PSP acknowledges / confirms / cancels / completes a claim."""
    request = {
        "acknowledge_claim": pb.AcknowledgeClaimRequest,
        "confirm_claim": pb.ConfirmClaimRequest,
        "cancel_claim": pb.CancelClaimRequest,
        "complete_claim": pb.CompleteClaimRequest,
    }[call]
    with stack.dict_as(OTHER_ISPB) as other:
        return getattr(other, call)(request(participant=OTHER_ISPB, **fields)).claim


def dict_claim(stack: Stack, dict_id: str) -> pb.Claim:
    with stack.dict_as(OUR_ISPB) as ours:
        return ours.get_claim(pb.GetClaimRequest(claim_id=dict_id)).claim


def ours_for(stack: Stack, dict_id: str) -> dict[str, Any]:
    """Our claim for a DICT claim id, through the API (with history and next actions)."""
    with stack.http() as http:
        items = http.get("/v1/claims", params={"limit": 500}).json()["items"]
        match = [c for c in items if c["dict_id"] == dict_id]
        assert match, f"no claim of ours for {dict_id}"
        return http.get(f"/v1/claims/{match[0]['id']}").json()


def until_status(stack: Stack, claim_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    with stack.http() as http:
        return wait_until(
            lambda: (c := http.get(f"/v1/claims/{claim_id}").json())["status"] == status and c,
            timeout=timeout,
            what=f"claim {claim_id} to be {status}",
        )


def pass_time(stack: Stack, seconds: float) -> None:
    """Both clocks move; the scheduler's crons run (relay, then a poll)."""
    stack.advance(seconds)
    stack.relay()
