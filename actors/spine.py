"""The spine's own actors: the relay cron, events to the core system, operator triggers."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage
from periodiq import cron

from app import clock, db, outbox, settings
from app.repo import idempotency, rate_limits, spine
from statemachines import registry

log = logging.getLogger(__name__)

EVENT_STREAM_MAXLEN = 100_000


def claim_slot(job: str, slot: datetime) -> bool:
    """Take ``(job, slot)`` in cron_runs; False when a duplicate tick already took it."""
    with db.pool().connection() as conn:
        return spine.claim_cron_slot(conn, job, slot, clock.now())


def cron_slot() -> datetime:
    """The minute this tick was scheduled for (periodiq's ``scheduled_at``), else now's."""
    message = CurrentMessage.get_current_message()
    scheduled = message.options.get("scheduled_at") if message else None
    at = datetime.fromisoformat(scheduled) if scheduled else clock.now()
    return at.replace(second=0, microsecond=0)


@dramatiq.actor(queue_name="cron", periodic=cron("* * * * *"), max_retries=0)
def relay() -> None:
    """Every minute: re-arm expired leases and dispatch what is due within the horizon."""
    if claim_slot("relay", cron_slot()):
        while outbox.relay_tick() == 1000:  # a full batch: more may be due
            pass


DONE_RETENTION = timedelta(days=7)


@dramatiq.actor(queue_name="cron", periodic=cron("17 4 * * *"), max_retries=3)
def maintenance() -> None:
    """Daily: prune finished outbox rows and expired idempotency keys; keep the
    rate-limit readings' monthly partitions (the next 3 months ready, the old dropped)."""
    if not claim_slot("maintenance", cron_slot()):
        return
    now = clock.now()
    outbox.prune(now - DONE_RETENTION)
    with db.pool().connection() as conn:
        idempotency.prune(conn, now)
        rate_limits.keep_partitions(conn, now, settings.rate_limit_readings().retention_months)


@dramatiq.actor(queue_name="events", priority=100)  # after DICT work (e.g. acks)
def publish_event(topic: str, payload: dict[str, Any]) -> None:
    """Append an event for the core banking system to its Redis stream."""
    message = CurrentMessage.get_current_message()
    event_id = str(message.options.get("outbox_id", "")) if message else ""
    redis_client().xadd(
        f"dict-connect.events.{topic}",
        {"event_id": event_id, "topic": topic, "payload": json.dumps(payload)},
        maxlen=EVENT_STREAM_MAXLEN,
        approximate=True,
    )


@dramatiq.actor(queue_name="default")
def fire_trigger(
    machine: str, subject_id: str, trigger: str, reason: str | None = None, actor: str = "operator"
) -> None:
    """Fire a trigger asked for by an operator (``SELECT ops.request(...)``)."""
    with outbox.step(actor=actor, trigger=trigger, reason=reason) as s:
        registry.operator_fire(s, machine, subject_id, trigger, reason)


_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    """The worker process's Redis client (events, the lookups' copies)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.redis().url)
    return _client


@dramatiq.actor(queue_name="default")
def probe(tag: str = "") -> None:
    """Does nothing: a timer that measures its own lag (outbox finished_at - deliver_at)."""
