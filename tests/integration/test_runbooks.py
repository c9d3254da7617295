"""Every SQL block of docs/runbooks runs through psql against a migrated database."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
BLOCKS = [
    (p.name, i, block)
    for p in sorted(RUNBOOKS.glob("*.md"))
    for i, block in enumerate(re.findall(r"```sql\n(.*?)```", p.read_text(), re.S))
]


@pytest.mark.parametrize(
    ("runbook", "index", "sql"), BLOCKS, ids=[f"{r}#{i}" for r, i, _ in BLOCKS]
)
def test_runbook_sql_runs(database_url: str, runbook: str, index: int, sql: str) -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    out = subprocess.run(
        ["psql", database_url, "-X", "-v", "ON_ERROR_STOP=1", "-q"],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_there_are_runbooks() -> None:
    assert len(BLOCKS) >= 4
