"""What Redis lost comes back at the next relay pass, not after a lease (issue 15).

A relay pass (``outbox.relay``) first runs ``recover_redis``: Dramatiq's maintenance on
every queue (a dead worker's unacknowledged messages go back), and the comparison of
Redis's run id and our sentinel key with the epoch PostgreSQL recorded (a flushed or
restarted Redis: every dispatched row is handed back at once).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis as redis_lib
from dramatiq.common import current_millis

from app import clock, db, outbox, queue, settings


@pytest.fixture
def r(database_url: str, redis_url: str) -> Iterator[redis_lib.Redis]:
    queue.broker.cache_clear()
    with redis_lib.Redis.from_url(redis_url) as client:
        yield client
    for broker in [queue.broker(), *WORKERS]:
        broker.client.connection_pool.disconnect()
    WORKERS.clear()
    queue.broker.cache_clear()


WORKERS: list[queue.Broker] = []
"""The workers' brokers a test made (``fetch_as_worker``), closed after it."""


def queued(r: redis_lib.Redis, name: str = "default") -> int:
    """Messages a worker can fetch from a queue now (not those fetched and unacked)."""
    return int(r.llen(f"dramatiq:{name}"))


def rows(status: str) -> list[int]:
    with db.pool().connection() as conn:
        return [row["id"] for row in conn.execute(db.q("outbox.by_status"), {"status": status})]


def dispatch(n: int) -> list[int]:
    with outbox.step() as s:
        s.add([outbox.task("probe", n=i) for i in range(n)])
    return [d.id for d in s.dispatches]


def test_the_first_pass_against_a_database_hands_nothing_back(r: redis_lib.Redis) -> None:
    """Given rows in flight and no epoch recorded yet (a fresh install), when the relay
    passes, then it records the epoch and sends no duplicate."""
    dispatch(2)
    assert outbox.relay() == 0
    assert queued(r) == 1  # one message carries both rows
    assert outbox.relay() == 0


def test_a_flushed_redis_hands_every_dispatched_row_back_at_the_next_pass(
    r: redis_lib.Redis,
) -> None:
    outbox.relay()  # the epoch is recorded
    running, finished = dispatch(2)
    outbox.finish(finished)
    r.flushdb()  # the messages are gone, the sentinel with them

    assert outbox.relay() == 1  # at once, not after the lease
    assert queued(r) == 1
    assert rows("dispatched") == [running] and rows("done") == [finished]
    assert outbox.relay() == 0  # once


def test_a_restarted_redis_is_told_by_its_run_id(r: redis_lib.Redis) -> None:
    """A Redis restarted from its append-only file still holds our sentinel but runs under
    a new run id, and the last second of writes may be missing: every row goes back."""
    outbox.relay()
    (row,) = dispatch(1)
    with db.pool().connection() as conn:
        conn.execute(db.q("outbox.set_redis_epoch"), {"epoch": "before-restart", "now": None})
    r.set(outbox.REDIS_SENTINEL, "before-restart")

    assert outbox.relay() == 1
    assert queued(r) == 2  # the surviving message and its re-dispatch: a harmless repeat
    assert rows("dispatched") == [row]
    assert outbox.relay() == 0


def test_two_relays_at_once_hand_back_once(r: redis_lib.Redis) -> None:
    outbox.relay()
    dispatch(3)
    r.flushdb()
    handed: list[int] = []
    passes = [
        threading.Thread(target=lambda: handed.append(outbox.recover_redis())) for _ in range(4)
    ]
    for t in passes:
        t.start()
    for t in passes:
        t.join()
    assert sorted(handed) == [0, 0, 0, 3]


def test_redis_unreachable_dispatches_nothing_into_the_void(
    r: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis away the pass fails before claiming rows, so pending work is not marked
    dispatched (which only a lease would undo)."""
    timer = outbox.timer("probe", clock.now(), dedupe_key="t")
    with db.pool().connection() as conn:
        outbox.write(conn, [timer], clock.now() - 2 * outbox.HORIZON)  # written pending
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings.reset()
    queue.broker.cache_clear()
    with pytest.raises(redis_lib.ConnectionError):
        outbox.relay()
    assert len(rows("pending")) == 1


def fetch_as_worker(name: str) -> queue.Broker:
    """A worker's broker that fetched one message of queue ``name`` and never acked it."""
    worker = queue.Broker(url=settings.redis().url)
    WORKERS.append(worker)
    consumer = worker.consume(name, prefetch=1, timeout=100)
    assert next(consumer) is not None
    return worker


def test_a_dead_workers_messages_go_back_to_their_queues(r: redis_lib.Redis) -> None:
    """Given a worker killed holding a message and a delayed one, and a live worker
    holding another, when the relay passes after the dead one's heartbeat timed out,
    then the dead one's messages are back on their queues and the live one's are not."""
    dispatch(1)
    with outbox.step() as s:  # due in a minute: the delay queue
        s.add([outbox.timer("probe", s.now + outbox.HORIZON / 2, dedupe_key="soon")])
    dead_now, dead_later = fetch_as_worker("default"), fetch_as_worker("default.DQ")
    dispatch(1)
    live = fetch_as_worker("default")
    silent_since = current_millis() - queue.HEARTBEAT_TIMEOUT_MS - 1_000
    for dead in (dead_now, dead_later):
        r.zadd("dramatiq:__heartbeats__", {dead.broker_id: silent_since})
    assert (queued(r), queued(r, "default.DQ")) == (0, 0)

    outbox.relay()

    assert (queued(r), queued(r, "default.DQ")) == (1, 1)
    assert r.scard(f"dramatiq:__acks__.{live.broker_id}.default") == 1


def test_a_worker_silent_less_than_the_timeout_keeps_its_messages(r: redis_lib.Redis) -> None:
    dispatch(1)
    worker = fetch_as_worker("default")
    r.zadd(
        "dramatiq:__heartbeats__",
        {worker.broker_id: current_millis() - queue.HEARTBEAT_TIMEOUT_MS + 5_000},
    )
    outbox.relay()
    assert queued(r) == 0


def test_a_dead_process_holding_nothing_costs_no_maintenance(r: redis_lib.Redis) -> None:
    """An API process idle past the timeout counts as dead but holds no message: the
    pass leaves it alone rather than run the script's maintenance, whose KEYS scans the
    whole database (the lookups' caches share it)."""
    outbox.relay()
    idle = current_millis() - queue.HEARTBEAT_TIMEOUT_MS - 1_000
    r.zadd("dramatiq:__heartbeats__", {"an-idle-api": idle})
    outbox.relay()
    assert r.zscore("dramatiq:__heartbeats__", "an-idle-api") == idle
