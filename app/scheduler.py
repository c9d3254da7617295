"""``dict-connect scheduler``: periodiq's loop, with metrics, a liveness and a clean stop.

periodiq sends each periodic actor's message when its cron matches (a minute at the
finest: its cron has no seconds) and sleeps on SIGALRM until the next match. This
runs periodiq's own ``Scheduler`` with three additions:

- metrics on METRICS_PORT: ``dict_scheduler_ticks_total{job}`` (messages sent) and
  ``dict_scheduler_last_tick_timestamp_seconds{job}``;
- ``alive()`` for /health: the loop woke up when its next tick was due (a lost alarm
  would stop every cron while the process looked fine);
- SIGTERM (or SIGINT) stops it cleanly: no tick starts after the signal, a tick being
  sent finishes (periodiq's loop would die in the middle of one), and after
  ``timeout_s`` the process exits anyway.

Two replicas run safely: each sends every tick, and each cron actor first takes its
``(job, slot)`` row in ``cron_runs`` (``actors.spine.claim_slot``), so a tick's work
happens once, whichever replica's message comes first; the other message finds the
slot taken and does nothing.

It also runs the relay itself, a pass every 10 s in a thread (``app.outbox.relay_loop``;
a cron ticks once a minute at best), so a killed worker's messages and what Redis lost
are back in a queue within seconds. Two replicas' passes are safe together: rows are
claimed with SKIP LOCKED and Redis's losses are compared under a row lock.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import timedelta
from typing import Any

import pendulum
import periodiq
import redis
from prometheus_client import REGISTRY, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app import outbox, probes

log = logging.getLogger(__name__)

LATE_S = 30
"""/health fails when the loop is this late for its next tick."""

TICKS = Counter("dict_scheduler_ticks", "Messages the scheduler sent, by periodic actor", ["job"])
LAST_TICK = Gauge(
    "dict_scheduler_last_tick_timestamp_seconds",
    "When the scheduler last sent a periodic actor's message (Unix time)",
    ["job"],
)


class Scheduler(periodiq.Scheduler):  # type: ignore[misc]  # periodiq has no types
    def __init__(self, actors: list[Any], timeout_s: float) -> None:
        super().__init__(actors=actors)
        self.timeout_s = timeout_s
        self.stopping = False
        self.next_tick = pendulum.now() + timedelta(minutes=1)
        self._give_up: threading.Timer | None = None

    def schedule(self) -> None:
        """One tick (periodiq's), unless stopping; then note when the next one is due."""
        if self.stopping:
            return
        super().schedule()
        now = pendulum.now()
        self.next_tick = min(a.options["periodic"].next_valid_date(now) for a in self.actors)

    def send_actors(self, actors: list[Any], now: Any) -> None:
        for actor in actors:  # all of them, even after SIGTERM: a tick is never half sent
            try:
                super().send_actors([actor], now)
            except redis.RedisError as exc:  # Redis away: this tick is lost, not the process
                log.warning("tick of %s not sent (%s); the next one runs it", actor.actor_name, exc)
                continue
            TICKS.labels(actor.actor_name).inc()
            LAST_TICK.labels(actor.actor_name).set(now.timestamp())

    def loop(self) -> None:
        """periodiq's loop, until ``stop``; then no alarm is left armed."""
        super().loop()
        signal.alarm(0)
        if self._give_up is not None:
            self._give_up.cancel()

    def alive(self) -> bool:
        return bool(pendulum.now() < self.next_tick + timedelta(seconds=LATE_S))

    def stop(self, signum: int, frame: Any) -> None:
        """The SIGTERM handler: wake the loop to return after the tick in progress."""
        if self.stopping:
            return
        self.stopping = True
        log.info("scheduler stopping: no tick from now on")
        signal.alarm(0)
        # loop() returns when it reads False; put from a thread, as this handler may have
        # interrupted the main thread inside the queue's own lock
        threading.Thread(target=self.alarm_q.put, args=(False,), daemon=True).start()
        self._give_up = threading.Timer(self.timeout_s, _give_up, (self.timeout_s,))
        self._give_up.daemon = True
        self._give_up.start()


def _give_up(timeout_s: float) -> None:
    log.error("scheduler: the tick in progress did not end within %g s; exiting", timeout_s)
    os._exit(1)


def metrics() -> tuple[int, str, bytes]:
    return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)


def run(timeout_s: float) -> int:
    """periodiq's ``main`` for our broker (``actors``), with the additions above."""
    from actors import broker

    actors = [a for a in broker.actors.values() if "periodic" in a.options]
    periodiq.print_periodic_actors(actors)
    scheduler = Scheduler(actors, timeout_s)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, scheduler.stop)
    checks = {"postgres": probes.postgres_connects, "redis": probes.redis_ready}
    probes.start("scheduler", alive=scheduler.alive, checks=checks, metrics=metrics)
    relay_stop = threading.Event()
    relay = threading.Thread(
        target=outbox.relay_loop, args=(relay_stop,), name="relay", daemon=True
    )
    relay.start()
    second = pendulum.now().second
    if second > 55:  # as periodiq does: a first tick this late would run twice in a row
        time.sleep(60 - second)  # ok: waiting for the minute, which is wall time
    scheduler.schedule()
    scheduler.loop()
    relay_stop.set()  # a pass in progress ends first
    relay.join()
    log.info("scheduler stopped")
    return 0
