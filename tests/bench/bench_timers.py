"""Timers side by side (issue 16): many timers 30 days out plus one due in 3 s, as our
outbox timers and as plain Dramatiq ``delay=`` messages; then the worker SIGKILLed.

    make bench-timers                                            # 100,000 timers, recorded
    .venv/bin/python tests/bench/bench_timers.py --timers 2000 --no-record    # ~3 min

Each side starts clean (database dc_bench_timers, Redis db 11 flushed) with its worker
already running (2 processes x 8 threads: `dict-connect worker`'s default and Dramatiq's
on 2 cores), then:

1. writes the far timers, then the near one (due 3 s after it is written);
2. reads the near timer's lag (ran - due), the worker's RSS (every process of it, from
   /proc) before and after, the Redis memory of the side's keys (MEMORY USAGE) and, for
   ours, the outbox's size;
3. writes a second near timer (due in 15 s), SIGKILLs the worker's process group 5 s
   later, starts a new worker at once and watches for 120 s: when the second timer ran,
   and where the far timers are (outbox rows; Redis: the delay queue and the workers'
   acks sets).

Ours: far timers by one INSERT ... SELECT (the rows ``outbox.step`` writes for a timer),
near ones by ``outbox.step``; the relay as the scheduler runs it (``outbox.relay_loop``:
a pass every 10 s), in a thread here. Plain: ``probe.send_with_options(args=...,
delay=ms)`` one by one on a RedisBroker with Dramatiq's defaults
(tests/bench/plain_timers.py), run by a plain ``dramatiq`` worker.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import dramatiq
import redis as redis_lib

from tests.bench.common import (
    ROOT,
    descendants,
    fresh_database,
    machine,
    memory,
    record,
    status_kib,
)

DATABASE = "dc_bench_timers"
REDIS_URL = "redis://127.0.0.1:6379/11"
PROCESSES, THREADS = 2, 8
FAR = timedelta(days=30)
NEAR_S = 3.0
NEAR_WAIT_S = 60.0
"""How long the near timer is waited for before it counts as not run."""
SECOND_NEAR_S = 15.0
KILL_AFTER_S = 5.0
"""The second near timer's age at the kill: a live worker polls its delay queue at
least every second, so by then it holds the timer if it can fetch it."""
WATCH_S = 120.0
"""How long after the restart the second near timer is waited for."""
DELAY_QUEUE = "default.DQ"
"""Where both sides' timer messages wait in Redis (the actors' queue is ``default``)."""

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float, every: float = 0.2) -> T | None:
    """``probe()``'s first true answer within ``timeout`` s, else None."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() >= deadline:
            return found or None
        time.sleep(every)


