"""Our customers' claims on keys held elsewhere (we are the claimer), moving the clocks."""

from __future__ import annotations

from typing import Any

from tests.acceptance.claims_helpers import (
    DAY,
    as_other,
    dict_claim,
    other_holds,
    pass_time,
    until_status,
)
from tests.acceptance.conftest import Stack, wait_until
from tests.acceptance.test_entries import account, dict_vsyncs, our_vsyncs, person

CUSTOMER = "52998224725"


def claim_body(key: str, claim_type: str) -> dict[str, Any]:
    return {
        "type": claim_type,
        "key_type": "PHONE",
        "key": key,
        "account": account(777_001),
        "owner": person(CUSTOMER),
    }


def settled(stack: Stack, claim_id: str) -> dict[str, Any] | None:
    """The claim once every next action is a deadline (no call of ours in flight)."""
    with stack.http() as http:
        claim = http.get(f"/v1/claims/{claim_id}").json()
    return claim if all(a["deadline"] for a in claim["next_actions"]) else None


def submit(stack: Stack, key: str, claim_type: str) -> dict[str, Any]:
    with stack.http() as http:
        r = http.post("/v1/claims", json=claim_body(key, claim_type))
        assert r.status_code == 202, r.text
    claim_id = r.json()["id"]
    until_status(stack, claim_id, "open")
    # the CreateClaim task's row is marked done just after the claim opens
    ours = wait_until(lambda: settled(stack, claim_id), what="the CreateClaim task done")
    assert ours["role"] == "CLAIMER" and ours["dict_id"]
    return ours


def test_portability_completes_as_soon_as_the_donor_confirms(stack: Stack) -> None:
    key = "+5531911110001"
    other_holds(stack, key, CUSTOMER)  # same owner, another PSP: a portability
    ours = submit(stack, key, "PORTABILITY")
    as_other(stack, "acknowledge_claim", claim_id=ours["dict_id"])
    as_other(stack, "confirm_claim", claim_id=ours["dict_id"], reason="USER_REQUESTED")
    stack.poll()
    done = until_status(stack, ours["id"], "completed")
    with stack.http() as http:
        entry = http.get(f"/v1/entries/{key}").json()
    assert entry["status"] == "active" and entry["id"] == done["entry_id"]
    assert entry["request_id"] == str(
        stack.query("claims.get", id=ours["id"])[0]["completion_request_id"]
    )
    assert dict_claim(stack, ours["dict_id"]).status == "COMPLETED"
    assert our_vsyncs(stack) == dict_vsyncs(stack)


def test_ownership_completes_after_day_14_once_possession_is_validated(stack: Stack) -> None:
    key = "+5531911110002"
    other_holds(stack, key, "39053344705")  # another owner: an ownership claim
    ours = submit(stack, key, "OWNERSHIP")
    assert [a["deadline"] for a in ours["next_actions"]] == ["Day30Limit"]
    as_other(stack, "acknowledge_claim", claim_id=ours["dict_id"])
    pass_time(stack, 7 * DAY + 60)
    as_other(stack, "confirm_claim", claim_id=ours["dict_id"], reason="DEFAULT_OPERATION")
    stack.poll()
    until_status(stack, ours["id"], "confirmed")
    pass_time(stack, DAY)  # day 8: our customer proves possession; too early to complete
    with stack.http() as http:
        r = http.post(f"/v1/claims/{ours['id']}/possession-validated")
        assert r.status_code == 202 and r.json()["status"] == "confirmed"
    pass_time(stack, 6 * DAY)  # day 14 + 2 min: CompletionPeriodEnd
    done = until_status(stack, ours["id"], "completed")
    assert [h["trigger"] for h in done["history"]][-2:] == ["complete", "completed"]
    with stack.http() as http:
        assert http.get(f"/v1/entries/{key}").json()["status"] == "active"
    assert our_vsyncs(stack) == dict_vsyncs(stack)


