"""Calls made again: lost CreateClaim answers, refused completions, early and late timers."""

from __future__ import annotations

import uuid
from datetime import timedelta

from app import clock
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain.fixtures import make_cpf
from tests.integration.bridge.builders import OURS, account
from tests.integration.claims.conftest import DAY, World


def test_a_claim_on_a_key_nobody_holds_is_rejected_with_the_dicts_reason(world: World) -> None:
    claim_id = world.submit("PORTABILITY", "+5521900000301", make_cpf(301))
    world.run_due()
    row = world.claim(claim_id)
    assert (row["status"], row["problem_type"]) == ("rejected", "ClaimKeyNotFound")
    assert world.events("claims.rejected")[0]["claim_id"] == claim_id


def test_a_lost_create_claim_answer_is_recognised_on_the_retry(world: World) -> None:
    tax_id = make_cpf(302)
    world.they_hold("+5521900000302", tax_id)
    claim_id = world.submit("PORTABILITY", "+5521900000302", tax_id)
    world.admin.set_faults(drop_ratio=1.0, methods=["CreateClaim"])
    world.run_due()  # created in the DICT, the answer lost; the repeat finds it ours
    world.admin.set_faults()
    row = world.claim(claim_id)
    assert row["status"] == "open" and row["dict_id"]
    assert world.admin.get_call_counts("").by_method["CreateClaim"] >= 2
    assert world.admin.get_stats().claims == 1


def test_a_lost_create_claim_answer_is_adopted_by_the_poll(world: World) -> None:
    """The DICT created our claim; the answer was lost and the worker died before a retry."""
    tax_id = make_cpf(303)
    world.they_hold("+5521900000303", tax_id)
    claim_id = world.submit("PORTABILITY", "+5521900000303", tax_id)
    row = world.claim(claim_id)
    with DictClient(world.sim.address, OURS) as ours:
        created = ours.create_claim(
            pb.CreateClaimRequest(
                type="PORTABILITY",
                key=row["key"],
                key_type="PHONE",
                claimer_account=account(OURS, "777"),
                claimer=pb.Owner(
                    type="NATURAL_PERSON", tax_id_number=tax_id, name="Maria da Silva"
                ),
            )
        ).claim
    world.poll()  # a claim of ours it does not know: the submitting one
    row = world.claim(claim_id)
    assert (row["status"], row["dict_id"]) == ("open", created.id)
    world.run_due()  # the pending CreateClaim finds it submitted and does nothing
    assert world.claim(claim_id)["status"] == "open"
    assert world.admin.get_stats().claims == 1


def test_a_refused_completion_is_tried_again_until_it_succeeds(world: World) -> None:
    tax_id = make_cpf(304)
    world.they_hold("+5521900000304", tax_id)
    with DictClient(world.sim.address, OURS) as ours:  # our customer's account is full
        evp_keys = [
            ours.create_entry(
                pb.CreateEntryRequest(
                    entry=pb.Entry(
                        key_type="EVP",
                        account=account(OURS, "777"),
                        owner=pb.Owner(
                            type="NATURAL_PERSON", tax_id_number=tax_id, name="Maria da Silva"
                        ),
                    ),
                    reason="USER_REQUESTED",
                    request_id=str(uuid.uuid4()),
                )
            ).entry.entry.key
            for _ in range(5)
        ]
        claim_id = world.submit("PORTABILITY", "+5521900000304", tax_id)
        world.run_due()
        dict_id = world.claim(claim_id)["dict_id"]
        world.they("acknowledge_claim", dict_id)
        world.they("confirm_claim", dict_id, reason="USER_REQUESTED")
        world.poll()

        row = world.claim(claim_id)
        assert (row["status"], row["problem_type"]) == ("confirmed", "EntryLimitExceeded")
        retry = [a for a in world.scheduled(claim_id) if a["actor"] == "claim_retry"]
        assert [a["args"]["attempt"] for a in retry] == [1]
        ours.delete_entry(  # the customer frees a slot: one EVP key goes
            pb.DeleteEntryRequest(key=evp_keys[0], participant=OURS, reason="USER_REQUESTED")
        )
    world.pass_time(2 * 60 + 1)
    world.run_due()
    assert world.claim(claim_id)["status"] == "completed"


def test_a_too_early_decision_of_ours_is_made_again_when_the_dict_allows_it(
    world: World,
) -> None:
    _, key, tax_id = world.our_key(305)
    theirs = world.they_claim(key, "PORTABILITY", tax_id)
    world.poll()
    ours = world.ours_for(theirs.id)
    clock.advance(timedelta(days=7, minutes=1))  # our clock past the period, the DICT's not
    world.request(ours["id"], "cancel", "DEFAULT_OPERATION")  # an operator's decision
    world.run_due()
    row = world.claim(ours["id"])
    assert (row["status"], row["problem_type"]) == (
        "waiting_resolution",
        "ClaimResolutionPeriodNotEnded",
    )
    world.admin.advance_clock(7 * DAY + 60)
    world.pass_time(2 * 60)
    world.run_due()
    assert world.claim(ours["id"])["status"] == "cancelled"


def test_a_deadline_acted_on_late_is_reported(world: World) -> None:
    _, key, _ = world.our_key(306)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(906))
    world.poll()
    ours = world.ours_for(theirs.id)
    world.pass_time(7 * DAY + 3600)  # the workers were down for an hour past the deadline
    world.run_due()
    assert world.claim(ours["id"])["status"] == "confirmed"
    (missed,) = world.events("claims.deadline_missed")
    assert (missed["claim_id"], missed["deadline"]) == (str(ours["id"]), "ResolutionPeriodEnd")


def test_a_deadline_timer_that_fires_early_waits_for_its_instant(world: World) -> None:
    from actors.claim_deadlines import claim_deadline

    _, key, _ = world.our_key(307)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(907))
    world.poll()
    ours = world.ours_for(theirs.id)
    claim_deadline.fn(str(ours["id"]), "ResolutionPeriodEnd")  # delivered days early
    assert world.claim(ours["id"])["status"] == "waiting_resolution"
    timers = [a["deliver_at"] for a in world.scheduled(ours["id"])]
    assert timers == [ours["resolution_period_end"]] * 2
    world.pass_time(7 * DAY + 60)
    world.run_due()
    assert world.claim(ours["id"])["status"] == "confirmed"
