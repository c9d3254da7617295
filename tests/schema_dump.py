"""``sql/schema.sql``: the schema the migrations build, as one file a person can read.

    python -m tests.schema_dump --write    # after adding a migration (``make schema``)

It migrates a fresh database, dumps its schema with ``pg_dump`` (the server's own
version), and keeps the statements and the ``COMMENT ON`` texts that document each
status; ``tests/integration/spine/test_schema.py`` fails when the file and a freshly
migrated database differ.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "sql" / "schema.sql"
ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HEADER = """\
-- The schema of dict-connect as sql/migrations build it (generated: do not edit; run
-- `make schema` after adding a migration, and a test keeps this file current).
-- The status of each machine, and which component moves a row out of each status, is
-- in the COMMENT ON COLUMN <table>.status below.
"""
_NOISE = re.compile(r"^(--|SET |SELECT pg_catalog\.set_config|\\(un)?restrict\b)")


def normalise(dump: str) -> str:
    """pg_dump's output without its session settings, banners and blank runs."""
    lines = [line for line in dump.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return f"{HEADER}\n{text}\n"


MONTHLY_PARTITIONS = "public.*_y[0-9][0-9][0-9][0-9]m[0-9][0-9]"
"""Partitions named by month (state_history's, made by migration 0022 for the month it
runs in and the next 3): the schema is the same whatever month it was built in."""


def dump(url: str) -> str:
    out = subprocess.run(
        [
            "pg_dump",
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            f"--exclude-table={MONTHLY_PARTITIONS}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return normalise(out.stdout)


def fresh_schema() -> str:
    """Migrate a new database, dump it, drop it."""
    from app.migrate import migrate

    name = f"dc_schema_{uuid.uuid4().hex[:8]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate(url)
        return dump(url)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    text = fresh_schema()
    if "--write" in sys.argv:
        SCHEMA.write_text(text)
        print(f"wrote {SCHEMA.relative_to(ROOT)}")
    else:
        sys.stdout.write(text)
