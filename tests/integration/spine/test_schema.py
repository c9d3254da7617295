"""sql/schema.sql is the schema the migrations build: a readable file kept current."""

from __future__ import annotations

import difflib
import shutil

import pytest

from tests import schema_dump


def test_schema_sql_is_what_the_migrations_build(database_url: str) -> None:
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    built = schema_dump.dump(database_url)  # a fresh database, migrated from the template
    committed = schema_dump.SCHEMA.read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            built.splitlines(keepends=True),
            "sql/schema.sql",
            "migrated",
        )
    )
    assert not diff, f"sql/schema.sql is stale: run `make schema`\n{diff[:4000]}"


def test_every_status_column_documents_its_states() -> None:
    text = schema_dump.SCHEMA.read_text()
    for table in ("entries", "claims", "outbox"):
        assert f"COMMENT ON COLUMN public.{table}.status IS" in text, table
