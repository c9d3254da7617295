"""The worker's actors, declared on the shared broker (``app.queue``).

``dramatiq actors`` (the worker) and ``periodiq actors`` (the scheduler) import
this package; it installs the middleware that only they need, then every actor.
"""

from __future__ import annotations

import os

from dramatiq.middleware import CurrentMessage
from periodiq import PeriodiqMiddleware

from actors.middleware import LoggingMiddleware, OutboxMiddleware, TracingMiddleware
from app import queue

broker = queue.broker()
broker.add_middleware(TracingMiddleware("worker"))  # before the logs: its boot hook runs after
broker.add_middleware(LoggingMiddleware("worker"))  # before Prometheus: its boot logs too
if os.environ.get("dramatiq_prom_db"):  # noqa: SIM112 - set by `dict-connect worker` (METRICS_PORT)
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())  # /metrics on dramatiq_prom_port, all processes
broker.add_middleware(CurrentMessage())
broker.add_middleware(PeriodiqMiddleware(skip_delay=30))
OutboxMiddleware.install(broker)  # its after-hook runs after Retries'

from actors import (  # noqa: E402
    batch,
    claim_deadlines,
    claims,
    entries,
    fraud_markers,
    infractions,
    lookups,
    polling,
    rate_limits,
    refunds,
    spine,
    sync,
)
from actors.limits import wrap_dict_actors  # noqa: E402

wrap_dict_actors(broker)  # a call our limiter holds back waits in the outbox
batch.install(broker)  # a message of several outbox rows is worked as one batch

__all__ = [
    "batch",
    "broker",
    "claim_deadlines",
    "claims",
    "entries",
    "fraud_markers",
    "infractions",
    "lookups",
    "polling",
    "rate_limits",
    "refunds",
    "spine",
    "sync",
]
