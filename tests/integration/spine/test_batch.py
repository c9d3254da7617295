"""A message of several outbox rows is worked as one batch (``actors/batch.py``, issue 16).

The rows' answers are applied in one transaction (run again with a savepoint a row when
one row's changes raise), with each row's outcome recorded beside it; the events the
batch wrote are published by the worker after the commit, with no ``publish_event``
message. Every row keeps its guarantees
alone: its own retry, its own dead letter, applied once however often it is delivered.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import dramatiq
import pytest
import redis as redis_lib

from actors import batch, spine
from app import clock, db, outbox, queue, settings
from app.domain import problems
from app.events import STREAM
from statemachines import entry
from statemachines.core import IllegalTrigger

ACTOR: Any = SimpleNamespace(options={})  # the broker's retry policy (queue.retry_when)


@pytest.fixture
def r(database_url: str, redis_url: str) -> Iterator[redis_lib.Redis]:
    queue.broker.cache_clear()
    spine._pushes = None  # the pushes' client, for this test's Redis
    with redis_lib.Redis.from_url(redis_url) as client:
        yield client
    spine._pushes = None
    queue.broker.cache_clear()


def registering(n: int) -> list[list[Any]]:
    """``n`` entries waiting for the DICT's answer, each with its dispatched outbox row:
    the items of one batch message (``[outbox id, args, trace context]``)."""
    now = clock.now()
    ids = [(str(uuid.uuid4()), f"+55619{i:08d}") for i in range(n)]
    with db.pool().connection() as conn:
        for i, (entry_id, key) in enumerate(ids):
            conn.execute(
                db.q("entries.insert"),
                {
                    "id": entry_id,
                    "key": key,
                    "key_type": "PHONE",
                    "status": "registering",
                    "participant": "12345678",
                    "branch": "1",
                    "account_number": str(i),
                    "account_type": "CACC",
                    "opening_date": now,
                    "owner_type": "NATURAL_PERSON",
                    "owner_tax_id": "52998224725",
                    "owner_name": "Maria da Silva",
                    "owner_trade_name": None,
                    "request_id": uuid.uuid4(),
                    "now": now,
                },
            )
        rows = outbox.write(
            conn, [outbox.task("register_entry", entry_id=e, key=k) for e, k in ids], now
        )
    return [[d.id, d.args, None] for d in rows]


def answer(entry_id: str, key: str) -> None:
    """What ``register_entry`` does once the DICT answered: hand over the change."""
    outbox.apply(lambda s: entry.registered(s, entry_id, key), moot=(IllegalTrigger,))


def failing_for(bad: str, error: Exception) -> Callable[..., None]:
    """``answer``, except that applying ``bad``'s answer raises after it wrote."""

    def fn(entry_id: str, key: str) -> None:
        if entry_id != bad:
            answer(entry_id, key)
            return

        def change(s: outbox.Step) -> None:
            entry.registered(s, entry_id, key)
            raise error

        outbox.apply(change)

    return fn


def outbox_rows(ids: list[int]) -> dict[int, dict[str, Any]]:
    with db.pool().connection() as conn:
        found = conn.execute("SELECT * FROM outbox WHERE id = ANY(%s)", (ids,)).fetchall()
    return {r["id"]: r for r in found}


def statuses(items: list[list[Any]]) -> list[str]:
    with db.pool().connection() as conn:
        return [
            conn.execute(
                "SELECT status FROM entries WHERE id = %s", (i[1]["entry_id"],)
            ).fetchone()["status"]
            for i in items
        ]


def history(entry_id: str) -> int:
    with db.pool().connection() as conn:
        return int(
            conn.execute(
                "SELECT count(*) AS n FROM state_history WHERE subject_id = %s"
                " AND trigger = 'registered'",
                (entry_id,),
            ).fetchone()["n"]
        )


def queued(r: redis_lib.Redis, name: str) -> list[dramatiq.Message[Any]]:
    """The messages waiting in ``name`` and its delay queue."""
    raw = [*r.hvals(f"dramatiq:{name}.msgs"), *r.hvals(f"dramatiq:{name}.DQ.msgs")]
    return [dramatiq.Message.decode(m) for m in raw]


def test_one_failing_row_is_retried_alone_and_the_others_commit(r: redis_lib.Redis) -> None:
    items = registering(3)
    bad = items[1][1]["entry_id"]
    r.flushdb()  # the messages the step sent: this test delivers the batch itself

    batch.run_batch(ACTOR, failing_for(bad, RuntimeError("boom")), items)

    assert statuses(items) == ["active", "registering", "active"]  # rolled back to its savepoint
    # the first run (no savepoints) was rolled back whole: each change applied once
    assert [history(i[1]["entry_id"]) for i in items] == [1, 0, 1]
    rows = outbox_rows([i[0] for i in items])
    assert [rows[i[0]]["status"] for i in items] == ["done", "dispatched", "done"]
    retried = rows[items[1][0]]
    assert retried["attempts"] == 2 and "RuntimeError: boom" in retried["last_error"]
    assert retried["deliver_at"] > clock.now()  # its own backoff
    (again,) = queued(r, "dict")  # handed out again alone, with its delay
    assert again.options["outbox_id"] == items[1][0] and again.queue_name == "dict.DQ"


