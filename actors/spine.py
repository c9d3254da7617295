"""The spine's own actors: the relay cron, events to the core system, operator triggers.

Events reach core banking through the event log (``app/repo/event_log.py``): publication
logs what the changes' transactions left pending, each event taking its id (and its
outbox row done), then appends the new ones to the Redis streams, in id order. One
process publishes at a time. A worker runs a pass after each batch that wrote events
(``actors/batch.py``); an event written elsewhere (the API) has a ``publish_event``
message that asks for one; and the relay runs one every minute, so an event is pushed
even when its message was lost with Redis, or its worker died after its commit.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage
from periodiq import cron
from redis.typing import EncodableT, FieldT

from app import clock, db, outbox, settings
from app.events import STREAM, STREAM_MAXLEN, stream_of
from app.repo import event_log, idempotency, rate_limits, spine
from statemachines import registry

log = logging.getLogger(__name__)


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
    """Every minute: a relay pass (``outbox.relay``: what Redis lost, expired leases,
    what is due within the horizon). The scheduler also runs one every 10 s."""
    if claim_slot("relay", cron_slot()):
        outbox.relay()
        publish_events()  # what lost messages or a failed push left behind


@dramatiq.actor(queue_name="cron", periodic=cron("17 4 * * *"), max_retries=3)
def maintenance() -> None:
    """Daily: move outbox rows finished more than OUTBOX_RETENTION_DAYS ago into the
    archive, prune expired idempotency keys and events older than EVENT_RETENTION_DAYS;
    keep the monthly partitions of the outbox archive and the rate-limit readings (the
    next 3 months ready, the old dropped) and of state_history (the next 3 months ready,
    the old archived, then dropped if HISTORY_ARCHIVE_MONTHS says so)."""
    if not claim_slot("maintenance", cron_slot()):
        return
    now = clock.now()
    kept_rows = settings.outbox()
    outbox.prune(now - timedelta(days=kept_rows.retention_days))
    with db.pool().connection() as conn:
        outbox.keep_archive_partitions(conn, now, kept_rows.archive_months)
        idempotency.prune(conn, now)
        event_log.prune(conn, now - timedelta(days=settings.events().retention_days))
        rate_limits.keep_partitions(conn, now, settings.rate_limit_readings().retention_months)
    kept = settings.history()
    with db.pool().connection() as conn:  # its own transaction: it may lock state_history
        spine.keep_history_partitions(conn, now, kept.retention_months, kept.archive_months)


@dramatiq.actor(queue_name="events", priority=100)  # after DICT work (e.g. acks)
def publish_event(topic: str, payload: dict[str, Any]) -> None:
    """Publish every event waiting, this one among them (its outbox row's ``topic`` and
    ``payload`` name it for operators: the pass reads the events from the database)."""
    publish_events()


PUBLISH_BATCH = 1000
PUBLISH_BUDGET_S = 20.0
"""A pass that keeps finding new events hands over after this (well under the actors'
time limit); the next message, or the relay within a minute, goes on."""


def publish_events() -> None:
    """Log the events committed since the last pass, then push the log's new events to
    the Redis streams, unless another process is publishing: that one looks again once
    it released the lock, so an event committed meanwhile does not wait. A PostgreSQL
    error raises (the message is retried); a Redis failure is logged and the next pass
    pushes again from where this one stopped."""
    deadline = time.monotonic() + PUBLISH_BUDGET_S
    with db.pool().connection() as conn:
        while event_log.try_lock(conn):
            try:
                pushed = _publish(conn)
            finally:
                event_log.unlock(conn)
            if not pushed or time.monotonic() > deadline or not event_log.waiting(conn):
                return


def _publish(conn: db.Conn) -> bool:
    """One pass, under the lock; False when Redis refused the push."""
    while event_log.append(conn, clock.now(), PUBLISH_BATCH) == PUBLISH_BATCH:
        pass
    while rows := event_log.unpushed(conn, PUBLISH_BATCH):
        try:
            _push(rows)
        except redis.RedisError as exc:
            log.warning("events not pushed to Redis (%s); the next pass pushes them", exc)
            return False
        event_log.mark_pushed(conn, rows[-1].id, clock.now())
    return True


def _push(rows: list[event_log.Outgoing]) -> None:
    """Append each event to the stream of every event and to its topic's, in id order
    (the fields of ``app.events.STREAM_FIELDS``)."""
    pipe = _streams().pipeline(transaction=False)
    for r in rows:
        fields: dict[FieldT, EncodableT] = {
            "event_id": r.id,
            "topic": r.topic,
            "occurred_at": r.occurred_at.isoformat(),
            "payload": json.dumps(r.payload),
        }
        every = {**fields, "previous_event_id": r.previous_id}
        pipe.xadd(STREAM, every, maxlen=STREAM_MAXLEN, approximate=True)
        pipe.xadd(stream_of(r.topic), fields, maxlen=STREAM_MAXLEN, approximate=True)
    pipe.execute()


PUSH_TIMEOUT_S = 5.0
_pushes: redis.Redis | None = None


def _streams() -> redis.Redis:
    """Redis for the pushes, with a timeout: a pass waiting on it holds the lock."""
    global _pushes
    if _pushes is None:
        url = settings.redis().url
        _pushes = redis.Redis.from_url(
            url, socket_timeout=PUSH_TIMEOUT_S, socket_connect_timeout=PUSH_TIMEOUT_S
        )
    return _pushes


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
