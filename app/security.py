"""Bearer API keys: created once, stored as an HMAC, verified in constant time.

A key reads ``dc_<prefix>_<secret>``. The prefix (8 hex characters) finds the row
without scanning; the secret (43 url-safe characters, 256 bits) is never stored:
the row holds HMAC-SHA256(pepper, secret). A database dump alone therefore cannot
be used to forge or test keys; the pepper (``API_KEY_PEPPER``) lives only in the
processes' environment. Changing the pepper invalidates every key.

Used by the API's auth middleware (``verify``), by ``dict-connect apikey create``
(``cli_create``) and by dev mode and the acceptance tests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Any

import msgspec
import psycopg

from app import clock, db, settings

TOKEN_PREFIX = "dc"
ADMIN_SCOPE = "admin"
KNOWN_SCOPES = (
    "entries:read",
    "entries:write",
    "claims:read",
    "claims:write",
    "infractions:read",
    "infractions:write",
    "sync:read",
    "sync:write",
    ADMIN_SCOPE,
)
"""Scopes the API's routes ask for; ``admin`` grants every scope."""

_SCOPE = re.compile(r"^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)?$")
_TOKEN = re.compile(r"^dc_([0-9a-f]{8})_([A-Za-z0-9_-]{16,128})$")


class ApiKey(msgspec.Struct, frozen=True):
    """An authenticated caller: what ``request.auth`` holds."""

    id: int
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN_SCOPE in self.scopes


def pepper() -> bytes:
    """The server secret mixed into every stored hash (``API_KEY_PEPPER``)."""
    return settings.api().api_key_pepper.encode()


def hash_secret(secret: str) -> bytes:
    return hmac.new(pepper(), secret.encode(), hashlib.sha256).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None."""
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """Scopes normalised and checked for shape (``area:action`` or a single word)."""
    cleaned = sorted({s.strip() for s in scopes if s.strip()})
    bad = [s for s in cleaned if not _SCOPE.match(s)]
    if bad:
        raise ValueError(f"malformed scope(s): {', '.join(bad)}")
    if not cleaned:
        raise ValueError("an API key needs at least one scope")
    return cleaned


def create_api_key(conn: db.Conn, name: str, scopes: Iterable[str]) -> str:
    """Store a new key and return its plaintext, which is never seen again."""
    clean = check_scopes(scopes)
    if not name.strip():
        raise ValueError("an API key needs a name")
    for _ in range(5):  # a prefix collision (1 in 4 billion) just draws again
        prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        try:
            with conn.transaction():
                conn.execute(
                    db.q("api_keys.insert"),
                    {
                        "name": name,
                        "prefix": prefix,
                        "key_hash": hash_secret(secret),
                        "scopes": clean,
                        "now": clock.now(),
                    },
                )
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "api_keys_name_key":
                raise ValueError(f"an API key named {name!r} already exists") from None
            continue
        return f"{TOKEN_PREFIX}_{prefix}_{secret}"
    raise RuntimeError("could not draw a free key prefix")


def revoke_api_key(conn: db.Conn, name: str) -> bool:
    """Revoke the key named ``name``; False if there is no live key by that name.

    API processes keep a verified key in memory for ``auth.CACHE_SECONDS``, so a
    revocation takes effect within that delay.
    """
    row = conn.execute(db.q("api_keys.revoke"), {"name": name, "now": clock.now()}).fetchone()
    return row is not None


def list_api_keys(conn: db.Conn) -> list[dict[str, Any]]:
    """Every key's metadata (never a hash)."""
    return conn.execute(db.q("api_keys.list")).fetchall()


def verify(conn: db.Conn, token: str) -> ApiKey | None:
    """The live key ``token`` names, or None; records when it was last used."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    presented = hash_secret(secret)  # computed even for an unknown prefix: same timing
    row = conn.execute(db.q("api_keys.by_prefix"), {"prefix": prefix}).fetchone()
    if row is None or not hmac.compare_digest(bytes(row["key_hash"]), presented):
        return None
    conn.execute(db.q("api_keys.touch"), {"id": row["id"], "now": clock.now()})
    return ApiKey(id=row["id"], name=row["name"], scopes=frozenset(row["scopes"]))


def cli_create(name: str, scopes: Iterable[str]) -> str:
    """``dict-connect apikey create``: create a key in ``DATABASE_URL``; print nothing."""
    with db.connect(autocommit=True) as conn:
        return create_api_key(conn, name, scopes)


def cli_revoke(name: str) -> bool:
    """``dict-connect apikey revoke``."""
    with db.connect(autocommit=True) as conn:
        return revoke_api_key(conn, name)
