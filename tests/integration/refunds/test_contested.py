"""Requests against us (we are the payee's PSP): learned by the poll, our analysis
before the deadline, the warnings, and what the requester does meanwhile."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app import db
from app.domain.refunds import analysis_deadline
from tests.integration.claims.conftest import World
from tests.integration.refunds.conftest import (
    RTR_ID,
    dict_refund,
    ours_for,
    poll,
    request,
    row,
    they_ask,
    they_cancel,
    they_paid,
)


def _learned(world: World, n: int, amount: str = "100.00") -> tuple[str, str]:
    theirs = they_ask(world, they_paid(world, n, amount), amount)
    world.pass_time(6)  # the list lags writes by 5 s
    poll()
    ours = ours_for(theirs.id)
    return str(ours.id), theirs.id


def _timers(refund_id: str) -> list[tuple[str, str]]:
    with db.pool().connection() as conn:
        rows = conn.execute(
            "SELECT args->>'deadline' AS d, status FROM outbox WHERE actor = 'refund_deadline'"
            " AND subject = %s ORDER BY deliver_at",
            (f"refund:{refund_id}",),
        ).fetchall()
    return [(r["d"], r["status"]) for r in rows]


def test_a_request_against_us_is_learned_once_with_its_deadline(world: World) -> None:
    refund_id, _ = _learned(world, 1, "80.00")
    ours = row(refund_id)
    assert (ours.role, ours.status, ours.refund_amount) == ("CONTESTED", "open", Decimal("80.00"))
    assert ours.dict_created_at is not None
    assert ours.due_at == analysis_deadline(ours.dict_created_at, 24)
    assert ours.refund_details == "Valor diferente do instruído"
    [received] = world.events("refunds.received")
    assert (received["refund_id"], received["refund_amount"]) == (refund_id, "80.00")
    assert _timers(refund_id) == [("approaching", "pending"), ("missed", "pending")]
    world.pass_time(40)
    poll()  # the overlap lists it again: nothing new
    assert len(world.events("refunds.received")) == 1 and row(refund_id).version == ours.version


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        (
            {"analysis_result": "TOTALLY_ACCEPTED", "refund_transaction_id": RTR_ID},
            ("TOTALLY_ACCEPTED", None, None),
        ),
        (
            {
                "analysis_result": "PARTIALLY_ACCEPTED",
                "refund_transaction_id": RTR_ID,
                "refunded_amount": "30.00",
            },
            ("PARTIALLY_ACCEPTED", None, Decimal("30.00")),
        ),
        (
            {
                "analysis_result": "REJECTED",
                "rejection_reason": "INVALID_REQUEST",
                "analysis_details": "o pagador iniciou e confirmou a transação",
            },
            ("REJECTED", "INVALID_REQUEST", None),
        ),
    ],
)
def test_we_close_a_request_with_our_analysis(
    world: World, analysis: dict[str, str], expected: tuple[str, str | None, Decimal | None]
) -> None:
    refund_id, dict_id = _learned(world, 2)
    request(refund_id, "close", **analysis)
    assert row(refund_id).status == "closing"
    world.run_due()
    ours = row(refund_id)
    assert ours.status == "closed"
    assert (ours.analysis_result, ours.rejection_reason, ours.refunded_amount) == expected
    the_dict = dict_refund(world, dict_id)
    assert (the_dict.status, the_dict.analysis_result) == ("CLOSED", expected[0])
    assert _timers(refund_id) == [("approaching", "cancelled"), ("missed", "cancelled")]


def test_the_deadline_warns_then_reports_the_miss(world: World) -> None:
    refund_id, _ = _learned(world, 3)
    world.pass_time(timedelta(hours=18, seconds=1).total_seconds())
    world.run_due()
    [warned] = world.events("refunds.deadline_approaching")
    assert (warned["refund_id"], warned["status"]) == (refund_id, "open")
    assert world.events("refunds.deadline_missed") == []
    world.pass_time(timedelta(hours=6).total_seconds())
    world.run_due()
    [missed] = world.events("refunds.deadline_missed")
    assert missed["due_at"] == row(refund_id).due_at.isoformat()  # type: ignore[union-attr]


def test_their_cancel_ends_our_duty(world: World) -> None:
    refund_id, dict_id = _learned(world, 4)
    they_cancel(world, dict_id)
    world.pass_time(6)
    poll()
    assert row(refund_id).status == "cancelled"
    assert _timers(refund_id) == [("approaching", "cancelled"), ("missed", "cancelled")]
    world.pass_time(timedelta(days=2).total_seconds())
    world.run_due()
    assert world.events("refunds.deadline_missed") == []


def test_a_close_that_loses_to_their_cancel_ends_cancelled(world: World) -> None:
    refund_id, dict_id = _learned(world, 5)
    request(refund_id, "close", analysis_result="TOTALLY_ACCEPTED", refund_transaction_id=RTR_ID)
    they_cancel(world, dict_id)
    world.run_due()
    ours = row(refund_id)
    assert ours.status == "cancelled"
    assert world.admin.get_call_counts("").by_method["CloseRefund"] == 1
