"""The claim and entry views over a partitioned state_history of 50,000,000 rows (issue 16).

    python tests/bench/bench_history.py [--rows 50000000] [--samples 2000] [--no-record]
    python tests/bench/bench_history.py --convert-rows 10000000   # migration 0022 alone

Its own database dc_bench_history (dropped at the end, --keep to keep it). The rows are
spread evenly over 24 months (one partition each, made by ``history_partitions()``),
ids in time order; 95 % belong to ENTRIES entries and 5 % to CLAIMS claims, a subject's
rows scattered over every month (no month to prune: the worst case for the read). Then,
for random subjects, the SQL the API runs: GET /v1/claims/{id} (``claims.get``,
``claims.next_actions``, ``spine.history``) and GET /v1/entries/{id} (``entries.find``)
with the entry's history (``spine.history``); p50/p99 of each against the 10 ms target.
Also the table's size, one maintenance run and the history read's plan.

--convert-rows N times migration 0022 instead: a database migrated up to 0021 whose
unpartitioned state_history holds N rows over 12 months (writers wait that long).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg
from psycopg.rows import dict_row

from app import db
from app.migrate import apply, migrations
from app.repo import claims, entries, spine
from tests.bench.common import ADMIN_URL, fresh_database, machine, percentile, record

NAME = "dc_bench_history"
MONTHS = 24
CHUNK = 1_000_000
TARGET_MS = 10.0

ENTRIES_SQL = """
INSERT INTO entries (id, key, key_type, status, participant, account_number, account_type,
                     opening_date, owner_type, owner_tax_id, owner_name, request_id, cid,
                     created_at, updated_at)
SELECT md5('e' || i)::uuid, md5('e' || i)::uuid::text, 'EVP', 'active', '12345678',
       lpad(i::text, 10, '0'), 'CACC', %(start)s, 'NATURAL_PERSON', '12345678901', 'Bench',
       md5('r' || i)::uuid, md5('c' || i), %(start)s, %(start)s
FROM generate_series(1, %(n)s) i
"""
CLAIMS_SQL = """
INSERT INTO claims (id, dict_id, role, type, key, key_type, status, claimer_participant,
                    claimer_account_number, claimer_account_type, claimer_opening_date,
                    claimer_type, claimer_tax_id, claimer_name, created_at,
                    resolution_period_end, completion_request_id, inserted_at, updated_at)
SELECT md5('k' || i)::uuid, 'd' || i, 'DONOR', 'PORTABILITY', md5('e' || i)::uuid::text, 'EVP',
       'open', '87654321', lpad(i::text, 10, '0'), 'CACC', %(start)s, 'NATURAL_PERSON',
       '12345678901', 'Bench', %(start)s, %(start)s + interval '7 days', md5('q' || i)::uuid,
       %(start)s, %(start)s
FROM generate_series(1, %(n)s) i
"""
# Row k of ROWS: at evenly spread over the months; every 20th row a claim's, else an
# entry's, the subject picked by a multiplicative hash of the row's rank among the
# claims' (the entries') rows, so that each gets rows, in every month.
HISTORY_SQL = """
INSERT INTO state_history (machine, subject_id, from_status, to_status, trigger, reason,
                           actor, at)
