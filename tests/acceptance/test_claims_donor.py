"""Claims on our keys (we are the donor), through every deadline, moving the clocks."""

from __future__ import annotations

import json

import redis as redis_lib

from app.bridge import dict_bridge_pb2 as pb
from tests.acceptance.claims_helpers import (
    DAY,
    as_other,
    dict_claim,
    other_claims,
    our_phone_key,
    ours_for,
    pass_time,
    until_status,
)
from tests.acceptance.conftest import OUR_ISPB, Stack, wait_until
from tests.acceptance.test_entries import dict_vsyncs, our_vsyncs


def received(stack: Stack, n: int, claim_type: str, same_owner: bool = True):
    """Our key, claimed by the other PSP; we poll, record and acknowledge it."""
    entry_id, key, owner = our_phone_key(stack, n)
    tax_id = owner["tax_id"] if same_owner else "39053344705"
    dict_c = other_claims(stack, key, claim_type, tax_id)
    assert stack.poll() >= 1
    ours = ours_for(stack, dict_c.id)
    assert ours["role"] == "DONOR" and ours["entry_id"] == entry_id
    ours = until_status(stack, ours["id"], "waiting_resolution")
    assert dict_claim(stack, dict_c.id).status == "WAITING_RESOLUTION"
    return entry_id, key, dict_c, ours


def test_portability_without_a_decision_is_cancelled_at_day_7(stack: Stack) -> None:
    entry_id, _, dict_c, ours = received(stack, 1, "PORTABILITY")
    events = redis_lib.Redis.from_url(stack.redis_url)
    published = wait_until(  # events are published after commit, by their own actor
        lambda: events.xrange("dict-connect.events.claims.received"),
        timeout=30,
        what="the claims.received event",
    )
    got = json.loads(published[0][1][b"payload"])
    assert got["dict_id"] == dict_c.id
    with stack.http() as http:  # the key is locked while the claim is open
        r = http.delete(f"/v1/entries/{entry_id}", params={"reason": "USER_REQUESTED"})
        assert r.status_code == 400 and r.json()["type"].endswith("/EntryLockedByClaim")
    assert [a["deadline"] for a in ours["next_actions"]] == ["ResolutionPeriodEnd"]

    pass_time(stack, 7 * DAY - 120)  # not yet
    assert until_status(stack, ours["id"], "waiting_resolution")
    pass_time(stack, 180)
    done = until_status(stack, ours["id"], "cancelled")
    the_dict = dict_claim(stack, dict_c.id)
    assert (the_dict.status, the_dict.cancel_reason, the_dict.cancelled_by) == (
        "CANCELLED",
        "DEFAULT_OPERATION",
        "DONOR",
    )
    assert done["cancel_reason"] == "DEFAULT_OPERATION"
    with stack.http() as http:  # the key stays ours
        assert http.get(f"/v1/entries/{entry_id}").json()["status"] == "active"


def test_ownership_without_a_decision_is_confirmed_at_day_7_and_the_key_leaves(stack) -> None:
    entry_id, _, dict_c, ours = received(stack, 2, "OWNERSHIP", same_owner=False)
    pass_time(stack, 7 * DAY + 60)
    until_status(stack, ours["id"], "confirmed")
    assert dict_claim(stack, dict_c.id).confirm_reason == "DEFAULT_OPERATION"
    with stack.http() as http:
        assert http.get(f"/v1/entries/{entry_id}").json()["status"] == "deleted"
        # the FRAUD window: days 8-14 the old owner may still prove possession
        r = http.post(f"/v1/claims/{ours['id']}/confirm", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 409
        r = http.post(f"/v1/claims/{ours['id']}/cancel", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    assert our_vsyncs(stack) == dict_vsyncs(stack)
    # the claimer completes after day 14; we learn it by polling
    pass_time(stack, 7 * DAY + 60)
    as_other(
        stack,
        "complete_claim",
        claim_id=dict_c.id,
        request_id="9e7cbd2c-6e37-4a9e-9d0d-44b1c8e3f3a1",
    )
    stack.poll()
    until_status(stack, ours["id"], "completed")


def test_fraud_cancel_in_the_ownership_completion_period(stack: Stack) -> None:
    _, _, dict_c, ours = received(stack, 3, "OWNERSHIP", same_owner=False)
    pass_time(stack, 7 * DAY + 60)
    until_status(stack, ours["id"], "confirmed")
    pass_time(stack, 3 * DAY)  # day 10: the old owner proves possession
    with stack.http() as http:
        r = http.post(f"/v1/claims/{ours['id']}/cancel", json={"reason": "FRAUD"})
        assert r.status_code == 202, r.text
    until_status(stack, ours["id"], "cancelled")
    assert dict_claim(stack, dict_c.id).cancel_reason == "FRAUD"


def test_our_customer_confirms_a_portability_and_the_claimer_completes(stack: Stack) -> None:
    entry_id, _, dict_c, ours = received(stack, 4, "PORTABILITY")
    with stack.http() as http:
        r = http.post(f"/v1/claims/{ours['id']}/confirm", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 202, r.text
    until_status(stack, ours["id"], "confirmed")
    with stack.http() as http:
        assert http.get(f"/v1/entries/{entry_id}").json()["status"] == "deleted"
    events = redis_lib.Redis.from_url(stack.redis_url)
    wait_until(lambda: events.xlen("dict-connect.events.claims.confirmed") == 1)
    as_other(
        stack,
        "complete_claim",
        claim_id=dict_c.id,
        request_id="5b0f3c9e-1d2a-4c3b-8e4f-6a7b8c9d0e1f",
    )
    stack.poll()
    until_status(stack, ours["id"], "completed")
    assert our_vsyncs(stack) == dict_vsyncs(stack)


def test_the_other_side_cancelling_is_learned(stack: Stack) -> None:
    _, _, dict_c, ours = received(stack, 6, "PORTABILITY")
    as_other(stack, "cancel_claim", claim_id=dict_c.id, reason="USER_REQUESTED")
    stack.poll()
    done = until_status(stack, ours["id"], "cancelled")
    assert done["cancelled_by"] == "CLAIMER"
    assert [h["trigger"] for h in done["history"]] == ["learned", "acknowledged", "cancelled"]
    assert done["next_actions"] == []


def test_a_claim_confirmed_and_completed_between_two_polls_is_caught_up_with(
    stack: Stack,
) -> None:
    entry_id, _, dict_c, ours = received(stack, 7, "PORTABILITY")
    # Confirmed in our name behind our back, then completed, between two polls.
    with stack.dict_as(OUR_ISPB) as us:
        us.confirm_claim(
            pb.ConfirmClaimRequest(
                claim_id=dict_c.id, participant=OUR_ISPB, reason="USER_REQUESTED"
            )
        )
    as_other(
        stack,
        "complete_claim",
        claim_id=dict_c.id,
        request_id="0c2b7e8a-3f4d-4e5a-9b6c-7d8e9f0a1b2c",
    )
    stack.poll()
    done = until_status(stack, ours["id"], "completed")  # what the DICT says wins
    assert [h["trigger"] for h in done["history"]] == [
        "learned",
        "acknowledged",
        "confirmed",
        "completed",
    ]
    assert done["anomaly"] is None
    with stack.http() as http:
        assert http.get(f"/v1/entries/{entry_id}").json()["status"] == "deleted"
    assert our_vsyncs(stack) == dict_vsyncs(stack)
