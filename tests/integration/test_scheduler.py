"""The scheduler's loop (``app.scheduler``): a SIGTERM in the middle of a tick lets the
tick finish and starts no other; /health notices a loop that stopped ticking.

periodiq's own ``Scheduler`` runs here on a Redis broker of the test's own, with three
every-minute crons, and a real SIGTERM is sent to this process while the first
message of a tick is being enqueued.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pendulum
import pytest
import redis as redis_lib
from dramatiq.brokers.redis import RedisBroker
from periodiq import PeriodiqMiddleware, cron
from prometheus_client import REGISTRY

from app.scheduler import Scheduler

JOBS = ("tick_a", "tick_b", "tick_c")


class SigtermOnFirstEnqueue(dramatiq.Middleware):
    """Sends SIGTERM to this process while the tick's first message is being sent, and
    notes, for each message, whether the scheduler was already stopping."""

    def __init__(self) -> None:
        self.scheduler: Scheduler | None = None
        self.stopping_at_send: list[bool] = []

    def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
        assert self.scheduler is not None
        self.stopping_at_send.append(self.scheduler.stopping)
        if len(self.stopping_at_send) == 1:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture
def crons(redis_url: str) -> Iterator[tuple[list[Any], SigtermOnFirstEnqueue, redis_lib.Redis]]:
    broker = RedisBroker(url=redis_url, namespace="scheduler-test")
    broker.add_middleware(PeriodiqMiddleware())
    spy = SigtermOnFirstEnqueue()
    broker.add_middleware(spy)
    actors = [
        dramatiq.actor(lambda: None, actor_name=name, broker=broker, periodic=cron("* * * * *"))
        for name in JOBS
    ]
    previous = signal.getsignal(signal.SIGTERM)
    yield actors, spy, broker.client
    signal.signal(signal.SIGTERM, previous)
    signal.alarm(0)
    broker.close()
    broker.client.connection_pool.disconnect()


def _sent(client: redis_lib.Redis) -> int:
    return int(client.llen("scheduler-test:default"))


def _ticks(job: str) -> float:
    return REGISTRY.get_sample_value("dict_scheduler_ticks_total", {"job": job}) or 0.0


def test_sigterm_during_a_tick_lets_it_finish_and_starts_no_other(crons: Any) -> None:
    actors, spy, client = crons
    before = {job: _ticks(job) for job in JOBS}
    scheduler = Scheduler(actors, timeout_s=30)
    signal.signal(signal.SIGTERM, scheduler.stop)
    spy.scheduler = scheduler

    scheduler.schedule()  # the tick: SIGTERM arrives while its first message is sent
    scheduler.loop()  # returns at once: the signal asked it to

    assert spy.stopping_at_send == [False, True, True]  # the signal landed mid-tick
    assert _sent(client) == len(JOBS)  # and the tick was sent whole
    assert {job: _ticks(job) - before[job] for job in JOBS} == dict.fromkeys(JOBS, 1.0)
    scheduler.schedule()  # what the next alarm would do
    assert _sent(client) == len(JOBS)
    assert signal.alarm(0) == 0  # no alarm left to wake a loop that is gone


def test_health_fails_when_the_loop_misses_its_next_tick(crons: Any) -> None:
    actors, spy, _ = crons
    scheduler = Scheduler(actors, timeout_s=30)
    spy.stopping_at_send.append(True)  # no SIGTERM from the spy in this test
    spy.scheduler = scheduler
    assert scheduler.alive()

    scheduler.schedule()
    due = scheduler.next_tick
    assert due.second == 0 and timedelta(0) < due - pendulum.now() <= timedelta(minutes=1)
    scheduler.next_tick = pendulum.now() - timedelta(seconds=31)  # an alarm that never rang
    assert not scheduler.alive()


def test_a_tick_while_redis_is_away_is_lost_not_the_scheduler() -> None:
    """Found by the fault suite: Redis restarting at a tick killed the scheduler (and with
    it the relay thread, so no deadline was acted on until something restarted it)."""
    broker = RedisBroker(url="redis://127.0.0.1:1/0", namespace="scheduler-test")
    broker.add_middleware(PeriodiqMiddleware())
    actors = [
        dramatiq.actor(
            lambda: None, actor_name=f"away_{n}", broker=broker, periodic=cron("* * * * *")
        )
        for n in range(2)
    ]
    scheduler = Scheduler(actors, timeout_s=30)
    scheduler.send_actors(actors, pendulum.now())  # no exception
    assert _ticks("away_0") == _ticks("away_1") == 0
