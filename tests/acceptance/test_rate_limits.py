"""Our limiter keeps every call of ours under the DICT's bucket (MO8 §13.2): a workload
of twice a bucket's capacity, spread over several worker processes, completes with no
call refused as RateLimited, in the time the DICT's refill allows."""

from __future__ import annotations

import redis as redis_lib

from app import db
from app.bridge import dict_bridge_pb2 as pb
from app.ratelimit.limiter import Limiter, observe_states
from tests.acceptance.conftest import OUR_ISPB, Proc, Stack, wait_until
from tests.acceptance.test_entries import all_in, entry_body, register

CAPACITY, REFILL_PER_MINUTE = 30, 60  # a token a second


def test_twice_a_buckets_capacity_completes_without_a_429(stack: Stack) -> None:
    api = stack.procs["api"]
    more = Proc("worker2", ["worker", "--processes", "2", "--threads", "4"], api.env,
                api.log.with_name("worker2.log"))  # fmt: skip
    stack.procs["worker2"] = more
    more.start()
    with stack.admin() as admin:
        admin.set_policy_size(OUR_ISPB, "ENTRIES_WRITE", CAPACITY, REFILL_PER_MINUTE, 60)
    with stack.dict_as(OUR_ISPB) as ours:  # what the bucket poll does every minute
        states = ours.list_bucket_states(pb.ListBucketStatesRequest(participant=OUR_ISPB))
    redis = redis_lib.Redis.from_url(stack.redis_url)
    assert observe_states(Limiter(redis, "A"), states.policies) > 0
    workload = 2 * CAPACITY
    with stack.http() as http:
        ids = register(http, [entry_body(500 + i) for i in range(workload)])
        wait_until(lambda: all_in(http, ids, "active"), timeout=90, what="every entry active")
    with db.connect(stack.database_url) as conn:  # from the first request to the last call
        span = conn.execute(
            "SELECT extract(epoch FROM max(finished_at) - min(created_at)) AS s FROM outbox"
            " WHERE actor = 'register_entry'"
        ).fetchone()
    assert span is not None
    elapsed = float(span["s"])
    refill_s = (workload - CAPACITY) * 60 / REFILL_PER_MINUTE  # the second half: 30 s
    print(f"{workload} CreateEntry in {elapsed:.1f} s (the refill allows {refill_s:.0f} s)")
    assert refill_s * 0.9 <= elapsed <= refill_s * 1.1, elapsed
    counts = stack.admin().get_call_counts()
    assert dict(counts.refused) == {}  # not one RateLimited (nor any other refusal)
    assert counts.entries_created == workload
    # a call whose answer was late on a loaded machine may be repeated (same RequestId)
    assert counts.by_method["CreateEntry"] >= workload
