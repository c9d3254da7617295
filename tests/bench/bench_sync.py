"""Synchronisation with the DICT at scale: VSync recompute, a CID file compared, a daily run.

    python tests/bench/bench_sync.py [--cids 10000000] [--divergences 1000]
        [--daily-keys 2000000] [--parts recompute,compare,daily]
        [--compare-with driver,worker]

Targets (issue text):
1. ``app.repo.cids.recompute`` of one key type with 10,000,000 CIDs <= 20 s.
   Ceiling, same run, same table: ``SELECT count(*)`` and the bare XOR of every CID.
2. A sync run of a key type whose CID file has 10,000,000 CIDs against our 10,000,000
   with 1,000 divergences, collect (CID file requested, downloaded, staged) + compare
   <= 60 s, worker peak RSS <= 1 GB; each actor run under ~30 s (SYNC_STEP_BUDGET_S=20).
   Ceiling: the bare COPY of the same bytes, and one FULL JOIN of them in psql.
3. A daily run of five key types of 2,000,000 keys each, all OK, <= 5 minutes.

Set-up, the same for 1 and 2: the simulator generates the entries of our participant
(LoadEntries); the bench fetches the simulator's CID file once and loads those CIDs
straight into ``cids`` with COPY and INSERT ... SELECT (no ``entries`` rows: the
trigger that keeps ``cids`` from ``entries`` is not what is measured here), minus
``divergences / 2`` of them, plus as many random ones; ``vsyncs`` is then rewritten
from ``cids`` by ``cids.repair``, so our VSync is consistent with our CIDs and the
DICT answers NOK. For 3, the same for five key types with no divergence.

``--compare-with`` (comma-separated): ``driver`` runs the run's actors (verify_sync,
collect_sync, compare_sync) as functions, one after another, in a subprocess that reports each
actor run and its own peak RSS (VmHWM): the DICT's processing time is left out
(``cid_file_processing_seconds`` 0, polls not waited for). ``worker`` runs the real
worker (2 processes x 8 threads) instead and reads each actor message's run from its
outbox row, and the peak RSS of its processes; its first poll waits FILE_POLL_BACKOFF[0] (5 s).

Databases: ``--db`` (default bench_sync, dropped and created), Redis db 12.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# Drop and create the bench database from the maintenance database, not from "test".
os.environ.setdefault("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

import psycopg  # noqa: E402

from tests.bench.common import (  # noqa: E402
    descendants,
    free_port,
    fresh_database,
    machine,
    memory,
    record,
    status_kib,
)

OURS, OTHER = "12345678", "87654321"
KEY_TYPES = ("CPF", "CNPJ", "PHONE", "EMAIL", "EVP")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LOG = Path(tempfile.gettempdir()) / "bench-sync.log"


def _scalar(conn: Any, query: str, params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def log(*parts: Any, sep: str = " ") -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, sep=sep, flush=True)


# ------------------------------------------------------------------ processes


def environment(url: str, sim_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "BRIDGE_ADDRESS": f"127.0.0.1:{sim_port}",
        "PARTICIPANT_ISPB": OURS,
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
        "SYNC_FILE_TIMEOUT_S": "3600",
    }


@contextlib.contextmanager
def simulator(env: dict[str, str], port: int) -> Iterator[Any]:
    """The simulator as its own process (rate limits on: the bench's calls fit in
    category A's buckets); CID files AVAILABLE at once (the DICT's processing time is
    not ours to measure)."""
    from simulator.admin_client import AdminClient

    argv = [
        sys.executable,
        "-m",
        "simulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--participants",
        f"{OURS}:A,{OTHER}:A",
        "--cid-file-processing-seconds",
        "0",
        "--log-level",
        "WARNING",
    ]
    with LOG.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out)
    admin = AdminClient(f"127.0.0.1:{port}", timeout_s=1800)
    try:
        for _ in range(150):
            try:
                admin.get_clock()
                break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError(f"simulator exited: see {LOG}") from None
                time.sleep(0.2)
        yield admin
    finally:
        admin.close()
        proc.terminate()
        proc.wait(60)


@contextlib.contextmanager
def worker(env: dict[str, str], processes: int = 2, threads: int = 8) -> Iterator[Any]:
    argv = [
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
    ]
    with LOG.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


def peak_kib(pid: int) -> tuple[int, int]:
    """(largest VmHWM of one process, sum of VmHWM) over ``pid`` and its descendants."""
    peaks = [status_kib(p, "VmHWM") for p in descendants(pid)]
    return max(peaks, default=0), sum(peaks)


# ------------------------------------------------------------------ set-up


def fetch_file(address: str, key_type: str) -> tuple[Path, int, float]:
    """The simulator's CID file of our ``key_type``, downloaded as the worker would
    (CreateCidSetFile, GetCidSetFile, DownloadCidSetFile); (path, lines, seconds)."""
    from app.bridge import dict_bridge_pb2 as pb
    from app.bridge.client import DictClient

    started = time.perf_counter()
    with DictClient(address, OURS, timeout_s=600) as client:
        file = client.create_cid_set_file(
            pb.CreateCidSetFileRequest(participant=OURS, key_type=key_type)
        )
        while (got := client.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))).status != (
            "AVAILABLE"
        ):
            time.sleep(0.2)
        fd, name = tempfile.mkstemp(prefix=f"bench-sync-{key_type.lower()}-", suffix=".cids")
        with os.fdopen(fd, "wb") as out:
            for data in client.download_cid_set_file(
                pb.DownloadCidSetFileRequest(id=file.id), timeout_s=1800
            ):
                out.write(data)
    path = Path(name)
    assert path.stat().st_size == got.bytes, (path.stat().st_size, got.bytes)
    return path, got.bytes // 65, time.perf_counter() - started


def copy_file(conn: psycopg.Connection[Any], table: str, path: Path) -> float:
    """COPY the file's bytes into ``table`` (cid), 1 MiB at a time; seconds."""
    started = time.perf_counter()
    query = f"COPY {table} (cid) FROM STDIN"
    with conn.cursor() as cur, cur.copy(query) as copy, path.open("rb") as f:
        while chunk := f.read(1 << 20):
            copy.write(chunk)
    return time.perf_counter() - started


