"""Faults on real processes: the workload (``workload.py``) of entries and claims in both
roles runs through each, and every subject must reach its end with each DICT write
applied once (the simulator's per-RequestId counts).

- a worker killed (SIGKILL) mid-batch, three times;
- the scheduler killed while deadlines fall due, restarted later;
- Redis flushed, and restarted empty (killed, down for a while, started again: each
  test has a Redis server of its own);
- PostgreSQL gone (every session cut, no connection accepted) and back;
- the bridge UNAVAILABLE for a while, then 30 % of calls failing;
- answers lost after the DICT applied them;
- every message delivered twice;
- 100 conflicting commands on one claim and on one entry: one wins, the rest 409.

"PostgreSQL restarted" is played on the test's own database (``ALLOW_CONNECTIONS
false`` and every backend terminated), not by restarting the shared server: to our
processes it is the same (sessions cut, connections refused until it is back).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace as with_fields
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from app import settings
from app.bridge import dict_bridge_pb2 as pb
from tests.acceptance.conftest import OUR_ISPB, Proc, Stack, _free_port, wait_until
from tests.acceptance.test_entries import entry_body
from tests.conftest import ADMIN_URL
from tests.faults.workload import SIZE, Workload

WORKER = ["--processes", "1", "--threads", "8"]
RECOVERY_S = 90
"""Everything accepted is done within this of a killed worker's replacement starting,
or of Redis losing its data (issue 15; measured in docs/benchmarks.md)."""


class RedisServer:
    """A Redis server of the test's own, without persistence (as compose's was when
    events were lost): killed and started again, it comes back empty."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = directory / "redis.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--logfile", str(self.log)]
        self.popen = subprocess.Popen(args)
        client = redis_lib.Redis.from_url(self.url)
        wait_until(lambda: _answers(client), timeout=10, what="redis-server to answer")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def _answers(client: redis_lib.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_lib.RedisError:
        return False


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every fault test's stack uses a Redis of its own: the Redis faults kill and flush
    it without touching the shared server."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    settings.reset()
    return redis_server.url


def holding(stack: Stack, dead: set[str]) -> str | None:
    """A live worker process holding fetched, unacknowledged messages (its id)."""
    r = redis_lib.Redis.from_url(stack.redis_url)
    for key in r.scan_iter("dramatiq:__acks__.*"):
        worker_id = key.decode().split(".")[1]
        if worker_id not in dead and r.scard(key):
            return worker_id
    return None


def slow_dict(stack: Stack) -> None:
    """Each of our calls takes a second at the DICT: faults land on calls in flight."""
    stack.admin().set_faults(latency_ms=1000, participants=[OUR_ISPB])


def test_a_worker_killed_mid_batch_three_times(stack: Stack) -> None:
    w = Workload(stack).prepare()
    slow_dict(stack)
    w.start()
    dead: set[str] = set()
    for wave in range(3):
        if wave:
            w.more_entries(SIZE.entries)  # work for the new worker to hold when it dies
        worker_id = wait_until(lambda: holding(stack, dead), what="a worker holding messages")
        stack.procs["worker"].kill()
        dead.add(worker_id)
        stack.procs["worker"].start()
    stack.admin().clear_faults()
    w.finish(within=RECOVERY_S)


def test_the_scheduler_killed_while_deadlines_fall_due(stack: Stack) -> None:
    w = Workload(stack).prepare()
    scheduler = stack.procs["scheduler-1"]
    scheduler.kill()  # work accepted meanwhile goes on: the API enqueues it
    w.start()
    scheduler.start()
    w.settle()
    scheduler.kill()
    stack.advance(7 * 86_400 + 120)  # day 7 passes with no scheduler
    time.sleep(SIZE.outage_s)
    assert stack.query("claims.get", id=w.donor_claim_ids()[0])[0]["status"] != "cancelled"
    scheduler.start()
    w.pass_deadline(move_clocks=False)
    w.check()


def test_redis_flushed_with_work_in_flight(stack: Stack) -> None:
    w = Workload(stack).prepare()
    stack.procs["worker"].stop()  # every message of the work accepted waits in Redis
    w.start()
    redis_lib.Redis.from_url(stack.redis_url).flushall()
    stack.procs["worker"].start()
    w.finish(within=RECOVERY_S)


def test_redis_restarted_empty_with_work_in_flight(stack: Stack, redis_server: RedisServer) -> None:
    w = Workload(stack).prepare()
    slow_dict(stack)
    w.start()
    wait_until(lambda: holding(stack, set()), what="a worker holding messages")
    redis_server.kill()  # the worker's calls in flight end while it is away
    time.sleep(SIZE.outage_s)
    redis_server.start()
    stack.admin().clear_faults()
    w.finish(within=RECOVERY_S)


@contextmanager
def database_away(stack: Stack) -> Iterator[None]:
    """Every session of the stack's database cut, and no new one accepted, until the
    block ends."""
    name = stack.database_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    try:
        yield
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_postgresql_gone_and_back(stack: Stack) -> None:
    w = Workload(stack).prepare()
    slow_dict(stack)
    w.start()
    wait_until(lambda: holding(stack, set()), what="a worker holding messages")
    with database_away(stack), stack.http() as http:
        began = time.monotonic()
        r = http.post("/v1/entries", json=entry_body(10_000))  # not accepted: not in w
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        assert time.monotonic() - began < 2
        time.sleep(SIZE.outage_s)
    stack.admin().clear_faults()
    w.finish()


def test_the_bridge_unavailable_then_failing_30_percent(stack: Stack) -> None:
    w = Workload(stack).prepare()
    admin = stack.admin()
    admin.set_faults(unavailable_ratio=1.0, participants=[OUR_ISPB])
    w.start()
    time.sleep(SIZE.outage_s)
    admin.set_faults(unavailable_ratio=0.3, participants=[OUR_ISPB])
    w.settle()
    w.pass_deadline()
    admin.clear_faults()
    w.check()


def test_answers_lost_after_the_dict_applied_them(stack: Stack) -> None:
    w = Workload(stack).prepare()
    admin = stack.admin()
    admin.set_faults(drop_ratio=0.3, participants=[OUR_ISPB])
    w.start()
    w.settle()
    w.pass_deadline()
    admin.clear_faults()
    w.check()


def test_every_message_delivered_twice(stack: Stack) -> None:
    old = stack.procs["worker"]
    old.stop()
    twice = Proc("worker", ["tests.faults.deliver_twice", *WORKER], old.env, old.log)
    twice.output, twice.module = old.output, "dramatiq"
    stack.procs["worker"] = twice
    twice.start()
    Workload(stack).prepare().start().finish()


def race(n: int, call: object) -> Counter[int]:
    """``n`` calls released at once; the count of each status code."""
    go = threading.Barrier(n)

    def one(i: int) -> int:
        go.wait()
        return call(i)  # type: ignore[operator]

    with ThreadPoolExecutor(n) as pool:
        return Counter(pool.map(one, range(n)))


def test_100_conflicting_commands_on_one_subject_one_wins(stack: Stack) -> None:
    w = Workload(stack, with_fields(SIZE, entries=1, donor_claims=1, claimer_claims=0))
    w.prepare().start().settle()
    claim_id = w.donor_claim_ids()[0]

    def decide(i: int) -> int:
        what = ("confirm", "cancel")[i % 2]
        with stack.http() as http:
            r = http.post(f"/v1/claims/{claim_id}/{what}", json={"reason": "USER_REQUESTED"})
            return r.status_code

    assert race(100, decide) == {202: 1, 409: 99}
    with stack.http() as http:
        decided = wait_until(
            lambda: (
                (c := http.get(f"/v1/claims/{claim_id}").json())["status"]
                in ("confirmed", "cancelled")
                and c
            ),
            what="the winning decision applied",
        )
    with stack.dict_as(OUR_ISPB) as ours:
        at_dict = ours.get_claim(pb.GetClaimRequest(claim_id=w.donor_dict_ids[0])).claim
    assert at_dict.status == decided["status"].upper()
    decisions = [h for h in decided["history"] if h["trigger"] in ("confirm", "cancel")]
    assert len(decisions) == 1, decided["history"]

    entry_id = w.entries[0]

    def delete(i: int) -> int:
        with stack.http() as http:
            r = http.delete(f"/v1/entries/{entry_id}", params={"reason": "USER_REQUESTED"})
            return r.status_code

    assert race(100, delete) == {202: 1, 409: 99}
    with stack.http() as http:
        wait_until(
            lambda: http.get(f"/v1/entries/{entry_id}").json()["status"] == "deleted",
            what="the entry deleted",
        )
    assert stack.admin().get_call_counts().by_method["DeleteEntry"] == 1
