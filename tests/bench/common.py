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
