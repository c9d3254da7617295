"""The claims poll: one bad claim never stops it, and it reports its own health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from app import clock, db, outbox
from app.domain.fixtures import make_cpf
from app.repo import polls
from statemachines import claim_steps
from tests.integration.claims.conftest import World


def _failures() -> list[dict[str, Any]]:
    with db.pool().connection() as conn:
        return conn.execute("SELECT dict_id, error, attempts FROM claim_poll_failures").fetchall()


def _health() -> dict[str, Any]:
    with db.pool().connection() as conn:
        return msgspec.structs.asdict(polls.health(conn))


def test_a_claim_that_raises_is_isolated_and_the_poll_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key_a, _ = world.our_key(1)
    _, key_b, tax_b = world.our_key(2)
    bad = world.they_claim(key_a, "OWNERSHIP", make_cpf(801))
    world.poll()
    world.they("cancel_claim", bad.id, reason="USER_REQUESTED")
    good = world.they_claim(key_b, "PORTABILITY", tax_b)
    real = claim_steps.observe

    def broken(step: Any, row: Any, *args: Any, **kwargs: Any) -> Any:
        if row.dict_id == bad.id:
            raise RuntimeError("a bug in applying this claim")
        return real(step, row, *args, **kwargs)

    monkeypatch.setattr(claim_steps, "observe", broken)
    clock.advance(timedelta(seconds=5))
    world.poll()

    assert world.ours_for(good.id)["status"] == "waiting_resolution"  # learned and acknowledged
    assert [(f["dict_id"], f["error"]) for f in _failures()] == [
        (bad.id, "RuntimeError: a bug in applying this claim")
    ]
    held = world.ours_for(bad.id)
    assert held["status"] == "waiting_resolution"
    assert held["anomaly"].startswith("poll could not apply")
    assert world.events("claims.anomaly")[-1]["dict_id"] == bad.id
    with db.pool().connection() as conn:
        cursor = polls.cursor(conn, "claims")
    assert cursor is not None
    assert cursor >= world.dict_claim(bad.id).last_modified.ToDatetime(tzinfo=cursor.tzinfo)
    health = _health()
    assert (health["failures"], health["anomalies"]) == (1, 1)

    monkeypatch.setattr(claim_steps, "observe", real)  # the bug is fixed and deployed
    clock.advance(timedelta(minutes=10))  # long past the listing window: read again by id
    world.poll()

    assert world.ours_for(bad.id)["status"] == "cancelled"
    assert world.ours_for(bad.id)["anomaly"] is None
    assert _failures() == []


def test_a_new_claim_that_cannot_be_recorded_does_not_lose_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key_a, _ = world.our_key(3)
    _, key_b, _ = world.our_key(4)
    bad = world.they_claim(key_a, "OWNERSHIP", make_cpf(803))
    good = world.they_claim(key_b, "OWNERSHIP", make_cpf(804))
    real = claim_steps.learn

    def broken(step: Any, items: Any) -> Any:
        if any(fields["dict_id"] == bad.id for fields, _ in items):
            raise ValueError("cannot record")
        return real(step, items)

    monkeypatch.setattr(claim_steps, "learn", broken)
    world.poll()

    assert world.ours_for(good.id)["status"] == "waiting_resolution"
    assert [f["dict_id"] for f in _failures()] == [bad.id]
    monkeypatch.setattr(claim_steps, "learn", real)
    world.poll()
    assert world.ours_for(bad.id)["status"] == "waiting_resolution"
    assert _failures() == []


def test_the_poll_records_when_it_last_went_through(world: World) -> None:
    from actors.polling import poll_claims

    assert _health()["polled_at"] is None
    assert poll_claims.fn() is None  # nothing to list: it still went through; an actor
    # returning a value would have Dramatiq warn on every poll
    assert _health()["polled_at"] == clock.now()


def test_a_claim_left_unacknowledged_is_acknowledged_by_the_next_poll(world: World) -> None:
    """Found by the fault suite: an acknowledgement lost (its call failed with Redis
    restarting) left the claim open, and every later poll failed reading it back (the
    ack sweep mapped its bare ids to whole claim rows), so no new claim was learned."""
    _, key, tax_id = world.our_key(1)
    first = world.they_claim(key, "PORTABILITY", tax_id)
    world.admin.set_faults(unavailable_ratio=1.0, methods=["AcknowledgeClaim"])
    world.poll()
    assert world.ours_for(first.id)["status"] == "open"  # learned, not acknowledged
    world.admin.clear_faults()
    _, key_b, tax_b = world.our_key(2)
    second = world.they_claim(key_b, "PORTABILITY", tax_b)
    world.poll()
    assert world.ours_for(first.id)["status"] == "waiting_resolution"
    assert world.ours_for(second.id)["status"] == "waiting_resolution"


def _acknowledgements() -> list[str]:
    with db.pool().connection() as conn:
        rows = conn.execute(
            "SELECT status FROM outbox WHERE actor = 'acknowledge_claim' ORDER BY id"
        ).fetchall()
    return [r["status"] for r in rows]


def test_a_learned_donor_claim_is_acknowledged_by_the_worker_and_swept_if_that_died(
    world: World,
) -> None:
    """The poll records each new donor claim with its acknowledge_claim call, worked in
    the spine's batches; it acknowledges by itself only an open claim whose call died."""
    _, key, tax_id = world.our_key(1)
    theirs = world.they_claim(key, "PORTABILITY", tax_id)
    world.poll(run=False)
    assert world.ours_for(theirs.id)["status"] == "open"
    assert _acknowledgements() == ["dispatched"]  # sent to the worker at the commit
    world.poll(run=False)  # its call is waiting: the poll leaves it to the worker
    assert world.ours_for(theirs.id)["status"] == "open"
    assert _acknowledgements() == ["dispatched"]  # sent to the worker at the commit

    with db.pool().connection() as conn:  # the call died: a dead letter after an outage
        conn.execute(
            "UPDATE outbox SET status = 'failed', finished_at = now(), last_error = 'outage'"
            " WHERE actor = 'acknowledge_claim'"
        )
    world.poll(run=False)

    assert world.ours_for(theirs.id)["status"] == "waiting_resolution"
    assert world.dict_claim(theirs.id).status == "WAITING_RESOLUTION"
    assert _acknowledgements() == ["failed"]