class Worker:
    """A worker in its own process group (a SIGKILL reaches every process of it), and
    the Dramatiq broker ids its processes heartbeat under in Redis."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], namespace: str, bench: set[str]
    ):
        self.name, self.argv, self.env, self.namespace = name, argv, env, namespace
        self.bench = bench  # the broker ids of the bench process itself: not the worker's
        self.proc: subprocess.Popen[bytes] | None = None
        self.ids: set[str] = set()

    def start(self, client: redis_lib.Redis) -> float:
        """Start it and wait until each of its processes heartbeats (under an id neither
        the bench's nor of a worker started before); its start time."""
        exclude = self.bench | self.ids
        started = time.time()
        with open(Path(tempfile.gettempdir()) / f"bench-timers-{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def booted() -> set[str] | None:
            beats = client.zrangebyscore(f"{self.namespace}:__heartbeats__", started * 1000, "+inf")
            ids = {b.decode() if isinstance(b, bytes) else str(b) for b in beats} - exclude
            return ids if len(ids) >= PROCESSES else None

        ids = wait_for(booted, 60)
        if ids is None:
            raise RuntimeError(f"{self.name} worker did not start (see its log in /tmp)")
        self.ids = ids
        return started

    def rss_kib(self) -> int:
        """Resident memory of the worker's processes together."""
        assert self.proc is not None
        return sum(status_kib(p, "VmRSS") for p in descendants(self.proc.pid))

    def processes(self) -> int:
        assert self.proc is not None
        return len(descendants(self.proc.pid))

    def signal(self, sig: signal.Signals, timeout: float) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGTERM, 60)


@dataclass
class Loaded:
    """One side with its timers written."""

    write_s: float = 0.0
    near_lag_s: float | None = None
    rss_idle_kib: int = 0
    rss_kib: int = 0
    processes: int = 0  # the worker's, counted in its RSS
    redis_idle_bytes: int = 0
    redis_bytes: int = 0
    used_memory_delta: int = 0
    held: int = 0  # timer messages the workers had fetched (their acks sets)
    queued: int = 0  # timer messages waiting in the delay queue
    near_position: int | None = None  # the near timer's place in the delay queue
    pg_idle: dict[str, int] = field(default_factory=dict)
    pg: dict[str, int] = field(default_factory=dict)


@dataclass
class Killed:
    """What a SIGKILL of the worker left, and what the new worker made of it."""

    held_at_kill: bool = False  # the second near timer was in the killed worker's hands
    ran_after_restart_s: float | None = None
    lag_s: float | None = None
    far: dict[str, int] = field(default_factory=dict)  # where the far timers are
    near: dict[str, str] = field(default_factory=dict)  # where each near timer is
    watched_s: float = 0.0
    note: str = ""


def redis_bytes(client: redis_lib.Redis, namespace: str) -> int:
    """MEMORY USAGE (every element counted) of the namespace's keys."""
    return sum(
        int(client.memory_usage(k, samples=0) or 0)
        for k in client.scan_iter(match=f"{namespace}:*", count=1000)
    )


def used_memory(client: redis_lib.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def acks_key(namespace: str, worker_id: str) -> str:
    return f"{namespace}:__acks__.{worker_id}.{DELAY_QUEUE}"


def delay_queue_state(
    client: redis_lib.Redis, namespace: str, ids: set[str], redis_id: str
) -> tuple[int, int, int | None]:
    """(messages the workers ``ids`` fetched from the delay queue, messages waiting in
    it, the place of ``redis_id`` among those waiting or None)."""
    held = sum(int(client.scard(acks_key(namespace, w))) for w in ids)
    queue = f"{namespace}:{DELAY_QUEUE}"
    position = client.lpos(queue, redis_id)
    return held, int(client.llen(queue)), position + 1 if isinstance(position, int) else None


def held_by(client: redis_lib.Redis, namespace: str, ids: set[str], redis_id: str) -> bool:
    return any(client.sismember(acks_key(namespace, w), redis_id) for w in ids)


def measure(
    worker: Worker, client: redis_lib.Redis, namespace: str, before: Loaded
) -> Callable[[], None]:
    """Note the idle figures in ``before`` now; the returned call notes the loaded ones."""
    before.rss_idle_kib = worker.rss_kib()
    before.redis_idle_bytes = redis_bytes(client, namespace)
    used = used_memory(client)

    def loaded() -> None:
        before.rss_kib = worker.rss_kib()
        before.processes = worker.processes()
        before.redis_bytes = redis_bytes(client, namespace)
        before.used_memory_delta = used_memory(client) - used

    return loaded


def kill_and_restart(
    worker: Worker,
    client: redis_lib.Redis,
    held: Callable[[set[str]], bool],
    ran: Callable[[], float | None],
    due: float,
) -> Killed:
    """SIGKILL the worker ``KILL_AFTER_S`` after the second near timer was written, start
    a new one at once, and wait up to ``WATCH_S`` for the timer to run."""
    time.sleep(KILL_AFTER_S)
    out = Killed(held_at_kill=held(worker.ids))
    worker.signal(signal.SIGKILL, 10)
    restarted = worker.start(client)
    ran_at = wait_for(ran, WATCH_S, every=0.5)
    out.watched_s = time.time() - restarted
    if ran_at is not None:
        out.ran_after_restart_s, out.lag_s = ran_at - restarted, ran_at - due
    return out


# --- ours: outbox rows, the relay, `dict-connect worker` ----------------------------


def outbox_far(count: int) -> float:
    """``count`` timers 30 days out, as one statement: the rows ``outbox.step`` writes
    for a timer (pending, deliver_at, dedupe key, subject). Its duration in s."""
    from app import db

    t0 = time.perf_counter()
    with db.pool().connection() as conn:
        conn.execute(
            """INSERT INTO outbox (actor, queue, args, kind, subject, dedupe_key, status,
                                   deliver_at, created_at)
               SELECT 'probe', 'default', jsonb_build_object('tag', 'far:' || g), 'timer',
                      'bench:far:' || g, 'bench:far:' || g, 'pending',
                      now() + %(far)s + make_interval(secs => g %% 3600), now()
               FROM generate_series(1, %(count)s) g""",
            {"far": FAR, "count": count},
        )
    return time.perf_counter() - t0


def outbox_timer(tag: str, in_s: float) -> tuple[float, str]:
    """A timer written as production writes one (``outbox.step``): its due time, and its
    message's id in Redis (it is due within the horizon, so enqueued at commit)."""
    from app import outbox, queue

    with outbox.step(actor="bench", trigger="timer") as s:
        at = s.now + timedelta(seconds=in_s)
        key = f"bench:{tag}"
        s.add([outbox.timer("probe", at, dedupe_key=key, subject=key, tag=tag)])
    client = queue.broker().client
    for redis_id, data in client.hscan_iter(f"dramatiq:{DELAY_QUEUE}.msgs"):
        if dramatiq.Message.decode(data).kwargs.get("tag") == tag:
            return at.timestamp(), redis_id.decode()
    raise RuntimeError(f"the timer {tag} was not enqueued")


def outbox_ran(tag: str) -> Callable[[], float | None]:
    def ran() -> float | None:
        from app import db

        with db.pool().connection() as conn:
            row = conn.execute(
                "SELECT finished_at FROM outbox WHERE dedupe_key = %s AND status = 'done'",
                (f"bench:{tag}",),
            ).fetchone()
        return row["finished_at"].timestamp() if row else None

    return ran


def outbox_sizes() -> dict[str, int]:
    from app import db

    with db.pool().connection() as conn:
        row = conn.execute(
            "SELECT pg_total_relation_size('outbox') AS total, pg_relation_size('outbox') AS heap,"
            " pg_indexes_size('outbox') AS indexes"
        ).fetchone()
    assert row is not None
    return dict(row)


def outbox_left() -> tuple[dict[str, int], dict[str, str]]:
    """The far timers' rows by status; each near timer's row status."""
    from app import db

    with db.pool().connection() as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n FROM outbox WHERE dedupe_key LIKE 'bench:far:%%'"
            " GROUP BY status"
        ).fetchall()
        near = conn.execute(
            "SELECT dedupe_key, status FROM outbox WHERE dedupe_key LIKE 'bench:near-%%'"
        ).fetchall()
    far = {f"outbox rows {r['status']}": r["n"] for r in rows}
    return far, {r["dedupe_key"].removeprefix("bench:"): f"row {r['status']}" for r in near}


@contextmanager
def relay_running() -> Iterator[None]:
    """The scheduler's relay thread (``outbox.relay_loop``), here."""
    from app import outbox

    stop = threading.Event()
    thread = threading.Thread(target=outbox.relay_loop, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)


def ours(count: int) -> tuple[Loaded, Killed]:
    from app import queue

    client = queue.broker().client
    env = {**os.environ, "HEALTH_PORT": "0", "METRICS_PORT": "0", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "app.cli", "worker"]
    argv += ["--processes", str(PROCESSES), "--threads", str(THREADS)]
    worker = Worker("ours", argv, env, "dramatiq", {queue.broker().broker_id})
    with relay_running():
        worker.start(client)
        try:
            return _ours(count, worker, client)
        finally:
            worker.stop()


def _ours(count: int, worker: Worker, client: redis_lib.Redis) -> tuple[Loaded, Killed]:
    out = Loaded(pg_idle=outbox_sizes())
    loaded = measure(worker, client, "dramatiq", out)
    out.write_s = outbox_far(count)
    due, redis_id = outbox_timer("near-1", NEAR_S)
    ran_at = wait_for(outbox_ran("near-1"), NEAR_WAIT_S)
    out.near_lag_s = None if ran_at is None else ran_at - due
    out.held, out.queued, out.near_position = delay_queue_state(
        client, "dramatiq", worker.ids, redis_id
    )
    loaded()
    out.pg = outbox_sizes()
    due, redis_id = outbox_timer("near-2", SECOND_NEAR_S)
    killed = kill_and_restart(
        worker,
        client,
        lambda ids: held_by(client, "dramatiq", ids, redis_id),
        outbox_ran("near-2"),
        due,
    )
    killed.far, killed.near = outbox_left()
    return out, killed


# --- plain Dramatiq: delay= messages, a plain `dramatiq` worker ----------------------


def plain_ran(client: redis_lib.Redis, tag: str) -> Callable[[], float | None]:
    from tests.bench.plain_timers import RAN

    def ran() -> float | None:
        at = client.hget(RAN, tag)
        return float(at) if at is not None else None

    return ran


def plain_send(tag: str, delay_ms: int) -> tuple[float, str]:
    """One timer, as a team would send it: its due time and its id in Redis."""
    from tests.bench.plain_timers import probe

    message = probe.send_with_options(args=(tag,), delay=delay_ms)
    return message.options["eta"] / 1000, message.options["redis_message_id"]


def plain_far(count: int) -> float:
    """``count`` timers 30 days out, one ``send_with_options`` each; the duration in s."""
    far_ms = int(FAR.total_seconds() * 1000)
    t0 = time.perf_counter()
    for i in range(count):
        plain_send(f"far:{i}", far_ms + (i % 3600) * 1000)
    return time.perf_counter() - t0


def plain_left(
    client: redis_lib.Redis, dead: set[str], live: set[str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Where each timer's message is: waiting in the delay queue, fetched by the new
    worker, or in the killed worker's acks sets (fetched, never acknowledged). The far
    ones counted by place; the near ones named (absent from Redis: ran, or lost)."""
    from tests.bench.plain_timers import NAMESPACE, RAN

    queue = f"{NAMESPACE}:{DELAY_QUEUE}"
    places = {
        "in the delay queue": set(client.lrange(queue, 0, -1)),
        "fetched by the new worker": set().union(
            *(client.smembers(acks_key(NAMESPACE, w)) for w in live)
        ),
        "in the killed worker's acks sets": set().union(
            *(client.smembers(acks_key(NAMESPACE, w)) for w in dead)
        ),
    }
    far: dict[str, int] = dict.fromkeys([*places, "in Redis, nowhere else"], 0)
    near = {tag: "ran" if client.hexists(RAN, tag) else "lost" for tag in ("near-1", "near-2")}
    for redis_id, data in client.hscan_iter(f"{queue}.msgs", count=5000):
        tag = dramatiq.Message.decode(data).args[0]
        where = next((k for k, ids in places.items() if redis_id in ids), "in Redis, nowhere else")
        if tag in near:
            near[tag] = where
        else:
            far[where] += 1
    return far, near


def plain(count: int) -> tuple[Loaded, Killed]:
    from tests.bench.plain_timers import NAMESPACE, broker

    client = broker.client
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "dramatiq", "tests.bench.plain_timers:broker"]
    argv += ["--processes", str(PROCESSES), "--threads", str(THREADS)]
    worker = Worker("plain", argv, env, NAMESPACE, {broker.broker_id})
    worker.start(client)
    try:
        return _plain(count, worker, client)
    finally:
        worker.stop()


def _plain(count: int, worker: Worker, client: redis_lib.Redis) -> tuple[Loaded, Killed]:
    from tests.bench.plain_timers import NAMESPACE

    out = Loaded()
    loaded = measure(worker, client, NAMESPACE, out)
    out.write_s = plain_far(count)
    due, redis_id = plain_send("near-1", int(NEAR_S * 1000))
    ran_at = wait_for(plain_ran(client, "near-1"), NEAR_WAIT_S)
    out.near_lag_s = None if ran_at is None else ran_at - due
    out.held, out.queued, out.near_position = delay_queue_state(
        client, NAMESPACE, worker.ids, redis_id
    )
    loaded()
    due, redis_id = plain_send("near-2", int(SECOND_NEAR_S * 1000))
    dead = worker.ids
    killed = kill_and_restart(
        worker,
        client,
        lambda ids: held_by(client, NAMESPACE, ids, redis_id),
        plain_ran(client, "near-2"),
        due,
    )
    killed.far, killed.near = plain_left(client, dead, worker.ids)
    killed.note = dead_note(client, NAMESPACE, dead)
    return out, killed


def dead_note(client: redis_lib.Redis, namespace: str, dead: set[str]) -> str:
    """The killed worker's heartbeat age, against Dramatiq's default timeout (60 s)."""
    scores = [client.zscore(f"{namespace}:__heartbeats__", w) for w in dead]
    ages = [time.time() - s / 1000 for s in scores if s is not None]
    if not ages:
        return "the killed worker's heartbeats were gone (a maintenance pass ran)"
    return f"the killed worker's last heartbeat was {min(ages):.0f} s old"


# --- the report ------------------------------------------------------------------------


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def per(n: int, count: int) -> str:
    return f"{n / count:,.0f} bytes per timer"


def lag(loaded: Loaded) -> str:
    if loaded.near_lag_s is not None:
        return f"**{loaded.near_lag_s:.2f} s**"
    where = (
        f": it waits at place {loaded.near_position:,} of {loaded.queued:,} in `default.DQ`"
        if loaded.near_position
        else ""
    )
    return f"**not run within {NEAR_WAIT_S:.0f} s**{where}"


def recovered(k: Killed) -> str:
    if k.ran_after_restart_s is None or k.lag_s is None:
        return f"**not run within {k.watched_s:.0f} s** of the restart"
    return f"**{k.ran_after_restart_s:.1f} s** after the restart (lag {k.lag_s:.1f} s)"


def where(far: dict[str, int]) -> str:
    return "; ".join(f"{n:,} {place}" for place, n in far.items() if n) or "none"


def named(near: dict[str, str]) -> str:
    return "; ".join(f"{tag}: {place}" for tag, place in sorted(near.items()))


def rows(count: int, a: Loaded, b: Loaded) -> list[str]:
    return [
        "| | ours: outbox timers | plain Dramatiq `delay=` |",
        "|---|---|---|",
        f"| writing the {count:,} far timers | {a.write_s:.2f} s (one INSERT … SELECT) | {b.write_s:.2f} s (one `send_with_options` each) |",
        f"| near timer's lag (ran − due) | {lag(a)} | {lag(b)} |",
        f"| timer messages the workers held (fetched, in memory) after it | {a.held:,} | {b.held:,} |",
        f"| timer messages waiting in `default.DQ` after it | {a.queued:,} | {b.queued:,} |",
        f"| worker RSS, all its processes ({a.processes}; {b.processes}): idle → loaded | {mib(a.rss_idle_kib * 1024)} → **{mib(a.rss_kib * 1024)}** | {mib(b.rss_idle_kib * 1024)} → **{mib(b.rss_kib * 1024)}** |",
        f"| Redis, the side's keys (MEMORY USAGE): idle → loaded | {mib(a.redis_idle_bytes)} → **{mib(a.redis_bytes)}** | {mib(b.redis_idle_bytes)} → **{mib(b.redis_bytes)}** ({per(b.redis_bytes - b.redis_idle_bytes, count)}) |",
        f"| Redis `used_memory` delta (whole server, shared: indicative) | {mib(a.used_memory_delta)} | {mib(b.used_memory_delta)} |",
        f"| PostgreSQL `outbox` (table + indexes): before → loaded | {mib(a.pg_idle['total'])} → **{mib(a.pg['total'])}** (heap {mib(a.pg['heap'])}, indexes {mib(a.pg['indexes'])}; {per(a.pg['total'] - a.pg_idle['total'], count)}) | — |",
    ]


def kill_rows(count: int, a: Killed, b: Killed) -> list[str]:
    def yes(held: bool) -> str:
        return "yes" if held else "no"

    return [
        "| | ours | plain Dramatiq |",
        "|---|---|---|",
        f"| second near timer fetched by the worker at the kill | {yes(a.held_at_kill)} | {yes(b.held_at_kill)} |",
        f"| second near timer ran | {recovered(a)} | {recovered(b)} |",
        f"| the near timers, at the end | {named(a.near)} | {named(b.near)} |",
        f"| the {count:,} far timers, at the end | {where(a.far)} | {where(b.far)}; {b.note} |",
    ]


NOTES = [
    "What the figures come from (Dramatiq 2.2.1's source, `app/outbox.py`, `app/queue.py`):",
    "",
    "- **Plain: the workers hold what they fetch from the delay queue.** A worker process's",
    "  consumer of `default.DQ` prefetches up to `threads × 1000` messages",
    f"  (`dramatiq_delay_queue_prefetch`; {THREADS} threads: {THREADS * 1000:,} per process,",
    f"  {PROCESSES * THREADS * 1000:,} for {PROCESSES} processes), keeps them in memory until their",
    "  eta, and fetches more only when one of them falls due and is acknowledged. `default.DQ`",
    "  is a FIFO list, so a timer sent after more far ones than that waits behind them: it is",
    "  fetched when enough of the 30-day timers have fallen due, 30 days late. With fewer far",
    "  timers than that, it runs on time. Each fetched message also stays in Redis (its data",
    "  in `default.DQ.msgs`, its id in the worker's `__acks__` set) until acknowledged.",
    "- **Plain, after SIGKILL**: the killed worker's fetched messages stay in its acks sets.",
    "  Dramatiq puts them back only from its queue maintenance, which runs on a random 0.1 %",
    "  of the broker's calls on that very queue (`default.DQ`; acks are excluded), once the",
    "  dead worker's heartbeat is 60 s old. The new worker calls `default.DQ` only while it",
    "  has room to prefetch (about once a second when the queue is empty, never once it is",
    "  full), and senders of new delayed messages call it once per message: those timers",
    "  come back after some thousand such calls, by chance. None is lost while Redis lives.",
    "- **Ours**: a far timer is a pending outbox row (PostgreSQL) until the relay, every",
    "  10 s, hands out what is due within 90 s; Redis and the workers hold only those. The",
    "  near timer is written and enqueued by its step at commit. A killed worker's fetched",
    "  messages go back to their queue at the first relay pass after its heartbeat is 30 s",
    "  old (`queue.HEARTBEAT_TIMEOUT_MS`, `Broker.recover`); the far rows are untouched.",
    "- Reading the rows: our worker loads the whole service (every actor, gRPC, the",
    "  PostgreSQL pool), so what the timers cost it is the idle → loaded step. Our lag ends",
    "  at the row's `finished_at` (the actor and the middleware's UPDATE done); plain's when",
    "  its actor ran. `used_memory` is the whole shared server's, moved by others too.",
]


def section(count: int, results: dict[str, tuple[Loaded, Killed]]) -> list[str]:
    (a, ka), (b, kb) = results["ours"], results["plain"]
    return [
        f"Machine: {machine()}; {memory()}. Command: `make bench-timers` "
        f"(`python tests/bench/bench_timers.py --timers {count}`), Redis db 11, "
        f"database {DATABASE}.",
        "",
        f"Each side from a clean state, its worker ({PROCESSES} processes × {THREADS} threads) "
        f"running before the timers are written: {count:,} timers 30 days out, then one due "
        f"{NEAR_S:.0f} s after it is written.",
        "",
        *rows(count, a, b),
        "",
        f"Then a second near timer (due in {SECOND_NEAR_S:.0f} s), the worker's process group "
        f"SIGKILLed {KILL_AFTER_S:.0f} s after it was written, a new worker started at once, "
        f"watched for up to {WATCH_S:.0f} s:",
        "",
        *kill_rows(count, ka, kb),
        "",
        *NOTES,
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--timers", type=int, default=100_000, help="far timers per side")
    p.add_argument("--no-record", action="store_true", help="print, leave docs/benchmarks.md")
    a = p.parse_args()
    os.environ.update(DATABASE_URL=fresh_database(DATABASE), REDIS_URL=REDIS_URL)
    from app import settings

    settings.reset()
    client = redis_lib.Redis.from_url(REDIS_URL)
    results: dict[str, tuple[Loaded, Killed]] = {}
    for name, side in (("ours", ours), ("plain", plain)):
        client.flushdb()  # db 11 is this bench's
        t0 = time.monotonic()
        results[name] = side(a.timers)
        print(f"{name}: {time.monotonic() - t0:.0f} s: {results[name]}", flush=True)
    client.flushdb()
    lines = section(a.timers, results)
    if a.no_record:
        print("\n".join(lines))
    else:
        record("Timers side by side (issue 16)", lines)


if __name__ == "__main__":
    main()
