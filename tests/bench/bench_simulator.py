"""The DICT simulator under load: unary calls over DictClient, and a 10-million-entry base.

    python tests/bench/bench_simulator.py [--calls 20000] [--threads 16] [--load 10000000]

Targets: CreateEntry and GetEntry each >= 3,000 calls/s with p99 <= 20 ms, measured
over the client on loopback; LoadEntries of 10,000,000 entries in <= 120 s within
4 GB RSS. The simulator runs as its own process (``python -m app.bridge.simulator``)
with rate limits on (the calls fit in category A's buckets); the bench drives it
from threads sharing DictClients, as the worker's threads do.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.bridge import dict_bridge_pb2 as pb  # noqa: E402
from app.bridge.client import DictClient  # noqa: E402
from app.bridge.simulator.admin_client import AdminClient  # noqa: E402
from app.domain import problems  # noqa: E402
from app.domain.fixtures import make_cpf  # noqa: E402
from tests.bench.common import machine, percentile, record  # noqa: E402

OURS, OTHER = "12345678", "87654321"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.bridge.simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--participants",
                f"{OURS}:A,{OTHER}:A",
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
    with AdminClient(f"127.0.0.1:{port}", timeout_s=2) as admin:
        deadline = time.monotonic() + 30
        while True:
            try:
                admin.get_clock()
                return proc
            except problems.DictProblem:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"simulator did not start: {log.read_text()}") from None
                time.sleep(0.1)


def create_request(i: int) -> pb.CreateEntryRequest:
    """The i-th EVP entry, each on its own account (no key limit is reached)."""
    account = pb.Account(
        participant=OURS, branch="1", account_number=str(100_000 + i), account_type="CACC"
    )
    account.opening_date.FromJsonString("2020-03-01T03:00:00Z")
    owner = pb.Owner(type="NATURAL_PERSON", tax_id_number=make_cpf(i), name="Maria da Silva")
    return pb.CreateEntryRequest(
        entry=pb.Entry(key_type="EVP", account=account, owner=owner),
        reason="USER_REQUESTED",
        request_id=str(_uuid4()),
    )


def _uuid4() -> str:
    import uuid

    return str(uuid.uuid4())


def drive(
    clients: list[DictClient],
    requests: list[Any],
    call: Callable[[DictClient, Any], Any],
    threads: int,
) -> tuple[float, list[float], list[Any]]:
    """Send every request from ``threads`` threads; (seconds, latencies, answers)."""
    latencies: list[float] = []
    answers: list[Any] = [None] * len(requests)
    failures: list[BaseException] = []
    lock = threading.Lock()
    cursor = iter(range(len(requests)))

    def work(client: DictClient) -> None:
        mine = []
        while (i := _next(cursor, lock)) is not None:
            started = time.perf_counter()
            try:
                answers[i] = call(client, requests[i])
            except problems.DictProblem as exc:
                failures.append(exc)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [
        threading.Thread(target=work, args=(clients[k % len(clients)],)) for k in range(threads)
    ]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} calls failed, e.g. {failures[0]!r}")
    return elapsed, latencies, answers


def _next(cursor: Iterator[int], lock: threading.Lock) -> int | None:
    with lock:
        return next(cursor, None)


def summary(name: str, elapsed: float, latencies: list[float]) -> tuple[str, float, float, float]:
    rate = len(latencies) / elapsed
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    line = (
        f"- {name}: **{rate:,.0f} calls/s**, p50 {p50:.1f} ms, **p99 {p99:.1f} ms** "
        f"({len(latencies):,} calls)"
    )
    print(line, flush=True)
    return line, rate, p50, p99


def bench_calls(address: str, calls: int, threads: int, channels: int) -> list[str]:
    clients = [DictClient(address, OURS, timeout_s=30) for _ in range(channels)]
    try:
        warm = [create_request(10_000_000 + i) for i in range(500)]
        drive(clients, warm, lambda c, r: c.create_entry(r), threads)
        creates = [create_request(i) for i in range(calls)]
        elapsed, lat, answers = drive(clients, creates, lambda c, r: c.create_entry(r), threads)
        lines = [summary("CreateEntry", elapsed, lat)[0]]
        gets = [pb.GetEntryRequest(key=a.entry.entry.key) for a in reversed(answers)]
        elapsed, lat, _ = drive(clients, gets, lambda c, r: c.get_entry(r), threads)
        lines.append(summary("GetEntry", elapsed, lat)[0])
        return lines
    finally:
        for c in clients:
            c.close()


def bench_load(address: str, count: int) -> list[str]:
    with AdminClient(address, timeout_s=900) as admin:
        before = admin.get_stats()
        started = time.perf_counter()
        admin.load_entries(OTHER, count, "EVP", seed=7)
        elapsed = time.perf_counter() - started
        stats = admin.get_stats()
        assert admin.get_vsync(OTHER, "EVP").count == count
    gib = stats.rss_bytes / 2**30
    lines = [
        f"- LoadEntries of {count:,} EVP entries: **{elapsed:.1f} s** "
        f"({count / elapsed:,.0f} entries/s); simulator RSS **{gib:.2f} GiB** with "
        f"{stats.entries:,} entries (RSS before: {before.rss_bytes / 2**20:.0f} MiB)",
        _probe_base(address),
    ]
    print(*lines, sep="\n", flush=True)
    return lines


def _probe_base(address: str) -> str:
    """Single calls against the big base: a lookup, a worst-case CID lookup (a miss
    scans every CID), and a CID file of the whole base (hex + SHA-256 up front)."""
    with DictClient(address, OTHER, timeout_s=600) as client:
        t0 = time.perf_counter()
        with contextlib.suppress(problems.NotFound):
            client.get_entry_by_cid(pb.GetEntryByCidRequest(cid="ab" * 32))
        t1 = time.perf_counter()
        client.create_cid_set_file(pb.CreateCidSetFileRequest(participant=OTHER, key_type="EVP"))
        t2 = time.perf_counter()
    return (
        f"- Against that base: GetEntryByCid miss (full scan) {(t1 - t0) * 1000:.0f} ms; "
        f"CreateCidSetFile of all of it {t2 - t1:.1f} s"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--load", type=int, default=10_000_000)
    p.add_argument("--no-record", action="store_true", help="print only")
    args = p.parse_args()
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-simulator-{port}.log"
    proc = start_simulator(port, log)
    address = f"127.0.0.1:{port}"
    try:
        lines = bench_calls(address, args.calls, args.threads, args.channels)
        if args.load:
            lines += bench_load(address, args.load)
    finally:
        proc.terminate()
        proc.wait(60)
    if not args.no_record:
        record(
            "DICT simulator",
            [
                f"Machine: {machine()}. Command: `python tests/bench/bench_simulator.py "
                f"--calls {args.calls} --threads {args.threads} --channels {args.channels} "
                f"--load {args.load}` (simulator and bench on the same machine, loopback).",
                "",
                *lines,
            ],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
