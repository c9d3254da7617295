"""The lookups' cron: Redis copies of our keys and caches follow our base."""

from __future__ import annotations

import logging

import dramatiq
from periodiq import cron

from actors.spine import claim_slot, cron_slot, redis_client
from app import db
from app.lookups import index

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="cron", periodic=cron("* * * * *"), max_retries=0, time_limit=300_000)
def lookup_index() -> None:
    """Every minute: apply our entry and claim changes to the lookups' Redis copies;
    rebuild the index of our keys first if Redis lost it."""
    if not claim_slot("lookup_index", cron_slot()):
        return
    with db.pool().connection() as conn:
        rebuilt, applied = index.refresh(conn, redis_client())
    if rebuilt:
        log.warning("lookups: rebuilt the Redis index of our keys (Redis had lost it)")
    if applied:
        log.info("lookups: %d key changes applied to Redis", applied)
