"""The ``claims`` table: its row, written once, and its queries (``sql/queries/claims.sql``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from app import db
from app.repo import many, one, run


class ClaimRow(msgspec.Struct, kw_only=True, frozen=True):
    """A claim as ``claims`` holds it, as claimer or donor (``sql/schema.sql`` documents
    each column and status)."""

    id: uuid.UUID
    role: str  # CLAIMER | DONOR
    type: str  # PORTABILITY | OWNERSHIP
    key: str
    key_type: str
    status: str
    claimer_participant: str
    claimer_account_number: str
    claimer_account_type: str
    claimer_opening_date: datetime
    claimer_type: str
    claimer_tax_id: str
    claimer_name: str
    completion_request_id: uuid.UUID
    inserted_at: datetime
    updated_at: datetime
    dict_id: str | None = None
    dict_status: str | None = None
    dict_last_modified: datetime | None = None
    donor_participant: str | None = None
    claimer_branch: str | None = None
    claimer_trade_name: str | None = None
    created_at: datetime | None = None  # derived: ResolutionPeriodEnd - 7 days
    resolution_period_end: datetime | None = None
    completion_period_end: datetime | None = None
    day30_limit: datetime | None = None  # derived: ResolutionPeriodEnd + 23 days
    possession_validated_at: datetime | None = None
    entry_id: uuid.UUID | None = None
    pending: dict[str, Any] | None = None
    confirm_reason: str | None = None
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    problem_type: str | None = None
    problem_detail: str | None = None
    anomaly: str | None = None
    version: int = 0


DICT_FIELDS = (
    "dict_id",
    "dict_status",
    "dict_last_modified",
    "donor_participant",
    "created_at",
    "resolution_period_end",
    "completion_period_end",
    "day30_limit",
    "confirm_reason",
    "cancel_reason",
    "cancelled_by",
    "entry_id",
)
"""The columns a transition may fill with what the DICT said (``set_status``)."""


class Action(msgspec.Struct, frozen=True):
    """Work scheduled for a claim: an outbox row not done yet (events aside)."""

    actor: str
    kind: str
    args: dict[str, Any]
    deliver_at: datetime
    status: str


class RoleCount(msgspec.Struct, frozen=True):
    role: str
    n: int


class StatusCount(msgspec.Struct, frozen=True):
    role: str
    status: str
    n: int


def get(conn: db.Conn, claim_id: Any) -> ClaimRow | None:
    return one(conn, "claims.get", {"id": claim_id}, ClaimRow)


def lock(conn: db.Conn, claim_id: Any, now: datetime, tags: Mapping[str, Any]) -> ClaimRow | None:
    """The claim, locked for this transaction, which ``tags`` tag for ``state_history``."""
    return one(conn, "claims.lock", {"id": claim_id, "now": now, **tags}, ClaimRow)


def insert(conn: db.Conn, rows: Sequence[ClaimRow]) -> list[ClaimRow]:
    """Insert in one statement; returns the rows inserted (a claim already held in that
    role is skipped)."""
    if not rows:
        return []
    data = Jsonb(list(rows), dumps=lambda v: msgspec.json.encode(v).decode())
    return many(conn, "claims.insert", {"rows": data}, ClaimRow)


def by_dict_id(conn: db.Conn, dict_id: str, role: str | None = None) -> list[ClaimRow]:
    """Our claims for a DICT claim id (two when we are both donor and claimer)."""
    found = many(conn, "claims.by_dict_id", {"dict_id": dict_id}, ClaimRow)
    return [c for c in found if role is None or c.role == role]


def lock_many(conn: db.Conn, dict_ids: Iterable[str]) -> list[ClaimRow]:
    return many(conn, "claims.lock_many", {"dict_ids": list(dict_ids)}, ClaimRow)


def submitting_for_key(conn: db.Conn, key: str) -> ClaimRow | None:
    """Our oldest claim on ``key`` still waiting for its CreateClaim answer (locked)."""
    return one(conn, "claims.submitting_for_key", {"key": key}, ClaimRow)


def unsettled(conn: db.Conn, limit: int) -> list[ClaimRow]:
    return many(conn, "claims.unsettled", {"limit": limit}, ClaimRow)


def open_donor(conn: db.Conn, limit: int) -> list[str]:
    """The ids of donor claims not acknowledged yet, oldest first."""
    rows = conn.execute(db.q("claims.open_donor"), {"limit": limit}).fetchall()
    return [str(r["id"]) for r in rows]


def key_locked_by_claim(conn: db.Conn, key: str) -> bool:
    row = conn.execute(db.q("claims.open_donor_for_key"), {"key": key}).fetchone()
    return bool(row and row["locked"])


def seen(
    conn: db.Conn,
    claim_id: Any,
    now: datetime,
    said: Mapping[str, Any],
    *,
    anomaly: str | None = None,
) -> None:
    """What the DICT said (``said``: its status, LastModified and reasons) when our
    status does not move; the newest LastModified wins."""
    names = ("dict_status", "dict_last_modified", "confirm_reason", "cancel_reason", "cancelled_by")
    params = {name: said.get(name) for name in names}
    run(conn, "claims.seen", {**params, "id": claim_id, "now": now, "anomaly": anomaly})


def set_entry(conn: db.Conn, claim_id: Any, entry_id: Any) -> None:
    run(conn, "claims.set_entry", {"id": claim_id, "entry_id": entry_id})


def validate_possession(conn: db.Conn, claim_id: Any, now: datetime) -> ClaimRow | None:
    return one(conn, "claims.validate_possession", {"id": claim_id, "now": now}, ClaimRow)


def page(
    conn: db.Conn, filters: Mapping[str, Any], after: tuple[Any, Any], limit: int
) -> list[ClaimRow]:
    """Claims in arrival order after the cursor ``(inserted_at, id)``; every filter
    (role, status, type, key, deadline_before) optional."""
    params = {
        **dict.fromkeys(("role", "status", "type", "key", "deadline_before")),
        **filters,
        "after_inserted": after[0],
        "after_id": after[1],
        "limit": limit,
    }
    return many(conn, "claims.list", params, ClaimRow)


def next_actions(conn: db.Conn, subject: str) -> list[Action]:
    return many(conn, "claims.next_actions", {"subject": subject}, Action)


def at_risk(conn: db.Conn, now: datetime, grace: timedelta) -> list[RoleCount]:
    return many(conn, "claims.at_risk", {"now": now, "grace": grace}, RoleCount)


def by_status(conn: db.Conn) -> list[StatusCount]:
    return many(conn, "claims.by_status", {}, StatusCount)