def test_ownership_not_validated_by_day_30_is_cancelled(stack: Stack) -> None:
    key = "+5531911110003"
    other_holds(stack, key, "39053344705")
    ours = submit(stack, key, "OWNERSHIP")
    as_other(stack, "acknowledge_claim", claim_id=ours["dict_id"])
    pass_time(stack, 7 * DAY + 60)
    as_other(stack, "confirm_claim", claim_id=ours["dict_id"], reason="DEFAULT_OPERATION")
    stack.poll()
    until_status(stack, ours["id"], "confirmed")
    pass_time(stack, 23 * DAY - 180)
    assert until_status(stack, ours["id"], "confirmed")  # day 30 minus a minute: not yet
    pass_time(stack, 240)
    done = until_status(stack, ours["id"], "cancelled")
    the_dict = dict_claim(stack, ours["dict_id"])
    assert (the_dict.cancel_reason, the_dict.cancelled_by) == ("DEFAULT_OPERATION", "CLAIMER")
    assert done["cancel_reason"] == "DEFAULT_OPERATION"


def test_a_too_early_complete_is_refused_and_retried_at_the_right_time(stack: Stack) -> None:
    key = "+5531911110004"
    other_holds(stack, key, "39053344705")
    ours = submit(stack, key, "OWNERSHIP")
    as_other(stack, "acknowledge_claim", claim_id=ours["dict_id"])
    pass_time(stack, 7 * DAY + 60)
    as_other(stack, "confirm_claim", claim_id=ours["dict_id"], reason="DEFAULT_OPERATION")
    stack.poll()
    until_status(stack, ours["id"], "confirmed")
    with stack.http() as http:
        http.post(f"/v1/claims/{ours['id']}/possession-validated")
    # Our clock runs two hours ahead of the DICT's: our deadline fires, the DICT says no.
    stack.advance_our_clock(7 * DAY + 3600)
    stack.admin().advance_clock(7 * DAY - 3600)
    stack.relay()
    refused = wait_for_problem(stack, ours["id"])
    assert refused["problem_type"] == "ClaimCompletionPeriodNotEnded"
    again = [(a["actor"], a["deadline"]) for a in refused["next_actions"]]
    assert ("claim_deadline", "CompletionPeriodEnd") in again  # the duty, scheduled again
    # Two hours later for the DICT too: the retry completes.
    stack.admin().advance_clock(2 * 3600)
    pass_time(stack, 180)
    done = until_status(stack, ours["id"], "completed")
    triggers = [h["trigger"] for h in done["history"]]
    assert triggers[-4:] == ["complete", "complete_refused", "complete", "completed"]


def wait_for_problem(stack: Stack, claim_id: str) -> dict[str, Any]:
    from tests.acceptance.conftest import wait_until

    with stack.http() as http:
        return wait_until(
            lambda: (c := http.get(f"/v1/claims/{claim_id}").json())["problem_type"] and c,
            what="the DICT's refusal on the claim",
        )


def test_cancel_on_request_needs_a_reason_our_role_may_use(stack: Stack) -> None:
    key = "+5531911110005"
    other_holds(stack, key, CUSTOMER)
    ours = submit(stack, key, "PORTABILITY")
    with stack.http() as http:
        r = http.post(f"/v1/claims/{ours['id']}/cancel", json={"reason": "DEFAULT_OPERATION"})
        assert r.status_code == 422
        assert "USER_REQUESTED" in r.json()["errors"][0]["message"]
        r = http.post(f"/v1/claims/{ours['id']}/cancel", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 202
    until_status(stack, ours["id"], "cancelled")
    assert dict_claim(stack, ours["dict_id"]).cancelled_by == "CLAIMER"


def test_a_refused_claim_keeps_the_dicts_problem_type(stack: Stack) -> None:
    key = "+5531911110006"
    other_holds(stack, key, CUSTOMER)
    first = submit(stack, key, "PORTABILITY")
    with stack.http() as http:
        r = http.post("/v1/claims", json=claim_body(key, "PORTABILITY"))
        assert r.status_code == 409  # one open claim per key and role: refused before the DICT
        assert "already open" in r.json()["detail"]
        r = http.post("/v1/claims", json=claim_body("+5531911119999", "PORTABILITY"))
        missing = until_status(stack, r.json()["id"], "rejected")
    assert missing["problem_type"] == "ClaimKeyNotFound"
    assert first["status"] == "open"
