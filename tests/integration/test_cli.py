"""The operator commands: migrate and apikey."""

from __future__ import annotations

import subprocess
import sys

from app import db


def run(*args: str, env_url: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": env_url},
        check=False,
    )


def test_migrate_on_a_migrated_database_applies_nothing(database_url: str) -> None:
    out = run("migrate", env_url=database_url)
    assert out.returncode == 0, out.stderr
    assert "none pending" in out.stdout


def test_apikey_create_prints_a_key_once_and_stores_only_its_hash(database_url: str) -> None:
    out = run(
        "apikey",
        "create",
        "--name",
        "core-banking",
        "--scopes",
        "entries:read",
        "claims:write",
        env_url=database_url,
    )
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith("dc_")
    with db.connect(database_url) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE name = 'core-banking'").fetchone()
    assert row is not None and sorted(row["scopes"]) == ["claims:write", "entries:read"]
    secret = key.split("_", 2)[2]  # dc_<prefix>_<secret>; the secret may contain "_"
    assert secret not in str(row)  # the secret itself is not stored
    again = run(
        "apikey", "create", "--name", "core-banking", "--scopes", "admin", env_url=database_url
    )
    assert again.returncode == 2 and "core-banking" in again.stderr
