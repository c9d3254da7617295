"""Shared helpers of the benchmarks: a fresh database, the machine, the results file."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "benchmarks.md"
ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def fresh_database(name: str) -> str:
    """Drop and create ``name``, migrate it, return its URL."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    from app.migrate import migrate

    migrate(url)
    return url


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {pg}, "
        f"{datetime.now(UTC):%Y-%m-%d}"
    )


def record(section: str, lines: list[str]) -> None:
    """Replace (or append) ``## section`` in docs/benchmarks.md."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmarks\n\nFigures measured by `tests/bench/`; each section says how to rerun it.\n"
    )
    block = f"## {section}\n\n" + "\n".join(lines).rstrip() + "\n"
    start = text.find(f"## {section}\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + block + ("\n" + text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS.write_text(text)
    print(block)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def free_port() -> int:
    """A TCP port free on the loopback now (for a simulator a bench starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory() -> str:
    """The machine's RAM and the load average before a run (figures move with both)."""
    total = "? GiB"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = f"{int(line.split()[1]) / 2**20:.0f} GiB"
                break
    except OSError:
        pass
    one, five, _ = os.getloadavg()
    return f"{total} RAM, load average {one:.2f} / {five:.2f} (1 / 5 min) before the run"


def status_kib(pid: int | str, field: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (``VmHWM``: peak RSS; ``VmRSS``: now);
    0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (Dramatiq's worker processes and their forks)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found
