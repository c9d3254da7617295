"""Races and lost answers with real processes: nothing the DICT says is lost.

The simulated DICT sends no creation date; every instant of ours comes from its
ResolutionPeriodEnd. (A refusal at a deadline, our clock ahead of the DICT's, is
``test_claims_claimer.test_a_too_early_complete_is_refused_and_retried_at_the_right_time``.)
"""

from __future__ import annotations

from app.bridge import dict_bridge_pb2 as pb
from tests.acceptance.claims_helpers import (
    as_other,
    dict_claim,
    other_claims,
    other_holds,
    our_phone_key,
    ours_for,
    until_status,
)
from tests.acceptance.conftest import Stack, wait_until
from tests.acceptance.test_claims_claimer import CUSTOMER, submit


def test_our_cancel_racing_the_donors_confirm_ends_as_the_dict_says(stack: Stack) -> None:
    key = "+5531911110101"
    other_holds(stack, key, CUSTOMER)
    ours = submit(stack, key, "PORTABILITY")
    as_other(stack, "acknowledge_claim", claim_id=ours["dict_id"])
    stack.poll()
    until_status(stack, ours["id"], "waiting_resolution")
    # Our CancelClaim takes 2 s to reach the DICT; the donor's confirm gets there first.
    stack.admin().set_faults(latency_ms=2000, methods=["CancelClaim"])
    with stack.http() as http:
        r = http.post(f"/v1/claims/{ours['id']}/cancel", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 202, r.text
    as_other(stack, "confirm_claim", claim_id=ours["dict_id"], reason="USER_REQUESTED")
    stack.poll()  # may see CONFIRMED while our cancel is still out: kept, not dropped
    done = until_status(stack, ours["id"], "completed")
    stack.admin().set_faults()

    triggers = [h["trigger"] for h in done["history"]]
    assert triggers[-5:] == ["cancel", "cancel_refused", "confirmed", "complete", "completed"]
    assert dict_claim(stack, ours["dict_id"]).status == "COMPLETED"


def test_a_confirm_whose_answer_was_lost_is_repeated_until_recognised(stack: Stack) -> None:
    _, key, _ = our_phone_key(stack, 101)
    theirs = other_claims(stack, key, "OWNERSHIP", "39053344705")
    stack.poll()
    ours = until_status(stack, ours_for(stack, theirs.id)["id"], "waiting_resolution")
    stack.admin().set_faults(drop_ratio=1.0, methods=["ConfirmClaim"])
    with stack.http() as http:
        r = http.post(f"/v1/claims/{ours['id']}/confirm", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 202, r.text
    wait_until(
        lambda: dict_claim(stack, theirs.id).status == "CONFIRMED",
        what="the DICT to apply our confirm",
    )
    assert until_status(stack, ours["id"], "confirming")  # the answer never arrived
    stack.admin().set_faults()

    done = until_status(stack, ours["id"], "confirmed")  # the repeat is answered as the first

    assert done["confirm_reason"] == "USER_REQUESTED"
    assert [h["trigger"] for h in done["history"]].count("confirmed") == 1
    with stack.dict_as("87654321") as other:
        found = other.list_claims(
            pb.ListClaimsRequest(participant="87654321", is_claimer=True, status=["CONFIRMED"])
        )
    assert [c.id for c in found.claims] == [theirs.id]
