"""A call our limiter holds back puts its outbox row back to wait: no thread sleeps,
no retry is counted, and the worker's middleware leaves the row alone."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from dramatiq.middleware import CurrentMessage

from actors.limits import deferring
from actors.middleware import OutboxMiddleware
from app import clock, db, outbox
from app.domain import problems


def _dispatched_row() -> int:
    with outbox.step(actor="test") as s:
        s.add([outbox.task("create_refund", refund_id="r-1")])
    with db.pool().connection() as conn:
        row = conn.execute(
            "UPDATE outbox SET status = 'dispatched', dispatched_at = now(),"
            " lease_until = now() + interval '10 minutes' RETURNING id"
        ).fetchone()
    assert row is not None
    return int(row["id"])


def _row(outbox_id: int) -> dict[str, Any]:
    with db.pool().connection() as conn:
        found = conn.execute(
            "SELECT status, deliver_at, attempts, last_error, lease_until FROM outbox"
            " WHERE id = %s",
            (outbox_id,),
        ).fetchone()
    assert found is not None
    return dict(found)


def _held(wait: float) -> None:
    raise problems.LimiterWait("CreateRefund waits", retry_after_s=wait)


def test_a_held_call_waits_in_the_outbox(database_url: str, redis_url: str) -> None:
    now = clock.now().replace(microsecond=0)
    outbox_id = _dispatched_row()
    message = SimpleNamespace(options={"outbox_id": outbox_id})
    CurrentMessage._MESSAGE.set(message)  # type: ignore[arg-type]
    try:
        with clock.freeze(now):
            assert deferring(_held)(12.5) is None  # handled: not an error, not retried
    finally:
        CurrentMessage._MESSAGE.set(None)
    row = _row(outbox_id)
    at = now + timedelta(seconds=12.5)
    assert (row["status"], row["deliver_at"], row["last_error"]) == ("dispatched", at, None)
    assert row["lease_until"] == at + outbox.LEASE  # lost on the way: the relay sends it again
    assert message.options["deferred"] is True
    OutboxMiddleware().after_process_message(None, message)  # type: ignore[arg-type]
    assert _row(outbox_id)["status"] == "dispatched"  # not marked done


def test_outside_a_message_the_wait_is_raised(database_url: str) -> None:
    with pytest.raises(problems.LimiterWait):
        deferring(_held)(1.0)


def test_every_dict_actor_is_wrapped() -> None:
    from actors import broker

    dict_actors = [
        broker.get_actor(n)
        for n in broker.get_declared_actors()
        if broker.get_actor(n).queue_name == "dict"
    ]
    assert dict_actors and all(getattr(a.fn, "__wrapped__", None) for a in dict_actors)
