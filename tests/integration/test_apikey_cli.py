"""``dict-connect apikey create|list|revoke``, through ``app.cli.main``."""

from __future__ import annotations

import json

import pytest

from app import db, security
from app.cli import main


def _create(capsys: pytest.CaptureFixture[str], name: str, *scopes: str) -> str:
    assert main(["apikey", "create", "--name", name, "--scopes", *scopes]) == 0
    return capsys.readouterr().out.strip()


def _prefix(token: str) -> str:
    return token.split("_")[1]


def test_list_shows_each_key_and_never_a_secret_or_a_hash(database_url, capsys) -> None:
    core = _create(capsys, "core-banking", "entries:read", "claims:write")
    ops = _create(capsys, "ops", "admin")
    with db.connect(database_url, autocommit=True) as conn:
        assert security.verify(conn, core) is not None  # records last use
        rows = conn.execute("SELECT key_hash FROM api_keys").fetchall()
    hashes = [bytes(r["key_hash"]).hex() for r in rows]
    assert main(["apikey", "revoke", "ops"]) == 0
    capsys.readouterr()

    assert main(["apikey", "list"]) == 0
    table = capsys.readouterr().out.splitlines()

    assert table[0].split() == ["NAME", "PREFIX", "SCOPES", "CREATED", "LAST", "USED", "REVOKED"]
    core_row, ops_row = table[1].split(), table[2].split()
    assert core_row[:3] == ["core-banking", _prefix(core), "claims:write,entries:read"]
    assert core_row[4] != "-" and core_row[5] == "no"  # used, live
    assert ops_row[:3] == ["ops", _prefix(ops), "admin"]
    assert ops_row[4] == "-" and ops_row[5].endswith("Z")  # never used, revoked at …
    listing = "\n".join(table)
    for token in (core, ops):
        assert token.split("_", 2)[2] not in listing
    for digest in hashes:
        assert digest not in listing

    assert main(["apikey", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["prefix"], r["scopes"]) for r in rows] == [
        ("core-banking", _prefix(core), ["claims:write", "entries:read"]),
        ("ops", _prefix(ops), ["admin"]),
    ]
    assert rows[0]["revoked_at"] is None and rows[1]["revoked_at"] is not None
    assert set(rows[0]) == {"name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"}


def test_revoke_takes_a_name_or_a_prefix_and_says_what_it_did(database_url, capsys) -> None:
    first = _create(capsys, "first", "entries:read")
    _create(capsys, "second", "entries:read")

    assert main(["apikey", "revoke", _prefix(first)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"revoked first ({_prefix(first)}) at ")
    assert main(["apikey", "revoke", "first"]) == 0  # again: nothing changes
    assert "already revoked" in capsys.readouterr().out
    assert main(["apikey", "revoke", "dc_" + _prefix(first)]) == 0  # as the token begins
    assert main(["apikey", "revoke", "second"]) == 0
    capsys.readouterr()

    assert main(["apikey", "revoke", "nobody"]) == 1
    assert "no API key named or prefixed 'nobody'" in capsys.readouterr().err
    with db.connect(database_url) as conn:
        revoked = conn.execute("SELECT name FROM api_keys WHERE revoked_at IS NOT NULL").fetchall()
    assert sorted(r["name"] for r in revoked) == ["first", "second"]


def test_a_name_that_is_another_keys_prefix_is_refused_as_ambiguous(database_url, capsys) -> None:
    other = _create(capsys, "other", "entries:read")
    _create(capsys, _prefix(other), "entries:read")  # a key named like other's prefix

    assert main(["apikey", "revoke", _prefix(other)]) == 2
    assert "matches" in capsys.readouterr().err
    with db.connect(database_url) as conn:
        revoked = conn.execute("SELECT name FROM api_keys WHERE revoked_at IS NOT NULL").fetchall()
    assert revoked == []


def test_unknown_scopes_are_refused_naming_the_known_ones(database_url, capsys) -> None:
    assert main(["apikey", "create", "--name", "typo", "--scopes", "entries:reed"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown scope(s): entries:reed" in err
    for scope in security.KNOWN_SCOPES:
        assert scope in err
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT 1 FROM api_keys").fetchone() is None
