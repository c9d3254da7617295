"""A donor burst: 10,000 claims on our keys created within a minute, all acknowledged?

    python tests/bench/bench_donor_burst.py [--claims 10000] [--worker-processes 2]

Real processes: simulator (list lag 5 s, like the DICT), worker, scheduler (the real
periodiq crons: relay, and a claims poll every 30 s). Another PSP creates the claims
through the simulator; we measure, per claim, the time from its creation in the DICT
to our acknowledgement (state_history), against the homologation's 60 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a file

from tests.bench.common import ROOT, fresh_database, machine, percentile, record

OURS, OTHER = "12345678", "87654321"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry(key: str, participant: str, tax_id: str, number: str):
    from app.bridge import dict_bridge_pb2 as pb

    account = pb.Account(
        participant=participant, branch="1", account_number=number, account_type="CACC"
    )
    account.opening_date.FromJsonString("2020-01-01T03:00:00Z")
    return pb.Entry(
        key_type="PHONE",
        key=key,
        account=account,
        owner=pb.Owner(type="NATURAL_PERSON", tax_id_number=tax_id, name="Ana Souza"),
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--claims", type=int, default=10_000)
    p.add_argument("--worker-processes", type=int, default=2)
    a = p.parse_args()
    url = fresh_database("dc_bench_burst")
    sim_port = _port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "BRIDGE_ADDRESS": f"127.0.0.1:{sim_port}",
        "PARTICIPANT_ISPB": OURS,
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import redis

    from app import settings
    from app.bridge import dict_bridge_pb2 as pb
    from app.bridge.client import DictClient
    from app.domain.fixtures import make_cpf
    from simulator.admin_client import AdminClient

    settings.reset()
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    logs = open("/tmp/bench-burst.log", "w")  # noqa: SIM115
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "simulator",
            "--port",
            str(sim_port),
            "--participants",
            f"{OURS}:A,{OTHER}:A",
            "--list-lag-seconds",
            "5",
            "--log-level",
            "WARNING",
        ],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    procs = [sim]
    try:
        admin = AdminClient(f"127.0.0.1:{sim_port}")
        for _ in range(100):
            try:
                admin.get_clock()
                break
            except Exception:
                time.sleep(0.2)
        keys = [f"+55119{i:08d}" for i in range(a.claims)]
        with ThreadPoolExecutor(16) as pool:  # our keys, on the DICT's side
            list(
                pool.map(
                    lambda i: admin.put_entry(
                        _entry(keys[i], OURS, make_cpf(10_000 + i), str(100_000 + i)),
                        str(uuid.uuid4()),
                    ),
                    range(a.claims),
                )
            )
        for _name, args in (
            ("worker", ["worker", "--processes", str(a.worker_processes), "--threads", "8"]),
            ("scheduler", ["scheduler"]),
        ):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "app.cli", *args],
                    env=env,
                    cwd=ROOT,
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                )
            )
        time.sleep(5)
        other = DictClient(f"127.0.0.1:{sim_port}", OTHER, timeout_s=10)
        claimer = pb.Account(participant=OTHER, branch="9", account_number="1", account_type="CACC")
        claimer.opening_date.FromJsonString("2020-01-01T03:00:00Z")

        def claim(key: str) -> None:
            other.create_claim(
                pb.CreateClaimRequest(
                    type="OWNERSHIP",
                    key=key,
                    key_type="PHONE",
                    claimer_account=claimer,
                    claimer=pb.Owner(
                        type="NATURAL_PERSON", tax_id_number="39053344705", name="Joana Pereira"
                    ),
                )
            )

        t0 = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(claim, keys))
        created_in = time.monotonic() - t0
        deadline = time.monotonic() + 300
        with psycopg.connect(url) as conn:
            while time.monotonic() < deadline:
                done = conn.execute(
                    "SELECT count(*) FROM claims WHERE role = 'DONOR' AND "
                    "status = 'waiting_resolution'"
                ).fetchone()[0]
                if done >= a.claims:
                    break
                time.sleep(2)
            lat = [
                r[0]
                for r in conn.execute(
                    "SELECT extract(epoch FROM h.at - c.created_at) FROM claims c "
                    "JOIN state_history h ON h.machine = 'claim' AND h.subject_id = c.id::text "
                    "AND h.trigger = 'acknowledged' WHERE c.role = 'DONOR'"
                )
            ]
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(30)
    lat = [float(x) for x in lat]
    within = sum(1 for x in lat if x <= 60)
    record(
        "Donor burst (issue 4)",
        [
            f"Machine: {machine()}. Command: `python tests/bench/bench_donor_burst.py --claims "
            f"{a.claims} --worker-processes {a.worker_processes}`.",
            "",
            f"- {a.claims:,} OWNERSHIP claims on our keys created by another PSP in "
            f"{created_in:.0f} s; simulator list lag 5 s; the real scheduler (poll every 15 s), "
            f"one worker ({a.worker_processes} processes × 8 threads).",
            f"- Acknowledged: **{len(lat):,}**; within 60 s of creation: **{within:,}** "
            f"({within / max(1, a.claims) * 100:.1f} %). Creation → acknowledgement: p50 "
            f"{percentile(lat, 50):.1f} s, p99 **{percentile(lat, 99):.1f} s**, max "
            f"{max(lat, default=float('nan')):.1f} s (target: all within 60 s).",
            "",
            *NOTES,
        ],
    )


NOTES = [
    "How (2026-12-04): the poll inserts each new OPEN donor claim with its",
    "`acknowledge_claim` outbox task in the page's transaction; the tasks go to the worker",
    "at the commit, grouped by the spine into messages of up to 50 rows (actors/batch.py),",
    "whose AcknowledgeClaim calls run 8 at a time and whose answers commit in one",
    "transaction. The poll acknowledges by itself only the open claims whose task died.",
    "",
    "Side by side on 2026-12-04, same machine, alternating: the acknowledgements inside the",
    "poll (16 calls at a time in a thread pool, one transaction each; 7b7e6fa in a",
    "worktree) p50 30.3 / 29.0 s, p99 46.1 / 45.7 s; the batched tasks p50 16.9 / 21.8 s,",
    "p99 25.6 / 31.2 s; all 10,000 within 60 s in all four runs. On 2026-12-03 (a slower",
    "day, claims created over 11 s) the in-poll design gave 69-72 % within 60 s, p99",
    "74-78 s. Before that (2026-11-22), one Dramatiq message per acknowledgement: p99",
    "48.7-69.1 s, the worker's ~170 messages/s the limit; the batch spine (issue 16) is",
    "what makes a task per claim cheap now.",
    "Where the rest goes: 5 s of list lag, up to 15 s until the next poll, reading 50",
    "pages of 200 (one transaction each), then the batches.",
]


if __name__ == "__main__":
    main()
