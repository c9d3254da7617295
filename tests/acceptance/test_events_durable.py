"""Core banking gets every event though Redis lost its data (issue 15): 100 keys are
registered through the real API, worker and simulator; Redis is flushed in the middle,
taking pushed events and queued messages with it; after the operator's step of
docs/runbooks/redis.md, every ``entries.created`` event is read back from
``GET /v1/events``, once each, in id order."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import redis as redis_lib

from app.events import STREAM, stream_of
from tests.acceptance.conftest import Stack, wait_until
from tests.acceptance.test_entries import all_in, entry_body, register


def _events(http: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = http.get("/v1/events", params={"after": after, "limit": 1000})
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        if len(page.json()["items"]) < 1000:
            return found
        after = page.json()["next_after"]


def _created(http: httpx.Client) -> list[str]:
    return [e["payload"]["entry_id"] for e in _events(http) if e["topic"] == "entries.created"]


def test_every_entry_created_event_survives_a_redis_flush(stack: Stack) -> None:
    r = redis_lib.Redis.from_url(stack.redis_url)
    created = stream_of("entries.created")
    with stack.http() as http:
        ids = register(http, [entry_body(i) for i in range(50)])
        wait_until(lambda: r.xlen(created) > 0, what="a first entries.created pushed")
        r.flushdb()  # Redis restarted without persistence, work in flight
        ids += register(http, [entry_body(i) for i in range(50, 100)])
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute("SELECT ops.release_leases('Redis flushed: acceptance test')")
        stack.relay()

        wait_until(lambda: all_in(http, ids, "active"), timeout=120, what="100 entries active")
        wait_until(lambda: len(_created(http)) == 100, timeout=60, what="100 events logged")
        every = _events(http)

    created_ids = [e["payload"]["entry_id"] for e in every if e["topic"] == "entries.created"]
    assert sorted(created_ids) == sorted(ids)  # each once
    assert [e["id"] for e in every] == sorted({e["id"] for e in every})
    assert r.xlen(created) < 100  # what was pushed before the flush is gone from Redis
    pushed = [json.loads(f[b"payload"])["entry_id"] for _, f in r.xrange(STREAM)]
    assert set(pushed) <= set(ids)
