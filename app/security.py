"""Bearer API keys: created once, stored as an HMAC, verified in constant time.

A key reads ``dc_<prefix>_<secret>``. The prefix (8 hex characters) finds the row
without scanning; the secret (43 url-safe characters, 256 bits) is never stored:
the row holds HMAC-SHA256(pepper, secret). A database dump alone therefore cannot
be used to forge or test keys; the pepper (``API_KEY_PEPPER``) lives only in the
processes' environment. Changing the pepper invalidates every key.

Used by the API's auth middleware (``verify``), by ``dict-connect apikey
create|list|revoke`` (``cli_create``, ``cli_list``, ``cli_revoke``) and by dev mode and
the acceptance tests. ``dict-connect api`` refuses to start with the well-known dev
pepper outside development (``pepper_problem``).

A key may hold only known scopes: those in ``KNOWN_SCOPES`` (what the API's routes
ask for; a unit test checks every ``requires(...)`` of the resource controllers
against it) plus any scope a ``requires(...)`` guard declared in this process (test
routes declare their own).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
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
    "fraud_markers:read",
    "fraud_markers:write",
    "refunds:read",
    "refunds:write",
    "sync:read",
    "sync:write",
    "lookups:read",
    "lookups:write",
    "rate_limits:read",
    "rate_limits:write",
    "events:read",
    ADMIN_SCOPE,
)
"""Scopes the API's routes ask for; ``admin`` grants every scope."""
_DECLARED: set[str] = set()
"""Scopes declared by ``requires(...)`` guards in this process (``declare_scope``)."""

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


def declare_scope(scope: str) -> str:
    """Record a scope a guard asks for (``app.api.auth.requires``); it must be well formed."""
    if not _SCOPE.match(scope):
        raise ValueError(f"malformed scope: {scope!r}")
    _DECLARED.add(scope)
    return scope


def known_scopes() -> list[str]:
    """The scopes a key may hold: ``KNOWN_SCOPES``, then any other declared by a guard."""
    return [*KNOWN_SCOPES, *sorted(_DECLARED - set(KNOWN_SCOPES))]


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """Scopes normalised and checked: well formed (``area:action`` or a single word)
    and known (a key holding a scope no route asks for would grant nothing)."""
    cleaned = sorted({s.strip() for s in scopes if s.strip()})
    bad = [s for s in cleaned if not _SCOPE.match(s)]
    if bad:
        raise ValueError(f"malformed scope(s): {', '.join(bad)}")
    if not cleaned:
        raise ValueError("an API key needs at least one scope")
    known = known_scopes()
    unknown = [s for s in cleaned if s not in known]
    if unknown:
        raise ValueError(
            f"unknown scope(s): {', '.join(unknown)}; known scopes: {', '.join(known)}"
        )
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


class Revoked(msgspec.Struct, frozen=True):
    """The key ``revoke_api_key`` found; ``already``: it was revoked before this call."""

    name: str
    prefix: str
    revoked_at: datetime
    already: bool


def revoke_api_key(conn: db.Conn, ref: str) -> Revoked | None:
    """Revoke the key whose name or prefix is ``ref`` (``dc_<prefix>`` also works);
    None if no key has that name or prefix. A revoked key stays revoked, with its
    first ``revoked_at``. Raises ValueError when ``ref`` is one key's name and
    another's prefix.

    API processes keep a verified key in memory for ``auth.CACHE_SECONDS``, so a
    revocation takes effect within that delay.
    """
    prefix = ref.removeprefix(f"{TOKEN_PREFIX}_")
    rows = conn.execute(db.q("api_keys.find"), {"name": ref, "prefix": prefix}).fetchall()
    if len(rows) > 1:
        names = " and ".join(repr(r["name"]) for r in rows)
        raise ValueError(f"{ref!r} matches {names}: give the other one's name or prefix")
    if not rows:
        return None
    row = rows[0]
    revoked = conn.execute(
        db.q("api_keys.revoke"), {"id": row["id"], "now": clock.now()}
    ).fetchone()
    assert revoked is not None  # keys are never deleted
    return Revoked(
        row["name"], row["prefix"], revoked["revoked_at"], already=row["revoked_at"] is not None
    )


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


def cli_revoke(ref: str) -> Revoked | None:
    """``dict-connect apikey revoke NAME_OR_PREFIX``."""
    with db.connect(autocommit=True) as conn:
        return revoke_api_key(conn, ref)


def utc_text(value: datetime | None) -> str:
    """``2025-01-02T03:04:05Z``, or ``-`` for None: how the CLI shows an instant."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def cli_list(*, as_json: bool = False) -> str:
    """``dict-connect apikey list``: a table (or one JSON object per line) of every
    key's name, prefix, scopes, creation, last use and revocation; never a secret or
    a hash (the query does not read them)."""
    with db.connect(autocommit=True) as conn:
        rows = list_api_keys(conn)
    if as_json:
        return "\n".join(
            msgspec.json.encode(
                {
                    "name": r["name"],
                    "prefix": r["prefix"],
                    "scopes": list(r["scopes"]),
                    "created_at": r["created_at"],
                    "last_used_at": r["last_used_at"],
                    "revoked_at": r["revoked_at"],
                }
            ).decode()
            for r in rows
        )
    header = ("NAME", "PREFIX", "SCOPES", "CREATED", "LAST USED", "REVOKED")
    table = [header] + [
        (
            r["name"],
            r["prefix"],
            ",".join(r["scopes"]),
            utc_text(r["created_at"]),
            utc_text(r["last_used_at"]),
            utc_text(r["revoked_at"]) if r["revoked_at"] else "no",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def pepper_problem() -> str | None:
    """Why this process must not serve the API with its ``API_KEY_PEPPER``, or None.

    The default pepper is in this repository: with it, anyone holding a copy of the
    database could test guessed keys offline. It is accepted only in development
    (``DICT_CONNECT_ENV=dev``, which ``dict-connect dev`` sets); an empty pepper never.
    """
    api = settings.api()
    if not api.api_key_pepper:
        return "API_KEY_PEPPER is empty; set it to a long random secret"
    if api.api_key_pepper == settings.DEV_API_KEY_PEPPER and not api.is_dev:
        return (
            "API_KEY_PEPPER is unset (or the development default); set it to a long random "
            "secret (only `dict-connect dev`, with DICT_CONNECT_ENV=dev, may run without one)"
        )
    return None
