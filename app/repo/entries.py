"""The ``entries`` table (our Pix keys) and ``vsyncs``: rows and queries
(``sql/queries/entries.sql``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from app import db
from app.repo import many, one


class EntryRow(msgspec.Struct, kw_only=True, frozen=True):
    """A key of ours as ``entries`` holds it (``sql/schema.sql`` documents each status)."""

    id: uuid.UUID
    key_type: str
    status: str
    participant: str
    account_number: str
    account_type: str
    opening_date: datetime
    owner_type: str
    owner_tax_id: str
    owner_name: str
    request_id: uuid.UUID  # the creation RequestId: the HMAC key of the CID
    created_at: datetime
    updated_at: datetime
    key: str | None = None  # None while the DICT has not generated an EVP key
    branch: str | None = None
    owner_trade_name: str | None = None
    cid: str | None = None
    pending: dict[str, Any] | None = None
    problem_type: str | None = None
    problem_detail: str | None = None
    version: int = 0


class KeyId(msgspec.Struct, frozen=True):
    key: str
    id: uuid.UUID


def get(conn: db.Conn, entry_id: Any) -> EntryRow | None:
    return one(conn, "entries.get", {"id": entry_id}, EntryRow)


def live_by_key(conn: db.Conn, key: str) -> EntryRow | None:
    """The key's entry that is not deleted or rejected, if any."""
    return one(conn, "entries.live_by_key", {"key": key}, EntryRow)


def find(conn: db.Conn, ref: str) -> EntryRow | None:
    """By id, else the live entry of a key, else the key's latest entry."""
    try:
        found = get(conn, uuid.UUID(ref))
    except ValueError:
        found = None
    return (
        found
        or one(conn, "entries.live_by_key", {"key": ref}, EntryRow)
        or one(conn, "entries.latest_by_key", {"key": ref}, EntryRow)
    )


def page(
    conn: db.Conn, filters: Mapping[str, Any], after: tuple[Any, Any], limit: int
) -> list[EntryRow]:
    """Entries in creation order after the cursor ``(created_at, id)``; every filter
    (participant, account_number, branch, owner_tax_id, key_type, status) optional."""
    names = ("participant", "account_number", "branch", "owner_tax_id", "key_type", "status")
    params = {
        **dict.fromkeys(names),
        **filters,
        "after_created": after[0],
        "after_id": after[1],
        "limit": limit,
    }
    return many(conn, "entries.list", params, EntryRow)


def live_ids_by_keys(conn: db.Conn, keys: Iterable[str]) -> dict[str, uuid.UUID]:
    """The live entry of each key we hold, by key."""
    return {
        r.key: r.id for r in many(conn, "entries.live_ids_by_keys", {"keys": list(keys)}, KeyId)
    }
