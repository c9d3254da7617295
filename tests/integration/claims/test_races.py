"""Nothing the DICT says is lost: races with the other side, lost answers, refusals.

After any refused call our record moves to what the DICT holds; a duty refused is
scheduled again until it succeeds or the DICT's state makes it moot."""

from __future__ import annotations

from app.domain.fixtures import make_cpf
from tests.integration.claims.conftest import DAY, World


def _our_portability_waiting(world: World, n: int) -> tuple[str, str]:
    claim_id, dict_id = world.our_claim_acknowledged("PORTABILITY", 700 + n)
    world.poll()
    assert world.claim(claim_id)["status"] == "waiting_resolution"
    return claim_id, dict_id


def test_our_cancel_loses_to_the_donors_confirm_and_we_follow_the_dict(world: World) -> None:
    claim_id, dict_id = _our_portability_waiting(world, 1)
    world.request(claim_id, "cancel", "USER_REQUESTED")  # our user changes their mind
    world.they("confirm_claim", dict_id, reason="USER_REQUESTED")  # the donor was faster
    world.poll(run=False)  # sees CONFIRMED while our cancel is in flight: kept, not dropped
    assert world.claim(claim_id)["status"] == "cancelling"
    assert world.claim(claim_id)["dict_status"] == "CONFIRMED"

    world.run_due()  # the cancel is refused; the claim is read again and followed

    row = world.claim(claim_id)
    assert row["status"] == "completed"
    assert row["problem_type"] is None  # cleared by the moves that followed
    assert [t for t, _ in world.history(claim_id)] == [
        "submit",
        "submitted",
        "acknowledged",
        "cancel",
        "cancel_refused",
        "confirmed",
        "complete",
        "completed",
    ]
    assert world.dict_claim(dict_id).status == "COMPLETED"


def test_a_status_seen_while_our_call_was_in_flight_is_settled_by_the_next_poll(
    world: World,
) -> None:
    """Even when the refusal's re-read is not what moved us, the poll settles it."""
    from app import db

    claim_id, dict_id = _our_portability_waiting(world, 2)
    world.they("confirm_claim", dict_id, reason="USER_REQUESTED")
    with db.pool().connection() as conn:  # as if CONFIRMED was seen while a call was out
        conn.execute("UPDATE claims SET dict_status = 'CONFIRMED' WHERE id = %s", (claim_id,))
    world.poll()  # the listing window has moved past it; the sweep settles it
    assert world.claim(claim_id)["status"] == "completed"


def test_a_confirm_whose_answer_was_lost_is_repeated_and_recognised(world: World) -> None:
    entry_id, key, _ = world.our_key(3)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(733))
    world.poll()
    ours = world.ours_for(theirs.id)
    world.admin.set_faults(drop_ratio=1.0, methods=["ConfirmClaim"])
    world.pass_time(7 * DAY + 60)

    world.run_due()  # the DICT confirmed, the answer was lost: the call stays owed

    assert world.dict_claim(theirs.id).status == "CONFIRMED"
    assert world.claim(ours["id"])["status"] == "confirming"
    world.admin.set_faults()
    world.run_due()  # the retry: the DICT answers the repeat as the first confirm
    assert world.claim(ours["id"])["status"] == "confirmed"
    assert world.entry(entry_id)["status"] == "deleted"
    counts = world.admin.get_call_counts("").by_method
    assert counts["ConfirmClaim"] >= 2  # the lost one (and the client's own retries), the repeat
    assert [t for t, _ in world.history(ours["id"])].count("confirmed") == 1


def test_a_deadline_refused_because_our_clock_runs_ahead_is_made_again(world: World) -> None:
    from datetime import timedelta

    from app import clock

    _, key, tax_id = world.our_key(4)
    theirs = world.they_claim(key, "PORTABILITY", tax_id)
    world.poll()
    ours = world.ours_for(theirs.id)
    clock.advance(timedelta(days=7, minutes=1))  # ours is past the period ...
    world.admin.advance_clock(7 * DAY - 600)  # ... the DICT's is 10 minutes short of it

    world.run_due()

    row = world.claim(ours["id"])
    assert (row["status"], row["problem_type"]) == (
        "waiting_resolution",
        "ClaimResolutionPeriodNotEnded",
    )
    again = [a for a in world.scheduled(ours["id"]) if a["actor"] == "claim_deadline"]
    assert len(again) == 1 and again[0]["args"]["attempt"] == 1
    world.pass_time(2 * 60 + 1)
    world.run_due()  # 2 minutes on, still refused: the wait doubles
    again = [a for a in world.scheduled(ours["id"]) if a["actor"] == "claim_deadline"]
    assert [a["args"]["attempt"] for a in again] == [2]
    world.pass_time(10 * 60)
    world.run_due()

    assert world.claim(ours["id"])["status"] == "cancelled"
    assert world.dict_claim(theirs.id).cancel_reason == "DEFAULT_OPERATION"
    assert len(world.events("claims.deadline_missed")) == 0  # on time by the DICT's clock


def test_a_deadline_that_finds_our_own_call_in_flight_waits_for_it(world: World) -> None:
    """The user's cancel is out when day 7 comes; it is refused; the duty still happens."""
    _, key, _ = world.our_key(5)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(755))
    world.poll()
    ours = world.ours_for(theirs.id)
    world.pass_time(7 * DAY + 60)
    world.request(ours["id"], "cancel", "USER_REQUESTED")  # not a donor's reason: refused
    world.run_due()  # the deadline finds the cancel out and waits; the cancel is refused

    row = world.claim(ours["id"])
    assert (row["status"], row["problem_type"]) == ("waiting_resolution", "InvalidReason")
    world.pass_time(61)
    world.run_due()  # the duty, a minute later

    assert world.claim(ours["id"])["status"] == "confirmed"
    assert world.dict_claim(theirs.id).confirm_reason == "DEFAULT_OPERATION"


def test_a_claim_the_claimer_cancelled_before_our_acknowledgement_follows_the_dict(
    world: World,
) -> None:
    from actors.claims import acknowledge

    _, key, _ = world.our_key(6)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(766))
    world.admin.set_faults(unavailable_ratio=1.0, methods=["AcknowledgeClaim"])
    world.poll()  # learned; the acknowledgement failed
    ours = world.ours_for(theirs.id)
    assert world.claim(ours["id"])["status"] == "open"
    world.they("cancel_claim", theirs.id, reason="USER_REQUESTED")
    world.admin.set_faults()

    acknowledge(str(ours["id"]))  # refused (CANCELLED): read again and followed

    assert world.claim(ours["id"])["status"] == "cancelled"