@contextlib.contextmanager
def bulk_cids(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """``cids`` without its two indexes while it is filled, built again after (the
    same definitions as sql/migrations/0009_sync.sql), then vacuumed and analysed as
    autovacuum would leave a table that size."""
    conn.execute("ALTER TABLE cids DROP CONSTRAINT cids_pkey")
    conn.execute("DROP INDEX cids_entry_id")
    yield
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("ALTER TABLE cids ADD PRIMARY KEY (key_type, cid)")
    conn.execute("CREATE UNIQUE INDEX cids_entry_id ON cids (entry_id)")
    conn.execute("VACUUM (ANALYZE) cids")


def load_ours(
    conn: psycopg.Connection[Any], key_type: str, path: Path, lines: int, divergences: int
) -> dict[str, float]:
    """Our ``cids`` of ``key_type``: the file's, less ``divergences // 2`` of them,
    plus as many random ones; all added a day ago (before any file is asked for)."""
    rnd = random.Random(7)
    conn.execute('CREATE UNLOGGED TABLE IF NOT EXISTS bench_file (cid text COLLATE "C")')
    conn.execute("TRUNCATE bench_file")
    copy_s = copy_file(conn, "bench_file", path)
    dropped = []
    with path.open("rb") as f:
        for i in sorted(rnd.sample(range(lines), min(lines, divergences // 2))):
            f.seek(i * 65)
            dropped.append(f.read(64).decode())
    extra = [secrets.token_hex(32) for _ in range(divergences - len(dropped))]
    started = time.perf_counter()
    conn.execute(
        """INSERT INTO cids (key_type, cid, entry_id, request_id, added_at)
           SELECT %(kt)s, cid, md5(%(kt)s || cid)::uuid, md5('r' || cid)::uuid,
                  now() - interval '1 day'
           FROM bench_file WHERE cid <> ALL(%(dropped)s::text[])""",
        {"kt": key_type, "dropped": dropped},
    )
    conn.execute(
        """INSERT INTO cids (key_type, cid, entry_id, request_id, added_at)
           SELECT %(kt)s, cid, gen_random_uuid(), gen_random_uuid(), now() - interval '1 day'
           FROM unnest(%(extra)s::text[]) cid""",
        {"kt": key_type, "extra": extra},
    )
    conn.execute("TRUNCATE bench_file")
    return {"copy_s": copy_s, "insert_s": time.perf_counter() - started}


def repair_vsyncs(key_type: str) -> None:
    """``vsyncs`` rewritten from ``cids`` (what the trigger would have kept)."""
    from app import outbox
    from app.repo import cids

    with outbox.step(actor="bench") as s:
        cids.repair(s.conn, key_type, s.now)


def setup(
    admin: Any, address: str, url: str, sizes: dict[str, int], divergences: int
) -> dict[str, Any]:
    """Load the simulator and our side for every key type of ``sizes``."""
    info: dict[str, Any] = {"load_s": 0.0, "fetch_s": 0.0, "copy_s": 0.0, "insert_s": 0.0}
    before = admin.get_stats().rss_bytes
    files = {}
    for kt, n in sizes.items():
        t0 = time.perf_counter()
        admin.load_entries(OURS, n, kt, seed=11, timeout_s=1800)
        info["load_s"] += time.perf_counter() - t0
        log(f"simulator: {n:,} {kt} entries in {time.perf_counter() - t0:.1f} s")
        path, lines, seconds = fetch_file(address, kt)
        assert lines == n, (lines, n)
        info["fetch_s"] += seconds
        files[kt] = (path, lines)
        log(f"CID file of {kt} fetched: {path.stat().st_size:,} bytes in {seconds:.1f} s")
    stats = admin.get_stats()
    info["sim_rss_before"], info["sim_rss"], info["sim_entries"] = (
        before,
        stats.rss_bytes,
        stats.entries,
    )
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn, bulk_cids(conn):
        for kt, (path, lines) in files.items():
            got = load_ours(conn, kt, path, lines, divergences)
            info["copy_s"] += got["copy_s"]
            info["insert_s"] += got["insert_s"]
            path.unlink()
            log(f"our cids of {kt}: COPY {got['copy_s']:.1f} s, insert {got['insert_s']:.1f} s")
    info["ours_s"] = time.perf_counter() - t0
    for kt in sizes:
        repair_vsyncs(kt)
    info["setup_s"] = info["load_s"] + info["fetch_s"] + time.perf_counter() - t0
    log(f"our side loaded and vsyncs repaired in {time.perf_counter() - t0:.1f} s")
    return info


# ------------------------------------------------------------------ 1. recompute


def bench_recompute(url: str, key_type: str, n: int, repeat: int) -> list[str]:
    from app import db
    from app.repo import cids

    times = []
    with db.connect(url) as conn:
        kept = cids.vsync(conn, key_type)
        for _ in range(repeat):
            t0 = time.perf_counter()
            value = cids.recompute(conn, key_type)
            times.append(time.perf_counter() - t0)
            assert value == kept, (value, kept)
        count_s = _timed(conn, "SELECT count(*) FROM cids WHERE key_type = %s", key_type, repeat)
        xor_s = _timed(
            conn,
            "SELECT bit_xor(('x' || cid)::bit(256)) FROM cids WHERE key_type = %s",
            key_type,
            repeat,
        )
        shards_s = _timed(conn, db.q("cids.recompute_shards"), {"key_type": key_type}, repeat)
        decode_s = _timed(
            conn,
            "SELECT bit_xor(('x' || substr(cid, 1, 16))::bit(64)::bigint) FROM cids "
            "WHERE key_type = %s",
            key_type,
            repeat,
        )
        plan = [
            r["QUERY PLAN"]
            for r in conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + db.q("cids.recompute"),
                {"key_type": key_type},
            )
        ]
        size = conn.execute("SELECT pg_size_pretty(pg_table_size('cids')) AS s").fetchone()
    best, median = min(times), statistics.median(times)
    lines = [
        f"- `cids.recompute` of {n:,} {key_type} CIDs ({n + 0:,} rows of `cids`, "
        f"{size['s'] if size else '?'}): best **{best:.1f} s**, median {median:.1f} s over "
        f"{repeat} (target ≤ 20 s); equal to the VSync kept in `vsyncs`.",
        f"- Ceiling, same table, same run (best of {repeat}): `SELECT count(*)` "
        f"{count_s:.1f} s; the bare XOR of every CID in one statement "
        f"(`bit_xor(('x' || cid)::bit(256))`) {xor_s:.1f} s; XOR of the first 64 bits "
        f"only, as bigint, {decode_s:.1f} s. recompute / count(*): "
        f"{best / count_s:.1f}x. The per-shard XOR that `cids.repair` runs "
        f"(`cids.recompute_shards`, GROUP BY shard): {shards_s:.1f} s.",
        "",
        "Plan of `cids.recompute` (last run):",
        "",
        "```",
        *plan,
        "```",
    ]
    log(*lines[:2], sep="\n")
    return lines


def _timed(conn: Any, query: str, arg: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        conn.execute(query, arg if isinstance(arg, dict) else (arg,)).fetchall()
        best = min(best, time.perf_counter() - t0)
    return best


# ------------------------------------------------------------------ 2. compare


def start_run(key_type: str) -> int:
    from app import outbox
    from statemachines import sync_run

    with outbox.step(actor="bench") as s:
        runs = sync_run.start(s, [key_type], "requested", requested_by="bench")
    assert runs, f"a run of {key_type} is already open"
    return runs[0].id


STOP = ("awaiting_approval", "reconciling", "ok", "failed", "rejected")


def drive(run_id: int) -> None:
    """(Subprocess.) The run's actors as functions until it has compared; prints JSON:
    each actor run, the time inside download / COPY / each range, VmHWM."""
    import actors  # noqa: F401  (the broker and middleware, as in a worker process)
    from actors import sync as a
    from app import db
    from app.repo import sync_runs

    inner: list[tuple[str, float]] = []

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                inner.append((name, time.perf_counter() - t0))

        return wrapper

    from actors.entries import client

    a._download = timed("download", a._download)
    sync_runs.stage = timed("copy", sync_runs.stage)
    sync_runs.compare_shard = timed("range", sync_runs.compare_shard)
    client().create_cid_set_file = timed(  # type: ignore[method-assign]
        "create_file", client().create_cid_set_file
    )
    by_status = {"verifying": a.verify_sync, "collecting": a.collect_sync}
    by_status["comparing"] = a.compare_sync
    steps = []
    while True:
        with db.pool().connection() as conn:
            r = sync_runs.get(conn, run_id)
        assert r is not None
        if r.status in STOP:
            break
        inner.clear()
        t0 = time.perf_counter()
        by_status[r.status].fn(run_id)
        steps.append(
            {
                "actor": by_status[r.status].actor_name,
                "seconds": time.perf_counter() - t0,
                "inner": list(inner),
                "hwm_kib": status_kib("self", "VmHWM"),
            }
        )
    print(
        "DRIVE "
        + json.dumps({"status": r.status, "steps": steps, "hwm_kib": status_kib("self", "VmHWM")}),
        flush=True,
    )


def compare_driver(env: dict[str, str], run_id: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(Path(__file__)), "--drive", str(run_id)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    total = time.perf_counter() - t0
    line = next((x for x in out.stdout.splitlines() if x.startswith("DRIVE ")), None)
    if line is None:
        raise RuntimeError(f"driver failed:\n{out.stdout}\n{out.stderr}")
    got: dict[str, Any] = json.loads(line[6:])
    got["process_s"] = total
    return got


def compare_worker(env: dict[str, str], url: str, key_type: str) -> dict[str, Any]:
    """The real worker: from the run's start to its leaving comparing."""
    with worker(env) as proc:
        time.sleep(3)  # its processes up (the run would only wait in Redis meanwhile)
        t0 = time.perf_counter()
        run_id = start_run(key_type)
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                status = _scalar(
                    conn,
                    "SELECT status FROM sync_runs WHERE id = %s",
                    (run_id,),
                )
                if status in STOP:
                    break
                if time.perf_counter() - t0 > 1800:
                    raise RuntimeError(f"run {run_id} still {status} after 30 minutes")
                time.sleep(0.2)
            elapsed = time.perf_counter() - t0
            largest, total = peak_kib(proc.pid)
            for _ in range(300):  # the last message's row is finished after its commit
                pending = _scalar(
                    conn,
                    "SELECT count(*) FROM outbox WHERE subject = %s AND kind <> 'event' "
                    "AND finished_at IS NULL",
                    (f"sync_run:{run_id}",),
                )
                if not pending:
                    break
                time.sleep(0.1)
            started = _scalar(
                conn,
                "SELECT started_at FROM sync_runs WHERE id = %s",
                (run_id,),
            )
            tasks = conn.execute(
                "SELECT actor, deliver_at, finished_at, status, attempts, last_error FROM outbox "
                "WHERE subject = %s AND kind <> 'event' ORDER BY id",
                (f"sync_run:{run_id}",),
            ).fetchall()
    # An actor message starts when it is due or when the previous one of the run ended,
    # whichever is later (the worker is otherwise idle, the run's messages are one after
    # another). state_history's "at" is the start of each step's transaction, not its
    # commit, so the phases are read from the messages' ends instead.
    runs, previous = [], started
    for actor, due, finished, status_, attempts, error in tasks:
        if finished is None:
            continue
        begin = max(due, previous)
        runs.append((actor, (finished - begin).total_seconds(), status_, attempts, error))
        previous = finished
    end = {actor: finished for actor, _due, finished, *_ in tasks if finished is not None}
    return {
        "run_id": run_id,
        "status": status,
        "elapsed_s": elapsed,
        "largest_kib": largest,
        "sum_kib": total,
        "runs": runs,
        "collect_s": (end["collect_sync"] - end["verify_sync"]).total_seconds(),
        "compare_s": (end["compare_sync"] - end["collect_sync"]).total_seconds(),
        "total_s": (end["compare_sync"] - started).total_seconds(),
    }


def ceilings(url: str, key_type: str, path: Path) -> dict[str, float]:
    """The same bytes COPYed bare into an unlogged table, and one FULL JOIN of them
    with our CIDs in psql (the divergences counted)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE UNLOGGED TABLE IF NOT EXISTS bench_file (cid text COLLATE "C")')
        conn.execute("TRUNCATE bench_file")
        copy_s = copy_file(conn, "bench_file", path)
        conn.execute("ANALYZE bench_file")
    join = (
        "SELECT count(*) FROM bench_file d FULL JOIN "
        f"(SELECT cid FROM cids WHERE key_type = '{key_type}') o ON o.cid = d.cid "
        "WHERE o.cid IS NULL OR d.cid IS NULL"
    )
    out = subprocess.run(
        ["psql", url, "-At", "-c", "SET work_mem = '64MB'", "-c", "\\timing on", "-c", join],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ms = float(re.findall(r"Time: ([\d.]+) ms", out)[-1])
    found = int(next(x for x in out.splitlines() if x.strip().isdigit()))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_file")
    return {"copy_s": copy_s, "join_s": ms / 1000, "join_found": found}


def bench_compare(
    admin: Any, address: str, url: str, env: dict[str, str], key_type: str, n: int, how: str
) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        ours = _scalar(
            conn,
            "SELECT count(*) FROM cids WHERE key_type = %s",
            (key_type,),
        )
    lines: list[str] = []
    modes = how.replace("both", "driver,worker").split(",")
    unknown = set(modes) - {"driver", "worker"}
    if unknown:
        raise SystemExit(f"--compare-with: no mode {', '.join(sorted(unknown))}")
    for mode in modes:
        shown = len(lines)
        _close_open_runs(key_type)
        if mode == "driver":
            run_id = start_run(key_type)
            got = compare_driver(env, run_id)
            lines += _driver_lines(got, n, ours)
        else:
            got = compare_worker(env, url, key_type)
            run_id = got["run_id"]
            lines += _worker_lines(got)
        with psycopg.connect(url, autocommit=True) as conn:
            found: dict[str, int] = dict(
                conn.execute(
                    "SELECT side, count(*) FROM sync_divergences WHERE run_id = %s GROUP BY side",
                    (run_id,),
                ).fetchall()
            )
        lines.append(
            f"  Divergences found: {sum(found.values()):,} "
            f"({found.get('dict_only', 0):,} only in the DICT's file, "
            f"{found.get('ours_only', 0):,} only ours); run {run_id} ended `{got['status']}`."
        )
        log("", *lines[shown:], sep="\n")
    path, lines_in_file, fetch_s = fetch_file(address, key_type)
    try:
        ceil = ceilings(url, key_type, path)
    finally:
        path.unlink()
    stats = admin.get_stats()
    lines += [
        f"- Ceiling, same run: the bare COPY of the same {lines_in_file:,} lines "
        f"({lines_in_file * 65 / 2**20:,.0f} MiB) into an unlogged table: "
        f"**{ceil['copy_s']:.1f} s**; the bench's own download of the file (Create + Get + "
        f"Download, into a file): {fetch_s:.1f} s; one FULL JOIN of it with our CIDs in psql "
        f"(work_mem 64MB, {ceil['join_found']:,} rows out): **{ceil['join_s']:.1f} s**.",
        f"- Simulator RSS at the end: {stats.rss_bytes / 2**30:.2f} GiB with "
        f"{stats.entries:,} entries and its CID files.",
    ]
    log("", *lines[-2:], sep="\n")
    return lines


def _close_open_runs(key_type: str) -> None:
    """A run left open by an earlier mode is abandoned (one open run per key type)."""
    from app import db, outbox
    from statemachines import sync_run

    with db.pool().connection() as conn:
        open_ids = [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM sync_runs WHERE key_type = %s AND finished_at IS NULL",
                (key_type,),
            )
        ]
    for run_id in open_ids:
        with outbox.step(actor="bench") as s:
            sync_run.abandon(s, run_id, "bench", "the next measurement")


def _driver_lines(got: dict[str, Any], n: int, ours: int) -> list[str]:
    steps = got["steps"]

    def inner(name: str) -> float:
        return float(sum(s for st in steps for k, s in st["inner"] if k == name))

    def actor(name: str) -> list[float]:
        return [st["seconds"] for st in steps if st["actor"] == name]

    verify, collect, compare = actor("verify_sync"), actor("collect_sync"), actor("compare_sync")
    stage = collect[-1] if collect else float("nan")
    longest = max(steps, key=lambda st: st["seconds"])
    ranges = [s for st in steps for k, s in st["inner"] if k == "range"]
    phases = sum(collect) + sum(compare)
    return [
        f"- Functions mode (the actors called in turn in one subprocess), {n:,} CIDs in the "
        f"DICT's file, {ours:,} ours: collect + compare **{phases:.1f} s** (target ≤ 60 s); "
        f"peak RSS of the process **{got['hwm_kib'] / 1024:.0f} MiB** (target ≤ 1 GB).",
        f"  - verify_sync (NOK): {sum(verify):.2f} s.",
        f"  - collect_sync: {len(collect)} runs, {sum(collect):.1f} s: CreateCidSetFile "
        f"{inner('create_file'):.1f} s; the run that stages: **{stage:.1f} s** = download "
        f"(stream to a temporary file, SHA-256, size) **{inner('download'):.1f} s** + COPY "
        f"into dict_cids **{inner('copy'):.1f} s** + commit.",
        f"  - compare_sync: {len(compare)} runs, **{sum(compare):.1f} s**, the 16 ranges "
        f"{sum(ranges):.1f} s (each {min(ranges, default=0):.1f} to "
        f"{max(ranges, default=0):.1f} s).",
        f"  - Longest single actor run: **{longest['seconds']:.1f} s** "
        f"({longest['actor']}); all runs: "
        + ", ".join(f"{st['actor'].split('_')[0]} {st['seconds']:.1f}" for st in steps)
        + ".",
    ]


def _worker_lines(got: dict[str, Any]) -> list[str]:
    runs = got["runs"]
    longest = max(runs, key=lambda r: r[1])
    trouble = [r for r in runs if r[2] != "done" or r[3] != 1 or r[4]]
    return [
        f"- Worker mode (`dict-connect worker`, 2 processes × 8 threads, idle otherwise): "
        f"start → compared **{got['total_s']:.1f} s**; collect {got['collect_s']:.1f} s "
        f"(its first poll waits 5 s), compare **{got['compare_s']:.1f} s**; peak RSS of "
        f"the largest worker process **{got['largest_kib'] / 1024:.0f} MiB** (all its "
        f"processes: {got['sum_kib'] / 1024:.0f} MiB).",
        "  - Actor messages, each from max(due, previous one's end) to its end (s): "
        + ", ".join(f"{r[0].split('_')[0]} {r[1]:.1f}" for r in runs)
        + f"; longest **{longest[1]:.1f} s** ({longest[0]})"
        + (f"; not done at the first attempt: {trouble}" if trouble else "; no error or retry")
        + ".",
    ]


# ------------------------------------------------------------------ 3. daily


def bench_daily(env: dict[str, str], url: str, admin: Any) -> dict[str, Any]:
    from actors import sync as a
    from app import clock, db
    from app.repo import cids

    with db.connect(url) as conn:
        for kt in KEY_TYPES:  # in sync before the runs: each should answer OK
            ours, theirs = cids.vsync(conn, kt), admin.get_vsync(OURS, kt).vsync
            assert ours == theirs, (kt, ours, theirs)
    with worker(env) as proc:
        time.sleep(3)
        t0 = time.perf_counter()
        runs = a.start_due(clock.now())
        assert len(runs) == len(KEY_TYPES), runs
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                rows = conn.execute(
                    "SELECT key_type, status FROM sync_runs WHERE id = ANY(%s)",
                    ([r.id for r in runs],),
                ).fetchall()
                if all(s in STOP for _, s in rows):
                    break
                if time.perf_counter() - t0 > 900:
                    raise RuntimeError(f"runs still open after 15 minutes: {rows}")
                time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        largest, _ = peak_kib(proc.pid)
    return {"elapsed_s": elapsed, "statuses": dict(rows), "largest_kib": largest}


# ------------------------------------------------------------------ main


def prepare(db_name: str) -> str:
    import redis

    from app import db, settings

    db.close_pool()  # the pool of a previous part's database
    url = fresh_database(db_name)
    os.environ.update(DATABASE_URL=url, REDIS_URL=REDIS_URL, PARTICIPANT_ISPB=OURS)
    settings.reset()
    redis.Redis.from_url(REDIS_URL).flushdb()
    return url


def code_version() -> str:
    """The commit measured (BENCH_COMMIT when run from an exported copy), and whether the
    service's code had uncommitted changes."""
    if os.environ.get("BENCH_COMMIT"):
        return f"commit {os.environ['BENCH_COMMIT']} (an exported copy, nothing uncommitted)"
    git = ["git", "-C", str(ROOT)]
    rev = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "app", "actors", "statemachines", "sql", "simulator"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"commit {rev.stdout.strip() or '?'}" + (" + uncommitted changes" if dirty else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cids", type=int, default=10_000_000, help="CIDs of the key type (1, 2)")
    p.add_argument("--key-type", default="EVP")
    p.add_argument("--divergences", type=int, default=1000)
    p.add_argument("--daily-keys", type=int, default=2_000_000, help="per key type (3)")
    p.add_argument("--parts", default="recompute,compare,daily")
    p.add_argument(
        "--compare-with",
        default="driver",
        help="comma-separated: driver (the actors as functions), worker (the real worker)",
    )
    p.add_argument("--repeat", type=int, default=3, help="recompute and its ceilings")
    p.add_argument("--db", default="bench_sync")
    p.add_argument("--no-record", action="store_true", help="print only")
    p.add_argument("--drive", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.drive:
        drive(a.drive)
        return 0
    parts = set(a.parts.split(","))
    command = (
        f"`python tests/bench/bench_sync.py --cids {a.cids} --divergences {a.divergences} "
        f"--daily-keys {a.daily_keys} --parts {a.parts} --compare-with {a.compare_with}`"
    )
    head = (
        f"Machine: {machine()}, {memory()}. Code: {code_version()}. Command: {command} "
        "(`make bench-sync`)."
    )
    titles = {
        "recompute": "Sync: VSync recomputed from every CID (issue 10)",
        "compare": "Sync: a CID file compared with our CIDs (issue 10)",
        "daily": "Sync: the daily run of five key types (issue 10)",
    }

    def done(part: str, lines: list[str]) -> None:
        """Record each part as soon as it is measured (a later part may fail)."""
        if not a.no_record:
            record(titles[part], [head, "", *lines, "", *NOTES.get(part, [])])

    if parts & {"recompute", "compare"}:
        url = prepare(a.db)
        port = free_port()
        env = environment(url, port)
        with simulator(env, port) as admin:
            info = setup(admin, f"127.0.0.1:{port}", url, {a.key_type: a.cids}, a.divergences)
            setup_line = (
                f"- Set-up: LoadEntries {info['load_s']:.1f} s; the CID file fetched "
                f"{info['fetch_s']:.1f} s; our `cids` (COPY {info['copy_s']:.1f} s, insert "
                f"{info['insert_s']:.1f} s, indexes, VACUUM ANALYZE, `vsyncs` repaired) "
                f"{info['ours_s']:.1f} s. Simulator RSS "
                f"**{info['sim_rss'] / 2**30:.2f} GiB** with {info['sim_entries']:,} entries "
                f"and one CID file (before: {info['sim_rss_before'] / 2**20:.0f} MiB)."
            )
            log(setup_line)
            if "recompute" in parts:
                done("recompute", bench_recompute(url, a.key_type, a.cids, a.repeat))
            if "compare" in parts:
                compared = bench_compare(
                    admin, f"127.0.0.1:{port}", url, env, a.key_type, a.cids, a.compare_with
                )
                done("compare", [setup_line, *compared])
    if "daily" in parts:
        url = prepare(a.db)
        port = free_port()
        env = environment(url, port)
        t0 = time.perf_counter()
        with simulator(env, port) as admin:
            info = setup(admin, f"127.0.0.1:{port}", url, dict.fromkeys(KEY_TYPES, a.daily_keys), 0)
            got = bench_daily(env, url, admin)
        total = time.perf_counter() - t0
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(got["statuses"].items()))
        daily = [
            f"- Five key types × {a.daily_keys:,} keys ({5 * a.daily_keys:,} CIDs), all in "
            f"sync: `start_due` (the daily slot) → all five `ok` **{got['elapsed_s']:.1f} s** "
            f"with the worker already up (target ≤ 5 min); {statuses}. Peak RSS of the "
            f"largest worker process {got['largest_kib'] / 1024:.0f} MiB.",
            f"- With the set-up, end to end (simulator start, LoadEntries of each key type, "
            f"its CID file fetched, our `cids` and `vsyncs` loaded, worker start, the runs): "
            f"**{total:.0f} s**; of which LoadEntries {info['load_s']:.0f} s, CID files "
            f"{info['fetch_s']:.0f} s, our side {info['ours_s']:.0f} s.",
        ]
        log(*daily, sep="\n")
        done("daily", daily)
    return 0


NOTES: dict[str, list[str]] = {
    "recompute": [
        "Before bea9e6a (22d1d8d, same machine, 2026-12-03), `recompute` grouped the XOR by",
        "shard (`('x' || substr(cid, 1, 1))::bit(4)::int`, as `cids.recompute_shards` still",
        "does): 10.5 s and 8.9 s in two runs, about twice the bare XOR. Now one `bit_xor`,",
        "at the bare-XOR ceiling; what is left is per row (hex text → bit(256), a new 32-byte",
        "value per `bit_xor` step), ~4-5x a `count(*)`, already in a parallel plan (2",
        "workers and the leader on 2 cores).",
        "`cids.repair` (only when the shards disagree with `cids`) still runs the per-shard",
        "query, inside the transaction that holds the key type's 16 `vsyncs` rows FOR UPDATE:",
        "every entry change of that key type waits that long (~8-9 s at 10M).",
    ],
    "compare": [
        "Before bea9e6a (22d1d8d and 9cd4ece, same machine, 2026-12-03), the target was",
        "missed: collect + compare 70.6 s and 83.6 s (functions), 72.1 s (worker); the 16",
        "ranges 49.6-61.4 s, 2.6-4.7 s each. Each range read the whole staged partition",
        "(no index, file order: `Rows Removed by Filter: 9,374,720`) and, for `entry_id`",
        "and `added_at`, a bitmap heap scan of `cids` that touched 168,337 of its ~172,000",
        "pages (its heap is in entry order, not CID order): 16 passes over both tables.",
        "Measured on the same 10M rows in psql, one range: 3.2 s as it was (8.3 s for the",
        "first range after the COPY: hint bits); 1.9 s with the staged file split in 16",
        "range partitions; 2.1 s joining on `cid` alone (index-only scan of `cids_pkey`,",
        "`entry_id`/`added_at` read for the divergent CIDs only); **1.2 s with both**, which",
        "is what bea9e6a ships. An index on the staged file instead costs 14.8 s to build.",
        "",
        "Where the time goes now: the staging COPY (routing each line to one of the 16",
        "range partitions; the bare COPY into one unlogged table is the ceiling above), the",
        "download (SHA-256 + temporary file), CreateCidSetFile (the simulator builds the",
        "file synchronously: hex and SHA-256 of every CID; the DICT does it asynchronously),",
        "and 16 hash full joins of ~625,000 CIDs a side. The longest actor run is the",
        "staging collect_sync or the one compare_sync that does all 16 ranges (its budget",
        "of 20 s is checked after each range): 20-24 s here, under the ~30 s design point.",
        "Staging is one step whatever its length (the file's SHA-256 is checked before its",
        "first line is staged) and grows ~1.5-2 s per million CIDs on this machine, against",
        "its own STAGE_TIME_LIMIT_MS of 300 s.",
        "Peak RSS stays flat (~75 MiB a process, the same at 100,000 CIDs): the file is",
        "streamed to a temporary file (650 MB on /tmp for 10M CIDs) and COPYed 1 MiB at a",
        "time. The index-only scan relies on `cids`'s visibility map (autovacuum; the bench",
        "vacuums after its bulk load).",
        "Run-to-run spread on this shared 2-core machine is ±20 %; the other engineer's",
        "test runs share PostgreSQL and the CPUs (the load average is recorded above).",
    ],
    "daily": [
        "An all-OK daily run is one verify_sync per key type: the VSync kept in `vsyncs`",
        "(16 rows per key type, O(1)) and one CreateSyncVerification, whatever the base's",
        "size; the set-up (generating the DICT's side, loading ours) is nearly all of the",
        "end-to-end time. `start_due` is called in the bench process instead of waiting for",
        "the scheduler's minute tick (the cron only adds that wait).",
    ],
}


if __name__ == "__main__":
    raise SystemExit(main())
