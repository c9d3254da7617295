"""The DICT simulator under load: unary calls over DictClient, and a 10-million-entry base.

    python tests/bench/bench_simulator.py [--calls 20000] [--threads 16] [--load 10000000]

Targets: CreateEntry and GetEntry each >= 3,000 calls/s with p99 <= 20 ms, measured
over the client on loopback; LoadEntries of 10,000,000 entries in <= 120 s within
4 GB RSS. The simulator runs as its own process (``python -m simulator``)
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
from app.domain import problems  # noqa: E402
from app.domain.fixtures import make_cpf  # noqa: E402
from simulator.admin_client import AdminClient  # noqa: E402
from tests.bench.common import machine, percentile, record  # noqa: E402

OURS, OTHER = "12345678", "87654321"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_process(
    argv: list[str], log: Path, address: str, cpus: set[int] | None
) -> subprocess.Popen[bytes]:
    """Start a server process (on ``cpus`` when given: every thread it starts inherits
    them) and wait until it answers a DictBridge call."""
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=out, preexec_fn=pin)
    with DictClient(address, OURS, timeout_s=2) as client:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.get_entry(lookup("+5511900000000", 0))
                return proc
            except problems.NotFound:
                return proc
            except problems.DictProblem:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"server did not start: {log.read_text()}") from None
                time.sleep(0.2)


def simulator_argv(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--participants",
        f"{OURS}:A,{OTHER}:A",
        "--log-level",
        "WARNING",
    ]


def serve_canned(port: int) -> None:
    """The floor: the same gRPC server setup answering fixed messages, no DICT logic."""
    from concurrent import futures

    import grpc

    from app.bridge import dict_bridge_pb2_grpc as pb_grpc

    created = create_request(0)
    entry = pb.ExtendedEntry(entry=created.entry)
    entry.entry.key = "0b6f6a0e-7d2a-4c1a-9a36-4d7d0a7b6b1e"

    class Canned(pb_grpc.DictBridgeServicer):
        def CreateEntry(self, request: Any, context: Any) -> pb.CreateEntryResponse:
            return pb.CreateEntryResponse(entry=entry)

        def GetEntry(self, request: Any, context: Any) -> pb.GetEntryResponse:
            return pb.GetEntryResponse(entry=entry)

    server = grpc.server(futures.ThreadPoolExecutor(2))
    pb_grpc.add_DictBridgeServicer_to_server(Canned(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def lookup(key: str, i: int) -> pb.GetEntryRequest:
    """A lookup as the DICT demands one (PI-PayerId, PI-EndToEndId), by OTHER's i-th payer:
    each payer its own anti-scan bucket, as many payers as lookups."""
    return pb.GetEntryRequest(
        key=key, payer_id=make_cpf(i), end_to_end_id=f"E{OTHER}202612031200{i:011d}"
    )


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
    """CreateEntry as OURS, then GetEntry of those keys as OTHER (a participant never
    looks up its own keys: EntryCannotBeQueriedForBookTransfer)."""
    clients = [DictClient(address, OURS, timeout_s=30) for _ in range(channels)]
    payers_psp = [DictClient(address, OTHER, timeout_s=30) for _ in range(channels)]
    try:
        warm = [create_request(10_000_000 + i) for i in range(500)]
        drive(clients, warm, lambda c, r: c.create_entry(r), threads)
        creates = [create_request(i) for i in range(calls)]
        elapsed, lat, answers = drive(clients, creates, lambda c, r: c.create_entry(r), threads)
        lines = [summary("CreateEntry", elapsed, lat)[0]]
        gets = [lookup(a.entry.entry.key, i) for i, a in enumerate(reversed(answers))]
        elapsed, lat, _ = drive(payers_psp, gets, lambda c, r: c.get_entry(r), threads)
        lines.append(summary("GetEntry", elapsed, lat)[0])
        return lines
    finally:
        for c in clients + payers_psp:
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


def run(canned: bool, args: argparse.Namespace, load: int) -> list[str]:
    """Start the simulator (or the canned floor server), drive it, stop it. Pinned,
    the server owns one CPU and the bench the other while calls are measured (the
    scheduler then stops migrating their threads across CPUs); the load runs unpinned
    so that its worker processes get every CPU."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-simulator-{port}.log"
    argv = [sys.executable, str(Path(__file__)), "--canned-server", str(port)]
    everywhere = os.sched_getaffinity(0)
    server_cpus, bench_cpus = (
        ({max(everywhere)}, everywhere - {max(everywhere)}) if args.pin else (None, None)
    )
    proc = start_process(argv if canned else simulator_argv(port), log, address, server_cpus)
    try:
        if bench_cpus:
            os.sched_setaffinity(0, bench_cpus)
        lines = bench_calls(address, args.calls, args.threads, args.channels)
        os.sched_setaffinity(0, everywhere)
        if load:
            _unpin(proc.pid, everywhere)
            lines += bench_load(address, load)
        return lines
    finally:
        os.sched_setaffinity(0, everywhere)
        proc.terminate()
        proc.wait(60)


