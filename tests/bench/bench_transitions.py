"""Transitions applied per second by one worker, beside pgbench on the same transaction.

    python tests/bench/bench_transitions.py [--entries 20000] [--threads 8]

The production path (issue 16): N entries in ``registering``, each with its outbox row
for ``bench_registered`` (``register_entry`` once the DICT answered: no DICT call), due
now. A relay pass dispatches them (rows of one actor grouped, ``outbox.BATCH_MAX`` a
message); one worker (``dict-connect worker``: N processes × M threads) works each batch
in one transaction: per row a savepoint, lock the entry, fire ``registered``
(pytransitions + guards), guarded UPDATE (the SQL trigger checks the pair and writes
state_history, XORs the VSync), the entries.created event's outbox row; then the rows
done; after the commit the worker publishes the events (event_log, Redis streams).
Measured until every entry is active, every row done and every event pushed. pgbench
runs the transition's statements as one single-row transaction with the same client
count. Target (issue 16): >= 50 % of pgbench's rate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a file

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


def outbox_rows(url: str, rows: list[tuple[str, str]]) -> None:
    """Each entry's outbox row for ``bench_registered``, due now (the relay sends them)."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY outbox (actor, queue, args, kind, subject, status, deliver_at, created_at)"
            " FROM STDIN"
        ) as copy:
            now = datetime.now(UTC)
            for entry_id, key in rows:
                args = json.dumps({"entry_id": entry_id, "key": key})
                copy.write_row(
                    (
                        "bench_registered",
                        "bench",
                        args,
                        "task",
                        f"entry:{entry_id}",
                        "pending",
                        now,
                        now,
                    )
                )
        conn.execute("VACUUM ANALYZE outbox")


FINISHED = """
SELECT (SELECT count(*) FROM entries WHERE status = 'active') AS active,
       (SELECT count(*) FROM outbox WHERE status = 'done') AS done,
       (SELECT count(*) FROM event_log_pending) AS unlogged,
       (SELECT count(*) FROM event_log WHERE id > (SELECT pushed_through FROM event_log_state))
           AS unpushed
"""


def worker_rate(url: str, rows: list[tuple[str, str]], threads: int, processes: int) -> float:
    """Transitions per second, from the relay's pass to the last event pushed (the
    worker started and idle first: its start-up is not Dramatiq's per-message cost)."""
    from app import outbox

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
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
        time.sleep(5)  # the worker's processes booted
        t0 = time.perf_counter()
        outbox.relay(limit=1000)
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                r = conn.execute(FINISHED).fetchone()
                # every task row and every event row done, every event logged and pushed
                if r[0] >= len(rows) and r[1] >= 2 * len(rows) and r[2] == 0 and r[3] == 0:
                    break
                time.sleep(0.05)
        elapsed = time.perf_counter() - t0
    finally:
        worker.terminate()
        worker.wait(30)
    return len(rows) / elapsed


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
    p.add_argument("--redis", default="redis://127.0.0.1:6379/5", help="flushed first")
    p.add_argument("--no-record", action="store_true", help="print, leave docs/ alone")
    a = p.parse_args()
    url = fresh_database("dc_bench_transitions")
    os.environ.update(DATABASE_URL=url, REDIS_URL=a.redis)
    from app import settings

    settings.reset()
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    load = os.getloadavg()[0]
    rows = seed(url, a.entries)
    outbox_rows(url, rows)
    rate = worker_rate(url, rows, a.threads, a.processes)
    pg = pgbench_rate(url, a.entries, a.threads, 15)
    lines = [
        f"Machine: {machine()}; load average {load:.2f} before the run. Command: "
        f"`python tests/bench/bench_transitions.py "
        f"--entries {a.entries} --threads {a.threads} --processes {a.processes}`.",
        "",
        f"- One worker (`dict-connect worker`: {a.processes} processes × {a.threads} threads), "
        f"{a.entries:,} `registered` transitions through the production path (outbox rows, a "
        f"relay pass, batch messages, one transaction a batch, rows done, events logged and "
        f"pushed): **{rate:,.0f} transitions/s**.",
        f"- pgbench, the same single-row transaction (lock, update, history row, VSync XOR, "
        f"outbox row), {a.threads} clients, in the same run: **{pg:,.0f} tps**.",
        f"- Ratio: **{rate / pg * 100:.0f} %** of pgbench (target ≥ 50 %).",
        "",
        *NOTES,
    ]
    if a.no_record:
        print("\n".join(lines[:6]))
    else:
        record("Transitions per second, one worker (issue 3, issue 16)", lines)


NOTES = [
    "Runs (worker / pgbench, same run; the load average the run started at):",
    "",
    "| when, code | load | worker | pgbench | ratio |",
    "|---|---|---|---|---|",
    "| 2026-12-03 23:38, no savepoint a row (0c075be) | 0.49 | 1,625 /s | 2,573 tps | **63 %** |",
    "| 2026-12-03 22:20, the same, beside other benchmarks | 3.20 | 1,082 /s | 1,323 tps | 82 % |",
    "| 2026-12-03 21:26-21:28, a savepoint a row (10dccae) | 0.65 | 668, 582 /s | 1,550, 1,649"
    " tps | 43 %, 35 % |",
    "| 2026-12-01/02, one transition a message | | 739, 660 /s | 2,230, 1,918 tps | 33 %, 34 % |",
    "",
    "Under load pgbench suffers more than the worker, which flatters the ratio: read the",
    "quiet runs.",
    "",
    "What moved it (issue 16, 2026-12-03): one transition per Dramatiq message reached 34 %",
    "of pgbench (7 round trips each: BEGIN, lock, UPDATE, outbox INSERT, COMMIT, the",
    "event's enqueue, Dramatiq's fetch and ack; then the middleware's mark_done, a second",
    "commit, and a publish_event message with a publication pass of its own). Now a message",
    "carries up to 50 rows of one actor (actors/batch.py), applied in one transaction: per",
    "row the lock, the UPDATE and the event's outbox INSERT; the rows done, the VSync shards",
    "moved (once a batch, in shard order: vsync_flush, migration 0023) and the events",
    "published once a batch. Before vsync_flush, batches holding the 16 VSync shard rows for",
    "their whole length queued behind each other and deadlocked (261 of 20,000 transitions",
    "done in 10 minutes). With a SAVEPOINT and a RELEASE around each row (35-43 %), py-spy",
    "showed 90 % of a batch's wall time waiting on PostgreSQL round trips, a third of it on",
    "those two; a batch now runs without them first, and again with them only when a row's",
    "changes raise (`outbox.apply_batch`).",
    "",
    "- pgbench runs its statements from C, each transaction alone; the worker's path also",
    "  marks its task rows done and logs and pushes every event, which pgbench does not.",
    "- Figures move by ±25 % between runs on this shared machine (pgbench alone: 1,381 to",
    "  3,029 tps on different days), so the ratio, measured in one run, is the figure to read.",
]


if __name__ == "__main__":
    main()
