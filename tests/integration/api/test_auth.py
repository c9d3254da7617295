"""Bearer API keys: stored hashed, checked on every secured route, scoped by guards."""

from __future__ import annotations

import psycopg

from app import db
from app.api import auth
from app.security import cli_create, revoke_api_key
from tests.integration.api.conftest import bearer


def test_no_key_is_401_with_a_bearer_challenge(client) -> None:
    r = client.get("/test/read")

    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["type"] == "https://dict-connect/problems/unauthorized"
    assert r.headers["x-request-id"]


def test_unknown_malformed_or_non_bearer_keys_are_401(client, make_key) -> None:
    real = make_key("test:read")
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")

    for header in (bearer(forged), bearer("dc_nothex!_x"), {"Authorization": f"Basic {real}"}):
        r = client.get("/test/read", headers=header)
        assert r.status_code == 401, header
        assert r.json()["status"] == 401


def test_a_key_without_the_scope_is_403_and_with_it_200(client, make_key) -> None:
    writer, reader = make_key("test:write"), make_key("test:read")

    denied = client.get("/test/read", headers=bearer(writer))
    allowed = client.get("/test/read", headers=bearer(reader))

    assert denied.status_code == 403
    assert denied.json()["type"] == "https://dict-connect/problems/forbidden"
    assert denied.json()["errors"] == [
        {"field": "Authorization", "rule": "scope", "message": "requires scope 'test:read'"}
    ]
    assert allowed.status_code == 200
    assert allowed.json() == {"ok": "yes"}


def test_admin_holds_every_scope(client, make_key) -> None:
    admin = make_key("admin")

    assert client.get("/test/read", headers=bearer(admin)).status_code == 200


def test_a_route_without_a_scope_guard_still_needs_a_key(client, make_key) -> None:
    assert client.get("/test/conflict").status_code == 401
    assert client.get("/test/conflict", headers=bearer(make_key("test:read"))).status_code == 409


def test_revocation_bites_once_the_cache_forgets(client, make_key, database_url) -> None:
    key = make_key("test:read", name="to-revoke")
    assert client.get("/test/read", headers=bearer(key)).status_code == 200

    with db.connect(database_url, autocommit=True) as conn:
        assert revoke_api_key(conn, "to-revoke")
    auth.cache.clear()  # what CACHE_SECONDS does in production

    assert client.get("/test/read", headers=bearer(key)).status_code == 401


def test_only_a_hash_of_the_key_is_stored(database_url, monkeypatch) -> None:
    plaintext = cli_create("ops", ["entries:read", "entries:write"])
    prefix, secret = plaintext.split("_", 2)[1:]

    with psycopg.connect(database_url) as conn:
        (dump,) = conn.execute(
            "SELECT string_agg(t::text, ' ') FROM api_keys t"
        ).fetchone()  # every column, as text
        row = conn.execute("SELECT name, prefix, scopes, key_hash FROM api_keys").fetchone()

    assert secret not in dump and plaintext not in dump
    assert secret.encode() not in bytes(row[3])
    assert row[:3] == ("ops", prefix, ["entries:read", "entries:write"])
    assert len(bytes(row[3])) == 32


def test_the_cache_spares_the_database(client, make_key, database_url) -> None:
    key = make_key("test:read")
    for _ in range(5):
        assert client.get("/test/read", headers=bearer(key)).status_code == 200

    with psycopg.connect(database_url) as conn:
        (used,) = conn.execute("SELECT last_used_at FROM api_keys").fetchone()
    assert used is not None