def _unpin(pid: int, cpus: set[int]) -> None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20_000, help="at most 35,000 (ENTRIES_WRITE)")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--load", type=int, default=10_000_000)
    p.add_argument("--no-floor", action="store_true", help="skip the canned-answer server")
    p.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the scheduler place server and bench (default: one CPU each)",
    )
    p.add_argument("--no-record", action="store_true", help="print only")
    p.add_argument("--canned-server", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.canned_server:
        serve_canned(args.canned_server)
        return 0
    print("simulator:", flush=True)
    lines = run(False, args, args.load)
    floor = []
    if not args.no_floor:
        print("floor (same server setup, canned answers):", flush=True)
        floor = run(True, args, 0)
    if not args.no_record:
        record(
            "DICT simulator",
            [
                f"Machine: {machine()}. Command: `python tests/bench/bench_simulator.py "
                f"--calls {args.calls} --threads {args.threads} --channels {args.channels} "
                f"--load {args.load}`: the simulator as its own process, the bench driving it "
                "over DictClient from threads, both on this machine (loopback).",
                "",
                *lines,
                "",
                "Floor: the same gRPC thread-pool server (2 handler threads) answering fixed "
                "messages, no DICT logic, same client and concurrency:",
                "",
                *[line.replace("- ", "- floor ", 1) for line in floor],
                "",
                *NOTES,
            ],
        )
    return 0


NOTES = [
    "Where the time goes (py-spy and perf on the simulator under CreateEntry load):",
    "",
    "- The server is one core: the GIL serialises the Python half of its CPU, about as",
    "  much gRPC's own Python server code as the simulator's; the other half is gRPC's C",
    "  core and the kernel. The floor above is that cost alone: ~200 µs of server CPU and",
    "  ~220 µs of bench (DictClient) CPU per call, so two cores top out near 4,000",
    "  calls/s whatever the simulator does.",
    "- GetEntry adds little to the floor (a dict lookup, a token bucket, the response).",
    "  CreateEntry does the DICT's work: validation by `app.domain.keys` (~30% of it),",
    "  the CID's HMAC, the idempotency memo, the key-limit count, the VSync and the",
    "  CID event, the token bucket: ~70 µs of CPU measured alone, about twice that",
    "  inside the loaded server (two busy CPUs, thread switches), hence its lower rate.",
    "- Choices that measured better here: gRPC's thread-pool server over grpc.aio",
    "  (~210 vs ~300 µs per call on the floor server), 2 handler threads (4, 8 and 16",
    "  lose to GIL contention), registered method handlers, responses filled in place",
    "  (3x cheaper than nested constructors), one clock read per bucket decision.",
    "- Figures move by ±30% from run to run on this shared 2-CPU machine: the load",
    "  average before the run is recorded above.",
    "- 10 million entries fit in a few hundred MB because LoadEntries entries are",
    "  recomputed from their key (only the 32-byte CID of each is stored); CIDs are",
    "  computed in worker processes, one per CPU.",
]


if __name__ == "__main__":
    raise SystemExit(main())