def test_a_repeated_item_changes_nothing(world: World) -> None:
    _, key, _ = world.our_key(5)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(805))
    world.poll()
    ours = world.ours_for(theirs.id)
    world.poll()  # the overlap window lists it again
    again = world.ours_for(theirs.id)
    assert (again["status"], again["version"], again["updated_at"]) == (
        ours["status"],
        ours["version"],
        ours["updated_at"],
    )


def test_an_older_list_item_never_turns_the_dict_status_back(world: World) -> None:
    _, key, _ = world.our_key(6)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(806))
    world.poll()
    ours = world.row(world.ours_for(theirs.id)["id"])
    older = (ours.dict_last_modified or clock.now()) - timedelta(seconds=1)
    with outbox.step(actor="test") as s:
        claim_steps.observe(s, ours, "OPEN", {"dict_last_modified": older, "dict_status": "OPEN"})
    row = world.ours_for(theirs.id)
    assert (row["status"], row["dict_status"]) == ("waiting_resolution", "WAITING_RESOLUTION")


def test_a_status_our_record_cannot_reach_is_an_anomaly(world: World) -> None:
    _, key, _ = world.our_key(7)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(807))
    world.poll()
    ours = world.ours_for(theirs.id)
    with db.pool().connection() as conn:  # someone moved it by hand
        conn.execute(
            "UPDATE claims SET status = 'cancelled', cancel_reason = 'FRAUD',"
            " cancelled_by = 'DONOR' WHERE id = %s",
            (ours["id"],),
        )
    with outbox.step(actor="test") as s:
        row = world.row(ours["id"])
        later = ours["dict_last_modified"] + timedelta(seconds=1)
        fields = {"dict_last_modified": later, "dict_status": "COMPLETED"}
        assert claim_steps.observe(s, row, "COMPLETED", fields) == ()
    row = world.ours_for(theirs.id)
    assert row["anomaly"] == "we hold cancelled but the DICT says COMPLETED"
    assert row["dict_status"] == "COMPLETED"
