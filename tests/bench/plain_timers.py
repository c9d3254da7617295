"""Timers as a team would write them with plain Dramatiq: the other side of the timers
benchmark (tests/bench/bench_timers.py, issue 16).

A ``RedisBroker`` with Dramatiq's defaults (middleware, heartbeat timeout, maintenance
chance) and one actor sent with ``delay=``. Only its namespace is ours, so that its keys
in the bench's Redis db are counted apart. The worker is plain Dramatiq:

    dramatiq tests.bench.plain_timers:broker --processes 2 --threads 8

The actor notes when it ran in a hash outside the namespace (``RAN``): the bench reads
a timer's lag from it.
"""

from __future__ import annotations

import os
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker

NAMESPACE = "plain"
RAN = "plain-bench:ran"
"""tag -> Unix time the actor ran."""

broker = RedisBroker(  # type: ignore[no-untyped-call]  # Dramatiq's broker is untyped
    url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11"), namespace=NAMESPACE
)


@dramatiq.actor(broker=broker)
def probe(tag: str = "") -> None:
    """Does nothing but note when it ran (a timer that measures its own lag)."""
    broker.client.hset(RAN, tag, time.time())
