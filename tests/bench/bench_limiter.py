"""The cost of our limiter per DICT call (issue 13: at most 0.3 ms p99 at 2,000 calls/s
from 16 threads), beside its ceiling in the same run: a Redis PING from the same threads
at the same pace (one round trip, no script).

Each thread paces itself to its share of the rate and times ``Limiter.take`` on a policy
too large to refuse (ENTRIES_WRITE sized 10^9), so every call runs the whole script:
refill, admit, store. Redis db 12 (flushed).

    make bench-limiter                          # 2,000 calls/s, 16 threads, 20 s; recorded
    .venv/bin/python tests/bench/bench_limiter.py --seconds 5 --no-record
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis as redis_lib

from app.bridge import dict_bridge_pb2 as pb
from app.ratelimit.limiter import Limiter
from tests.bench.common import machine, percentile, record

REDIS_URL = "redis://127.0.0.1:6379/12"


def paced(calls: Callable[[], None], rate: float, threads: int, seconds: float) -> list[float]:
    """Run ``calls`` from ``threads`` threads at ``rate`` calls/s in all; each call's
    duration in ms."""
    durations: list[list[float]] = [[] for _ in range(threads)]
    interval = threads / rate
    start = time.perf_counter() + 0.1

    def worker(i: int) -> None:
        mine = durations[i]
        n = 0
        next_at = start + i * interval / threads
        while next_at < start + seconds:
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            calls()
            mine.append((time.perf_counter() - t0) * 1000)
            n += 1
            next_at = start + i * interval / threads + n * interval

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return [d for per_thread in durations for d in per_thread]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    client = redis_lib.Redis.from_url(REDIS_URL, max_connections=args.threads * 2)
    client.flushdb()
    limiter = Limiter(client, "A")
    limiter.observe("ENTRIES_WRITE", 10**9, 10**9, 10**9, 60)
    request = pb.CreateEntryRequest()

    def take() -> None:
        if limiter.take("CreateEntry", request) != 0.0:
            raise AssertionError("the bench's bucket refused a call")

    ping = paced(client.ping, args.rate, args.threads, args.seconds)
    took = paced(take, args.rate, args.threads, args.seconds)
    client.flushdb()

    def row(name: str, d: list[float]) -> str:
        return (
            f"| {name} | {len(d) / args.seconds:,.0f} | {percentile(d, 50):.3f} | "
            f"{percentile(d, 99):.3f} | {max(d):.2f} |"
        )

    p99, ceiling = percentile(took, 99), percentile(ping, 99)
    verdict = "met" if p99 <= 0.3 else "not met"
    lines = [
        f"Machine: {machine()}. `make bench-limiter` ({args.rate:,.0f} calls/s from "
        f"{args.threads} threads, {args.seconds:.0f} s each, Redis 7 on the same host).",
        "",
        "| what | calls/s | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        row("`Limiter.take` (the admit script)", took),
        row("ceiling: Redis PING, same pace", ping),
        "",
        f"Target p99 ≤ 0.3 ms: **{verdict}** ({p99:.3f} ms; the PING ceiling's p99 "
        f"{ceiling:.3f} ms, ratio {p99 / ceiling:.1f}×).",
        "",
        "A take is one EVALSHA round trip (the sizes are cached 5 s per process): its tail",
        "follows the PING's, which on a host of 2 shared cores is set by 16 Python threads",
        "taking turns on the GIL, not by Redis or the script (single-threaded, a take costs",
        "~0.2 ms, a PING ~0.14 ms). Read the ratio; the absolute target needs a host where",
        "the PING's own p99 is under it.",
    ]
    if args.no_record:
        print("\n".join(lines))
    else:
        record("Our limiter's cost per call (issue 13)", lines)


if __name__ == "__main__":
    main()