SELECT CASE WHEN k %% 20 = 0 THEN 'claim' ELSE 'entry' END,
       CASE WHEN k %% 20 = 0 THEN md5('k' || (1 + (k / 20 * 7919) %% %(claims)s))::uuid::text
            ELSE md5('e' || (1 + ((k - k / 20) * 104729) %% %(entries)s))::uuid::text END,
       'active', 'updating', 'update', NULL, 'worker',
       %(start)s + (%(end)s - %(start)s) * (k::float8 / %(rows)s)
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) k
"""


def load(url: str, rows: int, n_entries: int, n_claims: int, start: datetime) -> float:
    """The entries, claims and history rows (no triggers: history is written here). The
    subject index is built after the rows (a sort, not 50 million random inserts), as
    migration 0022 defines it."""
    end = month_after(start, MONTHS)
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DROP INDEX state_history_subject")
        conn.execute(ENTRIES_SQL, {"n": n_entries, "start": start})
        conn.execute(CLAIMS_SQL, {"n": n_claims, "start": start})
        params = {"claims": n_claims, "entries": n_entries, "rows": rows, "start": start}
        for lo in range(0, rows, CHUNK):
            hi = min(rows, lo + CHUNK) - 1
            conn.execute(HISTORY_SQL, {**params, "end": end, "lo": lo, "hi": hi})
            print(f"  {hi + 1:,} rows, {time.perf_counter() - t0:.0f} s", flush=True)
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute(
            "CREATE INDEX state_history_subject ON state_history (machine, subject_id, id)"
        )
        conn.execute("VACUUM ANALYZE state_history, entries, claims")
    return time.perf_counter() - t0


def month_after(start: datetime, months: int) -> datetime:
    y, m = divmod(start.month - 1 + months, 12)
    return start.replace(year=start.year + y, month=m + 1)


def timed(fn: Callable[[], object], samples: int) -> tuple[float, float]:
    """p50 and p99 in ms of ``samples`` calls of ``fn``."""
    ms = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    return percentile(ms, 50), percentile(ms, 99)


def subject(prefix: str, n: int) -> str:
    """The id the load gave subject ``prefix``i (md5, as in ENTRIES_SQL), i at random."""
    text = f"{prefix}{random.randint(1, n)}"
    return str(uuid.UUID(hex=hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()))


def views(url: str, n_entries: int, n_claims: int, samples: int) -> dict[str, tuple[float, float]]:
    """The API's reads for random subjects, as GET /v1/claims/{id} and /v1/entries/{id}."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:

        def claim_view() -> None:
            cid = subject("k", n_claims)
            row = claims.get(conn, uuid.UUID(cid))
            assert row is not None
            claims.next_actions(conn, f"claim:{cid}")
            assert spine.history(conn, "claim", cid)

        def entry_view() -> None:
            eid = subject("e", n_entries)
            assert entries.find(conn, eid) is not None
            assert spine.history(conn, "entry", eid)

        timed(claim_view, 200)  # warm the caches the measured runs will use
        timed(entry_view, 200)
        return {"claim": timed(claim_view, samples), "entry": timed(entry_view, samples)}


def plan(url: str, n_entries: int) -> list[str]:
    eid = subject("e", n_entries)
    with psycopg.connect(url, autocommit=True) as conn:
        sql = "SELECT from_status, to_status, trigger, reason, actor, at FROM state_history"
        sql += " WHERE machine = 'entry' AND subject_id = %s ORDER BY id"
        rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", (eid,)).fetchall()
    return [r[0] for r in rows]


