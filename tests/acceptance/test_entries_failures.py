"""Durability: a killed worker or a flushed Redis loses no entry and creates no key twice."""

from __future__ import annotations

import redis as redis_lib

from app import outbox
from tests.acceptance.conftest import Stack, wait_until
from tests.acceptance.test_entries import (
    all_in,
    dict_vsyncs,
    entry_body,
    our_vsyncs,
    register,
    statuses,
)


def test_worker_killed_mid_batch_every_entry_ends_active_once(stack: Stack) -> None:
    # A slow DICT that loses a fifth of its answers after acting: retries are repeats.
    stack.admin().set_faults(latency_ms=150, drop_ratio=0.2, methods=["CreateEntry"])
    with stack.http() as http:
        ids = register(http, [entry_body(i) for i in range(60)])
        wait_until(
            lambda: len(stack.query("outbox.by_status", status="done")) >= 5,
            what="the worker to be mid-batch",
        )
        stack.procs["worker"].kill()
        assert statuses(http, ids)["registering"] > 0, "the kill must land mid-batch"
        stack.admin().set_faults()
        stack.procs["worker"].start()
        # Messages the dead worker held come back after their lease: move our clock past it.
        stack.advance_our_clock(outbox.LEASE.total_seconds() + 60)
        outbox.relay_tick()
        wait_until(lambda: all_in(http, ids, "active"), timeout=120, what="all entries active")
        request_ids = [http.get(f"/v1/entries/{i}").json()["request_id"] for i in ids]
    admin = stack.admin()
    counts = [admin.get_call_counts(rid) for rid in request_ids]
    assert [c.entries_created for c in counts] == [1] * len(ids)
    assert sum(c.by_method["CreateEntry"] for c in counts) > len(ids)  # repeats happened
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
