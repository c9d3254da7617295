"""Durability: a killed worker or a flushed Redis loses no entry and creates no key twice."""

from __future__ import annotations

import redis as redis_lib

from app import outbox
from tests.acceptance.conftest import Stack, wait_until
from tests.acceptance.test_entries import all_in, entry_body, our_vsyncs, dict_vsyncs, register


def test_worker_killed_mid_batch_every_entry_ends_active_once(stack: Stack) -> None:
    with stack.http() as http:
        ids = register(http, [entry_body(i) for i in range(60)])
        wait_until(lambda: sum(1 for r in stack.query("outbox.by_status", status="done")) >= 5,
                   what="the worker to be mid-batch")
        stack.procs["worker"].kill()
        stack.procs["worker"].start()
        # Messages the dead worker held come back after their lease: move our clock past it.
        stack.advance_our_clock(outbox.LEASE.total_seconds() + 60)
        outbox.relay_tick()
        wait_until(lambda: all_in(http, ids, "active"), timeout=120, what="all entries active")
        request_ids = [http.get(f"/v1/entries/{i}").json()["request_id"] for i in ids]
    admin = stack.admin()
    created = [admin.get_call_counts(rid).entries_created for rid in request_ids]
    assert created == [1] * len(ids)
    assert our_vsyncs(stack) == dict_vsyncs(stack)


def test_redis_flushed_mid_batch_the_relay_re_dispatches(stack: Stack) -> None:
    with stack.http() as http:
        stack.procs["worker"].stop()  # nothing consumes: the batch sits in Redis
        ids = register(http, [entry_body(i) for i in range(40)])
        redis_lib.Redis.from_url(stack.redis_url).flushdb()
        stack.procs["worker"].start()
        stack.advance_our_clock(outbox.LEASE.total_seconds() + 60)
        assert outbox.relay_tick() == len(ids)
        wait_until(lambda: all_in(http, ids, "active"), timeout=120, what="all entries active")
    assert our_vsyncs(stack) == dict_vsyncs(stack)
