"""API throughput: POST /v1/entries at 64 concurrent connections, measured with wrk,
against its ceiling, the same request answered without PostgreSQL or Redis.

    python tests/bench/bench_api.py [--workers 2] [--seconds 20] [--connections 64] [--rounds 3]
                                    [--no-record]

Targets: issue 3, >= 2,000 req/s with p99 <= 50 ms on this 2-core machine; issue 16, >= 50 %
of the ceiling measured in the same run. The ceiling is ``POST /bench/entries``
(tests/bench/noop_api.py) served by the same ``dict-connect api`` (uvicorn, uvloop,
httptools, workers, GC tuning), one server at a time. wrk (Debian package `wrk`) is the
load generator: C, so it leaves the cores to the API.

On a shared machine one pair of legs is noise (the ratio of single pairs ranged 36-67 %):
the legs alternate for ``--rounds`` rounds (stored, ceiling, stored, ceiling, ...), each
round gives a ratio, and the figure is their median.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

import httpx

from tests.bench import noop_api
from tests.bench.common import ROOT, fresh_database, machine, record

LUA = Path(__file__).with_name("post_entries.lua")
PORT = 8765
LEGS = (
    ("`POST /v1/entries`", "app.api.app:create_app", "/v1/entries"),
    ("`POST /bench/entries` (ceiling)", "tests.bench.noop_api:create_app", noop_api.PATH),
)
"""(endpoint, app factory, path) of each leg."""


def _parse(out: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {p: ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    codes = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": lat["50"],
        "p99": lat["99"],
        "errors": float(codes.group(1)) if codes else 0.0,
    }


def _leg(app: str, path: str, run: int, env: dict[str, str], a: argparse.Namespace) -> str:
    """wrk's report of ``path`` on ``dict-connect api --app APP`` after a 3 s warm-up."""
    server = ["api", "--port", str(PORT), "--workers", str(a.workers), "--app", app]
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *server],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wrk = ["wrk", "-t2", f"-c{a.connections}", "-s", str(LUA), f"http://127.0.0.1:{PORT}"]
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        leg = {**env, "WRK_PATH": path}
        subprocess.run(
            [*wrk, "-d3s"], env={**leg, "WRK_RUN": str(run)}, capture_output=True, check=True
        )
        return subprocess.run(
            [*wrk, f"-d{a.seconds}s", "--latency"],
            env={**leg, "WRK_RUN": str(run + 1)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        api.terminate()
        api.wait(20)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="pairs of legs (<= 20): median ratio")
    p.add_argument("--no-record", action="store_true", help="print, leave docs/benchmarks.md")
    a = p.parse_args()
    if not 1 <= a.rounds <= 20:
        p.error("--rounds: 1 to 20 (each wrk run's keys carry a two-digit run number)")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    url = fresh_database("dc_bench_api")
    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/13").flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "PARTICIPANT_ISPB": "12345678",
        "DICT_CONNECT_ENV": "dev",  # the dev API key pepper is fine for a benchmark
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": str(max(8, a.connections // a.workers)),
    }
    os.environ.update(env)
    from app import settings
    from app.security import cli_create

    settings.reset()
    env["API_KEY"] = cli_create("bench", ["entries:write", "entries:read"])
    load = " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    rounds: list[tuple[dict[str, float], dict[str, float]]] = []
    for n in range(a.rounds):
        pair = []
        for leg, (name, app, path) in enumerate(LEGS):
            out = _leg(app, path, 10 + 4 * n + 2 * leg, env, a)  # keys distinct per wrk run
            print(f"round {n + 1}: {name}\n{out}")
            pair.append(_parse(out))
        rounds.append((pair[0], pair[1]))
        print(f"round {n + 1}: ratio {pair[0]['rps'] / pair[1]['rps']:.0%}")
    ratios = [real["rps"] / ceiling["rps"] for real, ceiling in rounds]
    middle = sorted(range(len(rounds)), key=lambda i: ratios[i])[len(rounds) // 2]
    real, ceiling = rounds[middle]
    ratio = ratios[middle]
    each = "; ".join(
        f"{r['rps']:,.0f} / {c['rps']:,.0f} = {q:.0%}"
        for (r, c), q in zip(rounds, ratios, strict=True)
    )
    print(f"median ratio {ratio:.0%} (target >= 50 %) of {each}; load average before {load}")
    if a.no_record:
        return
    rows = [
        f"| {name} | {r['rps']:,.0f} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['errors']:.0f} |"
        for name, r in zip((LEGS[0][0], LEGS[1][0]), (real, ceiling), strict=True)
    ]
    record(
        "API POST /v1/entries (issue 3, issue 16)",
        [
            f"Machine: {machine()}, load average {load} (1 / 5 / 15 min) before the run."
            f" Command: `python tests/bench/bench_api.py --workers {a.workers} --rounds"
            f" {a.rounds}`: each endpoint on its own `dict-connect api --workers {a.workers}`,"
            f" one after the other, wrk -t2 -c{a.connections} for 3 s of warm-up then"
            f" {a.seconds} s, on the same machine; the legs alternate for {a.rounds} rounds and"
            " the table shows the round of the median ratio.",
            "",
            "| endpoint | req/s | p50 | p99 | non-2xx |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"- **{ratio * 100:.0f} % of the ceiling**, the median of {a.rounds} rounds (issue 16:"
            f" target ≥ 50 %, in the same run: {'met' if ratio >= 0.5 else 'not met'}); issue 3:"
            f" ≥ 2,000 req/s with p99 ≤ 50 ms"
            f" ({'met' if real['rps'] >= 2000 and real['p99'] <= 50 else 'not met'} in that"
            " round).",
            f"- Each round, stored / ceiling req/s: {each}.",
            "- The ceiling (`tests/bench/noop_api.py`, started by `dict-connect api --app",
            "  tests.bench.noop_api:create_app`): the whole API plus one route that runs the",
            "  real handler's `registration` (the same msgspec decoding and domain validation)",
            "  behind the same middleware and API key check, and answers 202 with the same body",
            "  from a row it makes itself: no batcher, no PostgreSQL, no Redis.",
            "- Where the difference goes (2026-12-03, CPU of each process from /proc over a",
            "  leg, py-spy --gil on both API processes; load average 2-4 from other work): the",
            "  ceiling spends 210-340 µs of API process CPU and ~40 µs of wrk per request; a",
            "  stored registration 410-530 µs of API processes, 135-170 µs of PostgreSQL and",
            "  ~13 µs of Redis. Of the API's extra, the batcher's thread is 60-80 µs (psycopg's",
            "  send and rows, the outbox params, the Redis pipeline of the batch's message); the",
            "  rest is the same HTTP path costing ~25 % more per request, spread over every frame",
            "  (GIL hand-offs between the event loop and the batcher's thread), no hot spot. In",
            "  PostgreSQL (EXPLAIN ANALYZE of a batch of 32: 3.3 ms) a row costs ~100 µs of",
            "  executor: the entry with its 6 indexes and 4 row triggers (the state_history row",
            "  of `record_transition`, 26 µs, is the largest), the outbox row; then the commit.",
            "  Both cores busy, that is 550-630 µs of CPU a request against 230-250 µs.",
            "- Single pairs of legs on 2026-12-03 and 04 ranged 36-67 % (stored / ceiling req/s,",
            "  load average before: 2,109 / 4,845 (2.55) 44 %; 3,173 / 8,789 (1.24) 36 %; 3,748 /",
            "  7,553 (2.41) 50 %; ...), the ceiling moving more than the stored path: hence the",
            "  alternating rounds and their median. Tried before: the GIL switch interval at",
            "  0.5 ms and 20 ms instead of 5 ms (worse).",
            "- What took it over 50 % (2026-12-04): py-spy put `uuid4` at 5 % of the API's",
            "  samples, from the request id of every request (`RequestIdMiddleware`) and two per",
            "  entry in `entry.create`. `os.urandom` releases the GIL, and the thread that",
            "  released it then waits for the other to hand it back: 249 µs a `uuid4()` beside a",
            "  busy thread against 1 µs for `random.getrandbits` (one process, two threads). The",
            "  request id now comes from `random.getrandbits` (a correlation id, not a secret),",
            "  an entry's id and RequestId from one `os.urandom` a batch. Same machine, 5 rounds",
            "  each: median 46 % (41-61 %) before, 54 % (44-63 %) after.",
            "- Tried after that: the batch run on the event loop's own thread, no batcher thread",
            "  (the loop blocked while PostgreSQL runs the batch): median 51 % of 5 rounds, no",
            "  better. With no syscall handing the GIL over per request, the second thread costs",
            "  little, so a second, async write path (psycopg's AsyncConnection) was not built.",
            "  Next, if more is needed: `record_transition` as a statement-level trigger over the",
            "  transition table (one INSERT a batch, ~26 µs of PostgreSQL a row today).",
            "- Each request: bearer key check (cached), msgspec decode, domain validation, then",
            "  `app.batcher`: the registrations waiting in a process share one statement (entries",
            "  + history trigger + outbox rows, one commit) and one Redis pipeline.",
            "- What moved it from 950 req/s (p99 129 ms, same machine, 2026-12-01): uvloop +",
            "  httptools under uvicorn (+14 %); the step as one statement instead of BEGIN, tags,",
            "  INSERT, INSERT, COMMIT (psycopg CPU 417 → 185 µs per registration); group commit",
            "  through the batcher, one thread per process (2,167 req/s; two threads measured",
            "  worse: smaller batches, GIL contention with the event loop); the young-generation",
            "  GC threshold raised from 700 to 50,000 with `gc.freeze()` at start-up (p99 111 →",
            "  55 ms); the dispatch script called by `evalsha` in the pipeline (no SCRIPT EXISTS",
            "  round trip per batch).",
            "- Runs vary by ±15 % on this shared 2-core machine (wrk, PostgreSQL and Redis on the",
            "  same cores as the API).",
        ],
    )


if __name__ == "__main__":
    main()
