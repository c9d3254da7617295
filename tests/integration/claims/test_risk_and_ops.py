"""Deadlines at risk (only where we owe an action) and operators' claim actions."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from app import clock, db
from app.domain.fixtures import make_cpf
from app.repo import claims
from app.repo.claims import ClaimRow
from statemachines.core import IllegalTrigger
from tests.integration.claims.conftest import DAY, World

MIN = timedelta(minutes=1)
GRACE = timedelta(minutes=5)


def _insert(role: str, claim_type: str, status: str, **at: Any) -> uuid.UUID:
    """A claim row in ``status`` whose instants lie ``at`` before now (timedeltas)."""
    now = clock.now()
    claim_id = uuid.uuid4()
    first = {"confirming": "waiting_resolution", "cancelling": "waiting_resolution"}.get(
        status, "confirmed" if status == "completing" else status
    )
    resolution_end = now - at.get("resolution_ago", timedelta(days=-3))
    fields: dict[str, Any] = {
        "id": claim_id,
        "dict_id": str(uuid.uuid4()),
        "role": role,
        "type": claim_type,
        "key": f"+55219{uuid.uuid4().int % 10**8:08d}",
        "key_type": "PHONE",
        "status": first,
        "dict_status": None,
        "dict_last_modified": now - at.get("modified_ago", MIN),
        "donor_participant": "87654321",
        "claimer_participant": "12345678",
        "claimer_branch": None,
        "claimer_account_number": "1",
        "claimer_account_type": "CACC",
        "claimer_opening_date": now - timedelta(days=900),
        "claimer_type": "NATURAL_PERSON",
        "claimer_tax_id": make_cpf(1),
        "claimer_name": "Ana",
        "claimer_trade_name": None,
        "created_at": resolution_end - timedelta(days=7),
        "resolution_period_end": resolution_end,
        "completion_period_end": resolution_end + timedelta(days=7)
        if claim_type == "OWNERSHIP"
        else None,
        "day30_limit": resolution_end + timedelta(days=23),
        "completion_request_id": uuid.uuid4(),
        "entry_id": None,
        "confirm_reason": "USER_REQUESTED" if first == "confirmed" else None,
        "cancel_reason": None,
        "cancelled_by": None,
    }
    inserted = now - at.get("inserted_ago", MIN)
    row = ClaimRow(**fields, inserted_at=inserted, updated_at=inserted)
    with db.pool().connection() as conn:
        claims.insert(conn, [row])
        if status != first:
            conn.execute(
                'UPDATE claims SET status = %s, pending = \'{"reason": "USER_REQUESTED"}\''
                " WHERE id = %s",
                (status, claim_id),
            )
        if at.get("possession"):
            claims.validate_possession(conn, claim_id, inserted)
    return claim_id


def _at_risk() -> dict[str, int]:
    with db.pool().connection() as conn:
        rows = conn.execute(db.q("claims.at_risk"), {"now": clock.now(), "grace": GRACE})
        return {r["role"]: r["n"] for r in rows}


LONG = timedelta(minutes=10)
BEFORE_DAY30 = timedelta(days=8)  # resolution ended 8 days ago: day 14 passed, not day 30
PAST_DAY30 = timedelta(days=24)


@pytest.mark.parametrize(
    ("role", "claim_type", "status", "at", "owed"),
    [
        ("DONOR", "PORTABILITY", "open", {"inserted_ago": LONG}, True),  # acknowledge
        ("DONOR", "PORTABILITY", "open", {"inserted_ago": MIN}, False),
        ("DONOR", "PORTABILITY", "waiting_resolution", {"resolution_ago": LONG}, True),
        ("DONOR", "OWNERSHIP", "waiting_resolution", {"resolution_ago": LONG}, True),
        ("DONOR", "OWNERSHIP", "waiting_resolution", {"resolution_ago": MIN}, False),
        ("DONOR", "PORTABILITY", "cancelling", {"resolution_ago": LONG}, True),  # still out
        ("DONOR", "OWNERSHIP", "confirmed", {"resolution_ago": PAST_DAY30}, False),
        ("CLAIMER", "PORTABILITY", "confirmed", {"modified_ago": LONG}, True),  # complete
        ("CLAIMER", "PORTABILITY", "completing", {"modified_ago": LONG}, True),
        ("CLAIMER", "PORTABILITY", "confirmed", {"modified_ago": MIN}, False),
        ("CLAIMER", "PORTABILITY", "waiting_resolution", {"resolution_ago": LONG}, False),
        ("CLAIMER", "OWNERSHIP", "confirmed", {"resolution_ago": BEFORE_DAY30}, False),
        (
            "CLAIMER",
            "OWNERSHIP",
            "confirmed",
            {"resolution_ago": BEFORE_DAY30, "possession": True},
            True,
        ),
        ("CLAIMER", "OWNERSHIP", "confirmed", {"resolution_ago": PAST_DAY30}, True),  # cancel
        ("CLAIMER", "OWNERSHIP", "waiting_resolution", {"resolution_ago": PAST_DAY30}, True),
    ],
)
def test_a_deadline_is_at_risk_only_where_we_owe_an_action(
    database_url: str, role: str, claim_type: str, status: str, at: dict[str, Any], owed: bool
) -> None:
    _insert(role, claim_type, status, **at)
    assert _at_risk() == ({role: 1} if owed else {})


def test_an_operator_can_ask_for_every_claim_action(world: World) -> None:
    _, key_a, tax_a = world.our_key(1)
    _, key_b, _ = world.our_key(2)
    world.admin.set_faults(unavailable_ratio=1.0, methods=["AcknowledgeClaim"])
    portability = world.they_claim(key_a, "PORTABILITY", tax_a)
    ownership = world.they_claim(key_b, "OWNERSHIP", make_cpf(902))
    world.poll()
    world.admin.set_faults()
    port, own = world.ours_for(portability.id), world.ours_for(ownership.id)
    assert (port["status"], own["status"]) == ("open", "open")

    _ops("acknowledge", port["id"])
    _ops("acknowledge", own["id"])
    world.run_due()
    assert world.dict_claim(portability.id).status == "WAITING_RESOLUTION"
    _ops("cancel", port["id"], "USER_REQUESTED")
    _ops("confirm", own["id"], "USER_REQUESTED")
    world.run_due()

    assert world.claim(port["id"])["status"] == "cancelled"
    assert world.claim(own["id"])["status"] == "confirmed"
    with db.pool().connection() as conn:
        actors = [
            h["actor"]
            for h in conn.execute(
                db.q("spine.history"), {"machine": "claim", "subject_id": str(own["id"])}
            )
        ]
    assert actors[-2:] == ["postgres", "worker"]  # the operator asked; the worker applied


def test_an_operator_completes_our_ownership_claim(world: World) -> None:
    claim_id, dict_id = world.our_claim_acknowledged("OWNERSHIP", 93)
    world.pass_time(7 * DAY + 60)
    world.they("confirm_claim", dict_id, reason="DEFAULT_OPERATION")
    world.poll()
    world.pass_time(7 * DAY)
    _ops("complete", claim_id)  # possession checked outside dict-connect
    world.run_due()
    assert world.claim(claim_id)["status"] == "completed"


def test_an_operator_asking_for_a_reason_the_rules_refuse_is_told_which_are_allowed(
    world: World,
) -> None:
    from actors.spine import fire_trigger

    _, key, _ = world.our_key(5)
    theirs = world.they_claim(key, "OWNERSHIP", make_cpf(905))
    world.poll()
    ours = world.ours_for(theirs.id)
    with pytest.raises(IllegalTrigger, match="takes one of: FRAUD"):
        fire_trigger.fn("claim", str(ours["id"]), "cancel", "USER_REQUESTED")
    assert IllegalTrigger.retryable is False  # the worker does not repeat it
    assert world.claim(ours["id"])["status"] == "waiting_resolution"


def _ops(trigger: str, claim_id: Any, reason: str | None = None) -> None:
    """An operator in psql; the row is due at the database's clock, which ours catches up."""
    with db.pool().connection() as conn:
        conn.execute("SELECT ops.request('claim', %s, %s, %s)", (str(claim_id), trigger, reason))
    clock.advance(timedelta(seconds=30))