def sizes(url: str) -> tuple[str, str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_size_pretty(sum(pg_table_size(c.oid))),"
            " pg_size_pretty(sum(pg_indexes_size(c.oid))), count(*)"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'state_history'::regclass"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def maintenance(url: str, now: datetime) -> tuple[float, list[str]]:
    """One run of the maintenance step a month after the last: a partition made, the
    oldest archived (retention 23 months)."""
    with psycopg.connect(url) as conn:
        t = time.perf_counter()
        done = spine.keep_history_partitions(conn, month_after(now, 1), 23, 0)
        conn.commit()
        return (time.perf_counter() - t) * 1000, [f"{d.action} {d.partition_name}" for d in done]


CONVERSION = "0022_history_partitions.sql"
OLD_ROWS_SQL = """
INSERT INTO state_history (machine, subject_id, from_status, to_status, trigger, actor, at)
SELECT 'entry', md5('e' || (1 + k %% 1000000))::uuid::text, 'active', 'updating', 'update',
       'worker', now() - interval '365 days' * (k::float8 / %(rows)s)
FROM generate_series(1, %(rows)s) k
"""


def conversion(rows: int) -> tuple[float, int]:
    """Seconds migration 0022 takes on ``rows`` rows of the unpartitioned table, and the
    partitions it made."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{NAME}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{NAME}"
    with db.connect(url, autocommit=True) as conn:
        conn.execute(db.q("migrate.ensure_table"))
        for name, text in migrations().items():
            if name < CONVERSION:
                apply(conn, name, text.read_text(encoding="utf-8"), "bench")
        conn.execute(OLD_ROWS_SQL, {"rows": rows})
        conn.execute("VACUUM ANALYZE state_history")
        t = time.perf_counter()
        apply(conn, CONVERSION, migrations()[CONVERSION].read_text(encoding="utf-8"), "bench")
        seconds = time.perf_counter() - t
    return seconds, sizes(url)[2]


def record_conversion(rows: int, no_record: bool) -> None:
    try:
        seconds, parts = conversion(rows)
    finally:
        drop()
    lines = [
        f"- machine: {machine()}",
        f"- command: `python tests/bench/bench_history.py --convert-rows {rows}`",
        f"- {rows:,} rows over 12 months converted (copied into {parts} partitions, indexes "
        f"built) in {seconds:.1f} s, {seconds / rows * 1e6:.1f} s per million rows: "
        "the time state changes wait",
    ]
    if no_record:
        print("\n".join(lines))
    else:
        record("Converting state_history (migration 0022, issue 16)", lines)


def drop() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=50_000_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--claims", type=int, default=50_000)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--convert-rows", type=int, default=0, help="time migration 0022 alone")
    args = ap.parse_args()
    if args.convert_rows:
        record_conversion(args.convert_rows, args.no_record)
        return

    now = datetime.now(UTC)
    start = month_after(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), -MONTHS)
    url = fresh_database(NAME)
    try:
        with psycopg.connect(url) as conn:  # the 24 months and 3 ahead (60 kept: no archive)
            spine.keep_history_partitions(conn, start, 60, 0, ahead=MONTHS + 3)
        print(f"loading {args.rows:,} history rows ...", flush=True)
        load_s = load(url, args.rows, args.entries, args.claims, start)
        table, index, parts = sizes(url)
        got = views(url, args.entries, args.claims, args.samples)
        maint_ms, maint_done = maintenance(url, now)
        explain = plan(url, args.entries)
    finally:
        if not args.keep:
            drop()

    lines = [
        f"- machine: {machine()}",
        f"- command: `make bench-history` (`python tests/bench/bench_history.py --rows "
        f"{args.rows} --entries {args.entries} --claims {args.claims} --samples {args.samples}`)",
        f"- data: {args.rows:,} history rows over {MONTHS} months ({parts} partitions: the "
        f"months, 3 ahead, the default), 95 % of them {args.entries:,} entries', 5 % "
        f"{args.claims:,} claims' (about {args.rows * 0.95 / args.entries:.0f} and "
        f"{args.rows * 0.05 / args.claims:.0f} rows each, spread over every month); "
        f"loaded in {load_s:.0f} s",
        f"- size: tables {table}, indexes {index}",
        "",
        f"| view ({args.samples:,} random subjects) | p50 ms | p99 ms | p99 / {TARGET_MS:.0f} ms |",
        "|---|---|---|---|",
    ]
    for name, sql in (
        ("claim", "claims.get + claims.next_actions + spine.history"),
        ("entry", "entries.find + spine.history"),
    ):
        p50, p99 = got[name]
        lines.append(f"| {name}: {sql} | {p50:.2f} | {p99:.2f} | {p99 / TARGET_MS:.2f} |")
    lines += [
        "",
        f"- maintenance (`history_partitions()` a month on, retention 23 months): "
        f"{maint_ms:.0f} ms: {', '.join(maint_done) or 'nothing to do'}",
        "",
        "The history read of one entry (`spine.history`), EXPLAIN (ANALYZE, BUFFERS):",
        "",
        "```",
        *explain,
        "```",
    ]
    if args.no_record:
        print("\n".join(lines))
    else:
        record("History at 50,000,000 rows (issue 16)", lines)


if __name__ == "__main__":
    main()
