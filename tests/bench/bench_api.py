"""API throughput: POST /v1/entries at 64 concurrent connections, measured with wrk.

    python tests/bench/bench_api.py [--workers 2] [--seconds 20] [--connections 64]

Target (issue 3): >= 2,000 req/s with p99 <= 50 ms on this 2-core machine. wrk
(Debian package `wrk`) is the load generator: C, so it leaves the cores to the API.
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

import httpx

from tests.bench.common import ROOT, fresh_database, machine, record

LUA = Path(__file__).with_name("post_entries.lua")


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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--connections", type=int, default=64)
    a = p.parse_args()
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
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", "8765", "--workers", str(a.workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get("http://127.0.0.1:8765/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        warm = ["wrk", "-t2", f"-c{a.connections}", "-d3s", "-s", str(LUA), "http://127.0.0.1:8765"]
        subprocess.run(warm, env={**env, "WRK_RUN": "11"}, capture_output=True, check=True)
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{a.connections}",
                f"-d{a.seconds}s",
                "--latency",
                "-s",
                str(LUA),
                "http://127.0.0.1:8765",
            ],
            env={**env, "WRK_RUN": "12"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        api.terminate()
        api.wait(20)
    print(out)
    r = _parse(out)
    record(
        "API POST /v1/entries (issue 3)",
        [
            f"Machine: {machine()}. Command: `python tests/bench/bench_api.py --workers {a.workers}`"
            f" (wrk -t2 -c{a.connections} -d{a.seconds}s on the same machine).",
            "",
            f"- **{r['rps']:,.0f} req/s**, p50 {r['p50']:.1f} ms, **p99 {r['p99']:.1f} ms**, "
            f"{r['errors']:.0f} non-2xx, {a.workers} uvicorn workers (target ≥ 2,000 req/s, p99 ≤ 50 ms).",
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
