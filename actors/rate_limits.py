"""Reading the DICT's rate-limit buckets of ours (docs/rate_limits.md).

Once a minute (``RATE_LIMIT_POLL_S``) one ListBucketStates call returns every bucket
the DICT keeps for our participant. That call draws on POLICIES_LIST, a bucket of 20
tokens refilling 6 a minute: one call a minute takes a sixth of the refill and never
empties it. The reading is stored in one transaction: each policy upserted (the DICT's
figures win), one row per policy in ``rate_limit_readings``, each policy's level moved,
and for a level that changed one event through the outbox
(``rate_limits.threshold_crossed`` or ``rate_limits.recovered``) and, once committed,
one log line. The level on the row is what makes a crossing reported once: a bucket
that stays below a threshold keeps its level and says nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import dramatiq
import msgspec
from periodiq import cron

from actors.entries import client
from actors.spine import claim_slot, cron_slot
from app import db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import bucket_levels
from app.domain.bucket_levels import Level
from app.events import RateLimitLevel
from app.ratelimit.limiter import observe_states
from app.repo import rate_limits
from app.repo.rate_limits import Reading, Thresholds

log = logging.getLogger(__name__)


def due(slot: datetime, last_read_at: datetime | None, poll_s: float) -> bool:
    """Whether the tick of ``slot`` (a whole minute) reads the buckets: periodiq's cron
    cannot take the interval from a setting, so it ticks every minute and a tick reads
    once the minute of the last reading plus ``poll_s`` has come (60: every tick)."""
    if last_read_at is None:
        return True
    return slot >= last_read_at.replace(second=0, microsecond=0) + timedelta(seconds=poll_s)


@dramatiq.actor(queue_name="poll", periodic=cron("* * * * *"), max_retries=0)
def poll_rate_limits() -> None:
    """Every minute (read every RATE_LIMIT_POLL_S): the DICT's buckets of ours."""
    slot = cron_slot()
    with db.pool().connection() as conn:
        last = rate_limits.last_read_at(conn)
    if due(slot, last, settings.rate_limit_readings().poll_s) and claim_slot(
        "poll_rate_limits", slot
    ):
        poll()


class Crossing(msgspec.Struct, frozen=True):
    """A policy whose level this reading changed."""

    reading: Reading
    before: Thresholds


def poll() -> list[Crossing]:
    """Read every bucket once and store the reading; returns the level changes."""
    # One call: POLICIES_LIST, 1 token of 20 refilling 6 a minute (a minute's poll is
    # well within it). The workers' client, so our own limiter counts it too.
    reply = client().list_bucket_states(
        pb.ListBucketStatesRequest(participant=settings.bridge().participant)
    )
    limiter = client().limiter
    if limiter is not None:  # our copies take the DICT's sizes, and no more than it has left
        try:
            observe_states(limiter, reply.policies)
        except Exception:  # Redis down: the limiter keeps its sizes; the readings go on
            log.warning("rate limits: our limiter could not take the reading", exc_info=True)
    readings = _readings(reply.policies, bucket_levels.parse_category(reply.category))
    if not readings:
        log.warning("rate limits: the DICT listed no bucket (category %r)", reply.category)
        return []
    with outbox.step(actor="poller", trigger="poll_rate_limits") as s:
        before = rate_limits.record_policies(s.conn, readings, s.now)
        judged = [_judge(r, before[r.name]) for r in readings]
        rate_limits.record_readings(s.conn, judged, s.now)
        crossings = [Crossing(r, before[r.name]) for r in judged if r.level != before[r.name].level]
        s.add(_event(c, s.now) for c in crossings)
    for c in crossings:
        _log(c)
    return crossings


def _readings(states: Iterable[pb.BucketState], category: str | None) -> list[Reading]:
    """The buckets as readings, one per policy (sorted by name: the order the poll locks
    them in); one the DICT gives no usable size is left out, and said."""
    found: dict[str, Reading] = {}
    for st in states:
        if st.capacity <= 0 or st.refill_period_sec <= 0 or st.refill_tokens < 0 or not st.name:
            log.warning("rate limits: bucket %r has no usable size; not stored", st.name)
            continue
        found[st.name] = Reading(
            name=st.name,
            category=bucket_levels.category_of(st.name, category),
            scope=bucket_levels.scope_of(st.name),
            available_tokens=st.available_tokens,
            capacity=st.capacity,
            refill_tokens=st.refill_tokens,
            refill_period_s=st.refill_period_sec,
        )
    return [found[name] for name in sorted(found)]


def _judge(r: Reading, t: Thresholds) -> Reading:
    level = bucket_levels.level(r.available_tokens, r.capacity, t.warning_pct, t.critical_pct)
    return msgspec.structs.replace(r, level=str(level))


def _event(c: Crossing, now: datetime) -> outbox.Effect:
    r, t = c.reading, c.before
    payload = RateLimitLevel(
        policy=r.name,
        level=r.level,
        previous_level=t.level,
        available=r.available_tokens,
        capacity=r.capacity,
        percent=round(bucket_levels.percent_left(r.available_tokens, r.capacity), 1),
        warning_pct=t.warning_pct,
        critical_pct=t.critical_pct,
        read_at=now.isoformat(),
    )
    subject = f"rate_limit_policy:{r.name}"
    if r.level == Level.OK:
        return outbox.event("rate_limits.recovered", payload, subject=subject)
    return outbox.event("rate_limits.threshold_crossed", payload, subject=subject)


def _log(c: Crossing) -> None:
    r, t = c.reading, c.before
    left = bucket_levels.percent_left(r.available_tokens, r.capacity)
    if r.level == Level.OK:
        log.info(
            "rate limits: %s recovered (%s -> ok): %d of %d tokens left (%.1f %%)",
            r.name,
            t.level,
            r.available_tokens,
            r.capacity,
            left,
        )
        return
    threshold = t.critical_pct if r.level == Level.CRITICAL else t.warning_pct
    log.warning(
        "rate limits: %s is %s (%s -> %s): %d of %d tokens left (%.1f %%, threshold %g %%)",
        r.name,
        r.level,
        t.level,
        r.level,
        r.available_tokens,
        r.capacity,
        left,
        threshold,
    )
