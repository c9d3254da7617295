"""The ``infraction_reports`` table: its row, written once, and its queries
(``sql/queries/infraction_reports.sql``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from app import db
from app.repo import many, one, run


class ReportRow(msgspec.Struct, kw_only=True, frozen=True):
    """An infraction report as ``infraction_reports`` holds it, as reporter or
    counterparty (``sql/schema.sql`` documents each column and status)."""

    id: uuid.UUID
    role: str  # REPORTER | COUNTERPARTY
    status: str
    transaction_id: str
    reason: str
    situation_type: str
    contact_email: str
    contact_phone: str
    reporter_participant: str
    counterparty_participant: str
    request_id: uuid.UUID
    inserted_at: datetime
    updated_at: datetime
    dict_id: str | None = None
    dict_status: str | None = None
    report_details: str | None = None
    transaction_at: datetime | None = None
    analysis_result: str | None = None
    analysis_details: str | None = None
    fraud_type: str | None = None
    fraud_marker_id: str | None = None
    dict_created_at: datetime | None = None
    dict_last_modified: datetime | None = None
    due_at: datetime | None = None
    pending: dict[str, Any] | None = None
    problem_type: str | None = None
    problem_detail: str | None = None
    version: int = 0


DICT_FIELDS = (
    "dict_id",
    "dict_status",
    "dict_last_modified",
    "dict_created_at",
    "due_at",
    "analysis_result",
    "analysis_details",
    "fraud_type",
    "fraud_marker_id",
    "counterparty_participant",
    "situation_type",
    "contact_email",
    "contact_phone",
    "report_details",
)
"""The columns a transition may fill with what the DICT said (``set_status``)."""


def get(conn: db.Conn, report_id: Any) -> ReportRow | None:
    return one(conn, "infraction_reports.get", {"id": report_id}, ReportRow)


def insert(conn: db.Conn, rows: Sequence[ReportRow]) -> list[ReportRow]:
    """Insert in one statement; returns the rows inserted (one already recorded in its
    role, or a second live report of ours on a transaction, is skipped)."""
    if not rows:
        return []
    data = Jsonb(list(rows), dumps=lambda v: msgspec.json.encode(v).decode())
    return many(conn, "infraction_reports.insert", {"rows": data}, ReportRow)


def by_dict_id(conn: db.Conn, dict_id: str, role: str) -> ReportRow | None:
    return one(conn, "infraction_reports.by_dict_id", {"dict_id": dict_id, "role": role}, ReportRow)


def lock_many(conn: db.Conn, dict_ids: Iterable[str]) -> list[ReportRow]:
    return many(conn, "infraction_reports.lock_many", {"dict_ids": list(dict_ids)}, ReportRow)


def submitting_for(conn: db.Conn, transaction_id: str, reason: str) -> ReportRow | None:
    """Our report on this transaction still waiting for its create answer (locked)."""
    params = {"transaction_id": transaction_id, "reason": reason}
    return one(conn, "infraction_reports.submitting_for", params, ReportRow)


def live_for(conn: db.Conn, transaction_id: str, reason: str) -> ReportRow | None:
    """Our live report on this transaction and reason (the DICT allows one)."""
    params = {"transaction_id": transaction_id, "reason": reason}
    return one(conn, "infraction_reports.live_for", params, ReportRow)


def left_open(conn: db.Conn, before: datetime, limit: int) -> list[ReportRow]:
    """Reports against us still OPEN since before ``before`` (locked, skipping locked)."""
    return many(conn, "infraction_reports.left_open", {"before": before, "limit": limit}, ReportRow)


def seen(conn: db.Conn, report_id: Any, now: datetime, said: Mapping[str, Any]) -> None:
    """What the DICT said when our status does not move; the newest LastModified wins."""
    params = {name: said.get(name) for name in ("dict_status", "dict_last_modified")}
    run(conn, "infraction_reports.seen", {**params, "id": report_id, "now": now})


def page(
    conn: db.Conn, filters: Mapping[str, Any], after: tuple[Any, Any], limit: int
) -> list[ReportRow]:
    """Reports in arrival order after the cursor ``(inserted_at, id)``; role and status
    optional."""
    params = {
        **dict.fromkeys(("role", "status")),
        **filters,
        "after_inserted": after[0],
        "after_id": after[1],
        "limit": limit,
    }
    return many(conn, "infraction_reports.list", params, ReportRow)
