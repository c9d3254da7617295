"""The outbox as timer wheel: dispatch, horizon, dedupe, cancellation, lease expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dramatiq
import psycopg
import psycopg_pool
import pytest
import redis as redis_lib

from actors.middleware import OutboxMiddleware  # imports actors/ first: its broker is set
from app import clock, db, outbox, queue
from app.bridge.status import BridgeUnavailable
from app.domain import problems


@pytest.fixture
def broker_redis(redis_url: str) -> redis_lib.Redis:
    queue.broker.cache_clear()
    yield redis_lib.Redis.from_url(redis_url)
    queue.broker.cache_clear()


def _queued(r: redis_lib.Redis, name: str = "default") -> int:
    """Messages waiting in a Dramatiq queue (now or delayed)."""
    return r.hlen(f"dramatiq:{name}.msgs") + r.hlen(f"dramatiq:{name}.DQ.msgs")


def _status(row_id: int) -> str:
    with db.pool().connection() as conn:
        return conn.execute("SELECT status FROM outbox WHERE id = %s", (row_id,)).fetchone()[
            "status"
        ]


def test_work_due_now_is_enqueued_at_commit_and_a_timer_waits(database_url, broker_redis) -> None:
    now = clock.now()
    with outbox.step() as s:
        s.add(
            [
                outbox.task("probe", x=1),
                outbox.timer("probe", now + timedelta(days=7), dedupe_key="t1", x=2),
            ]
        )
    assert len(s.dispatches) == 1
    assert _queued(broker_redis) == 1
    assert outbox.relay_tick(now) == 0  # the 7-day timer is not due
    outbox.finish(s.dispatches[0].id)  # the worker ran the task

    assert outbox.relay_tick(now + timedelta(days=7) - timedelta(seconds=30)) == 1
    assert _queued(broker_redis) == 2


def test_a_second_timer_with_the_same_dedupe_key_is_ignored(database_url, broker_redis) -> None:
    at = clock.now() + timedelta(days=1)
    for _ in range(2):
        with outbox.step() as s:
            s.add([outbox.timer("probe", at, dedupe_key="claim:1:resolution")])
    with db.pool().connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM outbox").fetchone()["n"] == 1


def test_a_cancelled_timer_never_fires(database_url, broker_redis) -> None:
    at = clock.now() + timedelta(days=1)
    with outbox.step() as s:
        s.add([outbox.timer("probe", at, dedupe_key="k")])
    with outbox.step() as s:
        s.add([outbox.cancel_timer("k")])
    assert outbox.relay_tick(at + timedelta(minutes=1)) == 0


def test_a_lost_message_is_re_dispatched_after_its_lease(database_url, broker_redis) -> None:
    with outbox.step() as s:
        s.add([outbox.task("probe")])
    row_id = s.dispatches[0].id
    broker_redis.flushdb()  # Redis lost the message
    assert outbox.relay_tick(clock.now()) == 0  # still leased
    assert outbox.relay_tick(clock.now() + outbox.LEASE + timedelta(seconds=1)) == 1
    assert _queued(broker_redis) == 1
    assert _status(row_id) == "dispatched"


@pytest.mark.parametrize("final", [True, False], ids=["final-error", "retries-exhausted"])
def test_a_worker_dead_letters_a_message_whose_retries_are_over(
    database_url, broker_redis, final: bool
) -> None:
    """Through a real worker with the middleware as the worker installs it: a final
    error, or a transient one past max_retries, leaves the row failed (a dead letter
    the alerts and ops.dead_letters see), not in flight to be re-dispatched forever."""
    broker = queue.broker()
    OutboxMiddleware.install(broker)

    def boom() -> None:
        raise problems.EntryInvalid("no") if final else ConnectionError("bridge gone")

    over = {} if final else {"retry_when": lambda retries, exc: False}  # no retry left
    assert _status(_run_probe(broker, boom, **over)) == "failed"


def _run_probe(broker: dramatiq.Broker, fn: Any, **options: Any) -> int:
    """One outbox task for ``fn`` (as actor ``probe``), through a real worker until the
    queue is empty; the row's id."""
    dramatiq.actor(fn, broker=broker, actor_name="probe", queue_name="default", **options)
    with outbox.step() as s:
        s.add([outbox.task("probe")])
    worker = dramatiq.Worker(broker, queues={"default"}, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join("default", timeout=30_000)
    finally:
        worker.stop()
    return s.dispatches[0].id


FAST = {"min_backoff": 1, "max_backoff": 5}


def test_an_outage_longer_than_the_retries_does_not_dead_letter_the_work(
    database_url, broker_redis
) -> None:
    """The DICT, PostgreSQL or Redis away for longer than 6 retries: the row's work is
    retried until the outage ends, then done (a PostgreSQL restart dead-lettered a
    claim before; tests/faults)."""
    broker = queue.broker()
    OutboxMiddleware.install(broker)
    failures = iter(
        [psycopg.OperationalError("server closed the connection"), BridgeUnavailable("x")]
        + [psycopg.errors.AdminShutdown("terminating connection")] * 5
        + [psycopg_pool.PoolTimeout("no connection"), redis_lib.ConnectionError("refused")] * 3
    )

    def probe() -> None:
        if (exc := next(failures, None)) is not None:
            raise exc

    row_id = _run_probe(broker, probe, **FAST)
    assert _status(row_id) == "done" and next(failures, None) is None  # 13 failures, then done


def test_a_bug_after_an_outage_still_ends_in_the_dead_letters(database_url, broker_redis) -> None:
    broker = queue.broker()
    OutboxMiddleware.install(broker)
    calls = []

    def probe() -> None:
        calls.append(1)
        raise psycopg.OperationalError("gone") if len(calls) <= 8 else ValueError("a bug")

    row_id = _run_probe(broker, probe, **FAST)
    assert _status(row_id) == "failed"
    assert 9 <= len(calls) <= 8 + queue.MAX_RETRIES


def test_a_lock_timeout_is_no_outage_and_ends_in_the_dead_letters(
    database_url, broker_redis
) -> None:
    """A psql session holding the row is an operator's business (claims.md's runbook),
    not an outage to wait out."""
    broker = queue.broker()
    OutboxMiddleware.install(broker)
    calls = []

    def probe() -> None:
        calls.append(1)
        raise psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")

    assert _status(_run_probe(broker, probe, **FAST)) == "failed"
    assert len(calls) == queue.MAX_RETRIES + 1


def test_an_actor_without_retries_is_not_retried_through_an_outage(
    database_url, broker_redis
) -> None:
    broker = queue.broker()
    OutboxMiddleware.install(broker)
    calls = []

    def probe() -> None:
        calls.append(1)
        raise psycopg.OperationalError("gone")

    assert _status(_run_probe(broker, probe, max_retries=0, **FAST)) == "failed"
    assert len(calls) == 1


def test_done_and_failed_are_recorded(database_url, broker_redis) -> None:
    with outbox.step() as s:
        s.add([outbox.task("probe", n=1), outbox.task("probe", n=2)])
    done, failed = (d.id for d in s.dispatches)
    outbox.finish(done)
    outbox.finish(failed, error="EntryInvalid: no", failed=True)
    assert (_status(done), _status(failed)) == ("done", "failed")
    with db.pool().connection() as conn:
        dead = conn.execute("SELECT id, last_error FROM outbox_dead_letters").fetchall()
    assert dead == [{"id": failed, "last_error": "EntryInvalid: no"}]
    # a done row is not re-dispatched when its lease passes
    assert outbox.relay_tick(clock.now() + outbox.LEASE * 2) == 0


def test_redis_down_at_commit_loses_nothing(database_url, monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    from app import settings

    settings.reset()
    queue.broker.cache_clear()
    with outbox.step() as s:
        s.add([outbox.task("probe")])
    assert _status(s.dispatches[0].id) == "dispatched"  # committed; the lease will re-dispatch
    queue.broker.cache_clear()


def test_concurrent_senders_share_round_trips_and_each_returns_once_sent(
    database_url, broker_redis
) -> None:
    """Given 16 threads committing steps at once, when each step returns, then its
    own message is already in Redis; every message arrives exactly once."""
    import threading

    barrier = threading.Barrier(16)
    seen_after_return: list[bool] = []

    def commit(i: int) -> None:
        barrier.wait()
        for j in range(25):
            with outbox.step() as s:
                s.add([outbox.task("probe", i=i, j=j)])
            msg_id = s.dispatches[0].id
            # the message carrying this outbox row is in the queue now
            seen_after_return.append(
                any(
                    f'"outbox_id":{msg_id}'.encode() in body
                    for body in broker_redis.hvals("dramatiq:default.msgs")
                )
            )

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen_after_return) == 400 and all(seen_after_return)
    assert _queued(broker_redis) == 400


def test_a_redis_failure_reaches_every_sender_of_the_batch(monkeypatch) -> None:
    """A batch Redis refuses raises in each caller whose messages it held."""
    import threading

    class Down(Exception):
        pass

    def refuse(*args, **kwargs):
        raise Down()

    monkeypatch.setattr(queue.Broker, "enqueue", refuse)
    monkeypatch.setattr(queue.Broker, "enqueue_many", refuse)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            queue.send_many([(queue.message(1, "a", "default", {}), timedelta(0))])
        except Down as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 8


def test_a_batch_is_enqueued_after_redis_lost_its_scripts(database_url, broker_redis) -> None:
    """Redis restarted (SCRIPT FLUSH): the next batch reloads the script and arrives."""
    with outbox.step() as s:
        s.add([outbox.task("probe", n=1), outbox.task("probe", n=2)])  # one message
    broker_redis.script_flush()
    with outbox.step() as s:  # two messages (now and later): one pipeline
        later = s.now + timedelta(seconds=30)
        s.add([outbox.task("probe", n=3), outbox.timer("probe", later, dedupe_key="later")])
    assert _queued(broker_redis) == 3


def test_each_relay_pass_is_timed_failed_ones_included(
    database_url, broker_redis, monkeypatch
) -> None:
    """``dict_outbox_relay_seconds``: a pass as long as the interval between passes delays
    every timer; the scheduler's and the cron's passes are both counted."""
    from prometheus_client import REGISTRY

    def passes() -> float:
        return REGISTRY.get_sample_value("dict_outbox_relay_seconds_count") or 0.0

    before = passes()
    outbox.relay()
    assert passes() == before + 1

    def redis_away() -> int:
        raise redis_lib.ConnectionError("Redis away")

    monkeypatch.setattr(outbox, "recover_redis", redis_away)
    with pytest.raises(redis_lib.ConnectionError):
        outbox.relay()
    assert passes() == before + 2
