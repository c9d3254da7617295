"""The ``refunds`` table: its row, written once, and its queries
(``sql/queries/refunds.sql``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from app import db
from app.repo import many, one, run


class RefundRow(msgspec.Struct, kw_only=True, frozen=True):
    """A refund request as ``refunds`` holds it, as requester or contested
    (``sql/schema.sql`` documents each column and status)."""

    id: uuid.UUID
    role: str  # REQUESTING | CONTESTED
    status: str
    transaction_id: str
    refund_reason: str
    refund_amount: Decimal
    requesting_participant: str
    request_id: uuid.UUID
    inserted_at: datetime
    updated_at: datetime
    dict_id: str | None = None
    dict_status: str | None = None
    refund_details: str | None = None
    transaction_at: datetime | None = None
    contested_participant: str | None = None
    infraction_report_id: str | None = None
    analysis_result: str | None = None
    analysis_details: str | None = None
    rejection_reason: str | None = None
    refund_transaction_id: str | None = None
    refunded_amount: Decimal | None = None
    dict_created_at: datetime | None = None
    dict_last_modified: datetime | None = None
    due_at: datetime | None = None
    pending: dict[str, Any] | None = None
    problem_type: str | None = None
    problem_detail: str | None = None
    version: int = 0


class AgreedReport(msgspec.Struct, frozen=True):
    dict_id: str
    closed_at: datetime


DICT_FIELDS = (
    "dict_id",
    "dict_status",
    "dict_last_modified",
    "dict_created_at",
    "due_at",
    "contested_participant",
    "infraction_report_id",
    "analysis_result",
    "analysis_details",
    "rejection_reason",
    "refund_transaction_id",
    "refunded_amount",
)
"""The columns a transition may fill with what the DICT said (``set_status``)."""


def get(conn: db.Conn, refund_id: Any) -> RefundRow | None:
    return one(conn, "refunds.get", {"id": refund_id}, RefundRow)


def insert(conn: db.Conn, rows: Sequence[RefundRow]) -> list[RefundRow]:
    """Insert in one statement; returns the rows inserted (one already recorded in its
    role, or a second request of ours in progress on a transaction, is skipped)."""
    if not rows:
        return []
    data = Jsonb(list(rows), dumps=lambda v: msgspec.json.encode(v).decode())
    return many(conn, "refunds.insert", {"rows": data}, RefundRow)


def by_dict_id(conn: db.Conn, dict_id: str, role: str) -> RefundRow | None:
    return one(conn, "refunds.by_dict_id", {"dict_id": dict_id, "role": role}, RefundRow)


def lock_many(conn: db.Conn, dict_ids: Iterable[str]) -> list[RefundRow]:
    return many(conn, "refunds.lock_many", {"dict_ids": list(dict_ids)}, RefundRow)


def submitting_for(conn: db.Conn, transaction_id: str) -> RefundRow | None:
    """Our request on this transaction still waiting for its create answer (locked)."""
    return one(conn, "refunds.submitting_for", {"transaction_id": transaction_id}, RefundRow)


def in_progress_for(conn: db.Conn, transaction_id: str) -> RefundRow | None:
    """Our request in progress on this transaction (the DICT allows one)."""
    return one(conn, "refunds.in_progress_for", {"transaction_id": transaction_id}, RefundRow)


def agreed_report(conn: db.Conn, transaction_id: str, reason: str) -> AgreedReport | None:
    """Our infraction report on the transaction, closed AGREED: what a FRAUD (report
    reason REFUND_REQUEST) or REFUND_CANCELLED refund follows, and when it closed."""
    params = {"transaction_id": transaction_id, "reason": reason}
    return one(conn, "refunds.agreed_report", params, AgreedReport)


def seen(conn: db.Conn, refund_id: Any, now: datetime, said: Mapping[str, Any]) -> None:
    """What the DICT said when our status does not move; the newest LastModified wins."""
    params = {name: said.get(name) for name in ("dict_status", "dict_last_modified")}
    run(conn, "refunds.seen", {**params, "id": refund_id, "now": now})


def page(
    conn: db.Conn, filters: Mapping[str, Any], after: tuple[Any, Any], limit: int
) -> list[RefundRow]:
    """Requests in arrival order after the cursor ``(inserted_at, id)``; role, status,
    reason and transaction optional."""
    params = {
        **dict.fromkeys(("role", "status", "refund_reason", "transaction_id")),
        **filters,
        "after_inserted": after[0],
        "after_id": after[1],
        "limit": limit,
    }
    return many(conn, "refunds.list", params, RefundRow)