def test_a_row_retrying_cannot_help_is_a_dead_letter_and_the_others_commit(
    r: redis_lib.Redis,
) -> None:
    items = registering(2)
    bad = items[0][1]["entry_id"]
    r.flushdb()
    final = problems.EntryKeyOwnedByDifferentPerson("no")
    assert final.retryable is False

    batch.run_batch(ACTOR, failing_for(bad, final), items)

    rows = outbox_rows([i[0] for i in items])
    assert [rows[i[0]]["status"] for i in items] == ["failed", "done"]
    assert queued(r, "dict") == []


def test_a_row_the_limiter_holds_back_waits_and_is_no_attempt(r: redis_lib.Redis) -> None:
    items = registering(2)
    held = items[0][1]["entry_id"]
    r.flushdb()

    def fn(entry_id: str, key: str) -> None:
        if entry_id == held:
            raise problems.LimiterWait("no token", retry_after_s=30.0)
        answer(entry_id, key)

    batch.run_batch(ACTOR, fn, items)

    rows = outbox_rows([i[0] for i in items])
    waiting = rows[items[0][0]]
    assert (waiting["status"], waiting["attempts"], waiting["last_error"]) == (
        "dispatched",
        1,
        None,
    )
    assert waiting["deliver_at"] > clock.now() + timedelta(seconds=25)
    assert rows[items[1][0]]["status"] == "done"


def test_the_events_of_a_batch_are_published_without_a_message(r: redis_lib.Redis) -> None:
    items = registering(3)
    r.flushdb()

    batch.run_batch(ACTOR, answer, items)

    assert queued(r, "events") == []  # no publish_event message
    with db.pool().connection() as conn:
        logged = conn.execute("SELECT outbox_id FROM event_log ORDER BY id").fetchall()
        pending = conn.execute("SELECT count(*) AS n FROM event_log_pending").fetchone()["n"]
    assert len(logged) == 3 and pending == 0
    events = outbox_rows([e["outbox_id"] for e in logged])
    assert {e["status"] for e in events.values()} == {"done"}  # done once logged
    pushed = r.xrange(STREAM)
    assert len(pushed) == 3


def test_a_batch_delivered_twice_applies_each_row_once(r: redis_lib.Redis) -> None:
    items = registering(4)
    r.flushdb()
    runs = [threading.Thread(target=batch.run_batch, args=(ACTOR, answer, items)) for _ in "ab"]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    batch.run_batch(ACTOR, answer, items)  # and once more, later

    assert statuses(items) == ["active"] * 4
    assert [history(i[1]["entry_id"]) for i in items] == [1, 1, 1, 1]
    with db.pool().connection() as conn:
        events = conn.execute("SELECT count(*) AS n FROM event_log").fetchone()["n"]
    assert events == 4


class Killed(BaseException):
    """The worker dies in the middle of the batch's transaction (SIGKILL, OOM)."""


def test_a_worker_killed_mid_batch_leaves_every_row_to_be_worked_again(
    r: redis_lib.Redis,
) -> None:
    """Given a batch message fetched by a worker that dies while it applies the rows,
    then nothing of the batch committed, the relay puts the message back once the
    worker's heartbeat is old, and its next delivery applies every row once."""
    items = registering(3)
    r.flushdb()
    outbox.enqueue(
        [outbox.Dispatch(i[0], "register_entry", "dict", i[1], clock.now()) for i in items],
        clock.now(),
    )
    dead = queue.Broker(url=settings.redis().url)
    message = next(dead.consume("dict", prefetch=1, timeout=100))
    assert message is not None and len(message.options["outbox_batch"]) == 3

    def dies_on_the_last(entry_id: str, key: str) -> None:
        if entry_id != items[-1][1]["entry_id"]:
            answer(entry_id, key)
            return

        def change(s: outbox.Step) -> None:
            raise Killed

        outbox.apply(change)

    with pytest.raises(Killed):
        batch.run_batch(ACTOR, dies_on_the_last, message.options["outbox_batch"])
    assert statuses(items) == ["registering"] * 3  # the batch's transaction never committed
    assert {row["status"] for row in outbox_rows([i[0] for i in items]).values()} == {"dispatched"}

    silent = dramatiq.common.current_millis() - queue.HEARTBEAT_TIMEOUT_MS - 1_000
    r.zadd("dramatiq:__heartbeats__", {dead.broker_id: silent})
    outbox.relay()
    (back,) = [dramatiq.Message.decode(m) for m in r.hvals("dramatiq:dict.msgs")]
    batch.run_batch(ACTOR, answer, back.options["outbox_batch"])

    assert statuses(items) == ["active"] * 3
    assert [history(i[1]["entry_id"]) for i in items] == [1, 1, 1]
    assert {row["status"] for row in outbox_rows([i[0] for i in items]).values()} == {"done"}
    dead.client.connection_pool.disconnect()


def test_enqueue_groups_the_rows_of_one_actor_due_together(r: redis_lib.Redis) -> None:
    now = clock.now()
    later = now + timedelta(seconds=30)
    rows = [outbox.Dispatch(n, "probe", "default", {"n": n}, now) for n in range(1, 121)]
    rows += [outbox.Dispatch(200, "probe", "default", {}, later)]
    rows += [outbox.Dispatch(300, "claim_retry", "default", {}, now)]
    outbox.enqueue(rows, now)

    found = queued(r, "default")
    sizes = sorted(len(m.options.get("outbox_batch") or [m.options["outbox_id"]]) for m in found)
    assert sizes == [1, 1, 20, 50, 50]  # by actor and time, at most BATCH_MAX a message
    carried = [i[0] for m in found for i in m.options.get("outbox_batch") or []]
    assert sorted(carried) == list(range(1, 121))
