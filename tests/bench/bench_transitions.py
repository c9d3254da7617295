"""Transitions applied per second by one worker, beside pgbench on the same transaction.

    python tests/bench/bench_transitions.py [--entries 20000] [--threads 8]

One worker = one Dramatiq process with N threads running ``bench_registered``: lock
the entry, fire ``registered`` (pytransitions + guards), guarded UPDATE (the SQL
trigger checks the pair and writes state_history), XOR the VSync, write the
entries.created event to the outbox; commit; enqueue the event. pgbench runs the
same statements as one single-row transaction with the same client count.
Target (issue 3): >= 1,000 transitions/s, and >= 50 % of pgbench's rate.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime

import psycopg

from tests.bench.common import ROOT, fresh_database, machine, record

PGBENCH_SCRIPT = r"""
\set n random(1, :rows)
BEGIN;
SELECT set_config('dict.actor', 'bench', true), set_config('dict.trigger', 'touch', true),
       set_config('dict.reason', '', true);
SELECT * FROM bench_rows WHERE n = :n FOR UPDATE;
UPDATE bench_rows SET version = version + 1, updated_at = now() WHERE n = :n;
INSERT INTO state_history (machine, subject_id, from_status, to_status, trigger, reason, actor, at)
  VALUES ('entry', :n, 'registering', 'active', 'registered', NULL, 'bench', now());
UPDATE vsyncs SET vsync = vsync # ('x' || md5(:n::text) || md5(:n::text))::bit(256),
  entries = entries + 1 WHERE key_type = 'PHONE' AND shard = :n % 16;
INSERT INTO outbox (actor, queue, args, kind, subject, status, deliver_at, created_at,
                    dispatched_at, lease_until, attempts)
  VALUES ('publish_event', 'events', '{"topic": "entries.created"}', 'event', 'entry:' || :n,
          'dispatched', now(), now(), now(), now() + interval '10 minutes', 1);
COMMIT;
"""


def seed(url: str, count: int) -> list[tuple[str, str]]:
    from app import db

    rows = []
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        now = datetime.now(UTC)
        params = []
        for i in range(count):
            entry_id, key = uuid.uuid4(), f"+5561{i:09d}"
            rows.append((str(entry_id), key))
            params.append(
                {
                    "id": entry_id,
                    "key": key,
                    "key_type": "PHONE",
                    "status": "registering",
                    "participant": "12345678",
                    "branch": "1",
                    "account_number": str(i),
                    "account_type": "CACC",
                    "opening_date": now,
                    "owner_type": "NATURAL_PERSON",
                    "owner_tax_id": "52998224725",
                    "owner_name": "Maria da Silva",
                    "owner_trade_name": None,
                    "request_id": uuid.uuid4(),
                    "now": now,
                }
            )
        cur.executemany(db.q("entries.insert"), params)
        conn.execute(
            "CREATE TABLE bench_rows AS SELECT n, 0 AS version, now() AS updated_at "
            "FROM generate_series(1, %s) n",
            (count,),
        )
        conn.execute("ALTER TABLE bench_rows ADD PRIMARY KEY (n)")
        conn.execute("VACUUM ANALYZE")
    return rows


def worker_rate(
    url: str, rows: list[tuple[str, str]], threads: int, processes: int
) -> tuple[float, float]:
    """(rate from the worker's start, rate from its first transition to its last)."""
    from app import db, queue

    queue.send_many(
        [
            (queue.message(None, "bench_registered", "bench", {"entry_id": e, "key": k}), _zero())
            for e, k in rows
        ]
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "tests.bench.bench_actors",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--queues",
            "bench",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                active = conn.execute(
                    "SELECT count(*) FROM entries WHERE status = 'active'"
                ).fetchone()[0]
                if active >= len(rows):
                    break
                time.sleep(0.2)
        elapsed = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            span = conn.execute(
                "SELECT extract(epoch FROM max(at) - min(at)) FROM state_history "
                "WHERE trigger = 'registered'"
            ).fetchone()[0]
    finally:
        worker.terminate()
        worker.wait(30)
    del db
    return len(rows) / elapsed, (len(rows) - 1) / float(span)


def _zero():
    from datetime import timedelta

    return timedelta(0)


def pgbench_rate(url: str, rows: int, clients: int, seconds: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(PGBENCH_SCRIPT)
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-D",
            f"rows={rows}",
            "-f",
            fh.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--entries", type=int, default=20000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--processes", type=int, default=2, help="as `dict-connect worker` runs")
    a = p.parse_args()
    url = fresh_database("dc_bench_transitions")
    os.environ.update(DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:6379/14")
    from app import settings

    settings.reset()
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    rows = seed(url, a.entries)
    rate, steady = worker_rate(url, rows, a.threads, a.processes)
    # Worker startup (~1 s) is inside the measured time: a conservative figure.
    pg = pgbench_rate(url, a.entries, a.threads, 15)
    record(
        "Transitions per second, one worker (issue 3)",
        [
            f"Machine: {machine()}. Command: `python tests/bench/bench_transitions.py "
            f"--entries {a.entries} --threads {a.threads} --processes {a.processes}`.",
            "",
            f"- One worker (`dict-connect worker`: {a.processes} processes × {a.threads} threads), {a.entries:,} `registered` "
            f"transitions: **{rate:,.0f} transitions/s** (target ≥ 1,000/s), worker start-up included; "
            f"{steady:,.0f}/s from the first transition to the last.",
            f"- pgbench, the same single-row transaction (lock, update, history row, VSync XOR, "
            f"outbox row), {a.threads} clients: **{pg:,.0f} tps**.",
            f"- Ratio: **{rate / pg * 100:.0f} %** of pgbench (target ≥ 50 %); "
            f"{steady / pg * 100:.0f} % from the first transition.",
            "",
            *NOTES,
        ],
    )


NOTES = [
    "Where the ceiling is (this machine, 2026-12-01):",
    "",
    "- One transition alone, in a loop (`outbox.step` + `entry.registered`): 2.5 ms wall,",
    "  1.14 ms of Python CPU; the rest is waiting on round trips, which cost ~100 µs each",
    "  here (a Redis PING: 119 µs on loopback). Per transition: BEGIN, lock (+ tags), UPDATE",
    "  (+ VSync XOR), outbox INSERT, COMMIT, the event's enqueue, and Dramatiq's own fetch",
    "  and ack: 7 round trips, down from 9 on 2026-11-22 (tags folded into the lock, the",
    "  XOR into the UPDATE, a lone outbox row without executemany's pipeline).",
    "- Under load the two cores are ~87 % busy, 20-29 % of it in the kernel (40,000",
    "  context switches/s between 16 worker threads, their PostgreSQL backends and Redis);",
    "  py-spy shows the worker threads 55 % of their time in psycopg's `Connection.wait`.",
    "- pgbench runs the same statements from C, without Dramatiq's per-message fetch, ack",
    "  and middleware (a no-op actor topped out at 3,532 messages/s on 2 processes, 2026-11-22),",
    "  so ≥ 50 % of it is not reached by a worker that handles one transition per message.",
    "- Figures move by ±25 % between runs on this shared machine (pgbench alone: 2,230 to",
    "  3,029 tps on the same day), so the ratio, measured in one run, is the figure to read.",
]


if __name__ == "__main__":
    main()
