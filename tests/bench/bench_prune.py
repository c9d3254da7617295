"""The maintenance's outbox prune: finished rows moved into ``outbox_archive`` a slice a
transaction, beside one statement moving them all (its ceiling) and one DELETE of them all
(what the prune did before the archive).

    python tests/bench/bench_prune.py [--rows 2000000] [--no-record]

Its own database dc_bench_prune: ``--rows`` finished rows 8 days old and a quarter as
many finished today (kept), pruned by ``outbox.prune``; then as many old rows again,
moved by one statement; then as many again, deleted by one statement.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a file

from tests.bench.common import fresh_database, machine, record

SEED = """
INSERT INTO outbox (actor, queue, args, kind, subject, status, deliver_at, created_at,
                    finished_at, attempts)
SELECT 'register_entry', 'dict',
       jsonb_build_object('entry_id', gen_random_uuid(), 'key', '+5561' || g),
       'task', 'entry:' || g, 'done', %(at)s, %(at)s, %(at)s, 1
FROM generate_series(1, %(n)s) g
"""


DELETE = "DELETE FROM outbox WHERE status IN ('done', 'cancelled') AND finished_at < %(before)s"


def one_statement(rows: int, old: datetime, statement: str) -> tuple[int, float]:
    """``rows`` more finished rows ``old``, then ``statement`` over them all: (rows, s)."""
    from app import db

    with db.pool().connection() as conn:
        conn.execute(SEED, {"at": old, "n": rows})
    params = {"before": old + timedelta(days=1), "after": 0, "limit": None}  # LIMIT NULL: all
    started = time.perf_counter()
    with db.pool().connection() as conn:
        done = conn.execute(statement, params).rowcount
    return done, time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--no-record", action="store_true")
    a = p.parse_args()
    os.environ["DATABASE_URL"] = fresh_database("dc_bench_prune")
    from app import clock, db, outbox, settings

    settings.reset()
    now = clock.now()
    old = now - timedelta(days=8)
    with db.pool().connection() as conn:
        conn.execute(SEED, {"at": old, "n": a.rows})
        conn.execute(SEED, {"at": now, "n": a.rows // 4})
    started = time.perf_counter()
    sliced = outbox.prune(now - timedelta(days=7))
    sliced_s = time.perf_counter() - started
    one_move = one_statement(a.rows, old, db.q("outbox.prune_done"))
    one_delete = one_statement(a.rows, old, DELETE)
    lines = [
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at"
        f" the end. Command: `python tests/bench/bench_prune.py --rows {a.rows}`.",
        "",
        "| prune of finished rows 8 days old | rows | seconds | longest transaction |",
        "|---|---|---|---|",
        f"| `outbox.prune`, {outbox.PRUNE_SLICE:,} rows a transaction | {sliced:,} |"
        f" {sliced_s:.1f} | one slice |",
        f"| ceiling: the same move in one statement | {one_move[0]:,} | {one_move[1]:.1f} |"
        " all of it |",
        f"| before the archive: one `DELETE` | {one_delete[0]:,} | {one_delete[1]:.1f} |"
        " all of it |",
        "",
        f"Ratio, sliced move to one statement: {one_move[1] / sliced_s:.0%}. The slices cost",
        "more in all (each finds its rows by the primary key from where the last one ended)",
        "and hold no transaction open for long: one statement over millions of rows holds",
        "vacuum's horizon back on every table of the database while it runs.",
    ]
    if a.no_record:
        print("\n".join(lines))
    else:
        record("The outbox's daily prune (issue 16)", lines)


if __name__ == "__main__":
    main()
