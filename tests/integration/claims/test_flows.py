"""Claims through their deadlines, as donor and as claimer, with a DICT that sends no
creation date: every instant comes from its ResolutionPeriodEnd (DICT.md §2)."""

from __future__ import annotations

from datetime import timedelta

from app.bridge import dict_bridge_pb2 as pb
from app.domain.fixtures import make_cpf
from tests.integration.claims.conftest import DAY, World


def test_the_dict_claim_has_no_creation_date_and_ours_derives_it(world: World) -> None:
    _, key, _ = world.our_key(1)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(11))
    assert "creation_date" not in pb.Claim.DESCRIPTOR.fields_by_name
    world.poll()
    ours = world.ours_for(theirs.id)
    resolution_end = ours["resolution_period_end"]
    assert resolution_end == theirs.resolution_period_end.ToDatetime(tzinfo=resolution_end.tzinfo)
    assert ours["created_at"] == resolution_end - timedelta(days=7)
    assert ours["day30_limit"] == resolution_end + timedelta(days=23)
    assert ours["completion_period_end"] == resolution_end + timedelta(days=7)
    deadlines = {a["args"]["deadline"]: a["deliver_at"] for a in world.scheduled(ours["id"])}
    assert deadlines == {"ResolutionPeriodEnd": resolution_end}


def test_a_silent_portability_donor_cancels_at_day_7(world: World) -> None:
    _, key, tax_id = world.our_key(2)
    theirs = world.they_claim(key, "PORTABILITY", tax_id)
    world.poll()  # learned and acknowledged by the poll itself
    ours = world.ours_for(theirs.id)
    assert ours["status"] == "waiting_resolution"
    assert world.dict_claim(theirs.id).status == "WAITING_RESOLUTION"

    world.pass_time(7 * DAY + 60)
    assert world.run_due() == ["claim_deadline", "cancel_claim"]

    dict_claim = world.dict_claim(theirs.id)
    assert (dict_claim.status, dict_claim.cancel_reason) == ("CANCELLED", "DEFAULT_OPERATION")
    assert dict_claim.cancelled_by == "DONOR"
    assert world.claim(ours["id"])["status"] == "cancelled"


def test_a_silent_ownership_donor_confirms_at_day_7_and_the_key_leaves_us(world: World) -> None:
    entry_id, key, _ = world.our_key(3)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(33))
    world.poll()
    ours = world.ours_for(theirs.id)

    world.pass_time(7 * DAY + 60)
    world.run_due()

    dict_claim = world.dict_claim(theirs.id)
    assert (dict_claim.status, dict_claim.confirm_reason) == ("CONFIRMED", "DEFAULT_OPERATION")
    assert world.claim(ours["id"])["status"] == "confirmed"
    assert world.entry(entry_id)["status"] == "deleted"
    assert world.scheduled(ours["id"]) == []  # a confirmed donor owes nothing more

    world.pass_time(7 * DAY + 60)
    world.they("complete_claim", theirs.id, request_id="5f3a3f7e-0a4b-4c8f-9f7a-2b1d3c4e5f60")
    world.poll()
    assert world.claim(ours["id"])["status"] == "completed"


def test_our_portability_completes_as_soon_as_the_donor_confirms(world: World) -> None:
    tax_id = make_cpf(44)
    world.they_hold("+5521900000044", tax_id)
    claim_id = world.submit("PORTABILITY", "+5521900000044", tax_id)
    world.run_due()
    ours = world.claim(claim_id)
    assert ours["status"] == "open" and ours["dict_id"]
    assert ours["created_at"] == ours["resolution_period_end"] - timedelta(days=7)

    world.they("acknowledge_claim", ours["dict_id"])
    world.they("confirm_claim", ours["dict_id"], reason="USER_REQUESTED")
    world.poll()

    done = world.claim(claim_id)
    assert done["status"] == "completed"
    assert world.entry(done["entry_id"])["status"] == "active"
    assert world.dict_claim(ours["dict_id"]).status == "COMPLETED"


def test_our_ownership_claim_is_cancelled_at_day_30_without_possession(world: World) -> None:
    claim_id, dict_id = world.our_claim_acknowledged("OWNERSHIP", 55)
    world.pass_time(7 * DAY + 60)
    world.they("confirm_claim", dict_id, reason="DEFAULT_OPERATION")
    world.poll()
    assert world.claim(claim_id)["status"] == "confirmed"

    world.pass_time(23 * DAY)
    world.run_due()

    dict_claim = world.dict_claim(dict_id)
    assert (dict_claim.status, dict_claim.cancel_reason) == ("CANCELLED", "DEFAULT_OPERATION")
    assert world.claim(claim_id)["status"] == "cancelled"


def test_our_ownership_claim_completes_after_day_14_once_possession_is_proved(
    world: World,
) -> None:
    from app import db, outbox
    from statemachines import claim_steps

    claim_id, dict_id = world.our_claim_acknowledged("OWNERSHIP", 66)
    with outbox.step(actor="test") as s:
        s.conn.execute(db.q("claims.validate_possession"), {"id": claim_id, "now": s.now})
        claim_steps.complete_if_due(s, world.row(claim_id))  # too early: nothing
    assert world.claim(claim_id)["status"] == "open"
    world.pass_time(7 * DAY + 60)
    world.they("confirm_claim", dict_id, reason="DEFAULT_OPERATION")
    world.poll()
    assert world.claim(claim_id)["status"] == "confirmed"  # the completion period runs

    world.pass_time(7 * DAY)
    world.run_due()

    assert world.claim(claim_id)["status"] == "completed"
    assert world.dict_claim(dict_id).status == "COMPLETED"
