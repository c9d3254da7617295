"""The ``fraud_markers`` table: its row, written once, and its queries
(``sql/queries/fraud_markers.sql``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from app import db
from app.repo import many, one, run


class MarkerRow(msgspec.Struct, kw_only=True, frozen=True):
    """A fraud marker as ``fraud_markers`` holds it, ours or created by our AGREED close
    of an infraction report (``sql/schema.sql`` documents each column and status)."""

    id: uuid.UUID
    status: str
    origin: str  # OURS | INFRACTION_REPORT
    fraud_type: str
    inserted_at: datetime
    updated_at: datetime
    dict_id: str | None = None
    tax_id_number: str | None = None
    key: str | None = None
    infraction_report_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    pending: dict[str, Any] | None = None
    problem_type: str | None = None
    problem_detail: str | None = None
    dict_created_at: datetime | None = None
    dict_last_modified: datetime | None = None
    version: int = 0


DICT_FIELDS = ("dict_id", "dict_created_at", "dict_last_modified")
"""The columns a transition may fill with what the DICT said (``set_status``)."""


def get(conn: db.Conn, marker_id: Any) -> MarkerRow | None:
    return one(conn, "fraud_markers.get", {"id": marker_id}, MarkerRow)


def insert(conn: db.Conn, rows: Sequence[MarkerRow]) -> list[MarkerRow]:
    """Insert in one statement; returns the rows inserted (a marker already recorded,
    by its DICT id or its report, is skipped)."""
    if not rows:
        return []
    data = Jsonb(list(rows), dumps=lambda v: msgspec.json.encode(v).decode())
    return many(conn, "fraud_markers.insert", {"rows": data}, MarkerRow)


def of_report(conn: db.Conn, report_id: Any) -> MarkerRow | None:
    """The marker our close of infraction report ``report_id`` created, if recorded."""
    return one(conn, "fraud_markers.of_report", {"report_id": report_id}, MarkerRow)


def report_status_for_share(conn: db.Conn, report_id: Any) -> str | None:
    """The infraction report's status, share-locked until the transaction ends."""
    found = conn.execute(db.q("fraud_markers.report_for_share"), {"id": report_id}).fetchone()
    return str(found["status"]) if found else None


def seen(conn: db.Conn, marker_id: Any, now: datetime, said: Mapping[str, Any]) -> None:
    """What the DICT said when our status does not move; the newest LastModified wins."""
    params = {"dict_last_modified": said.get("dict_last_modified"), "id": marker_id, "now": now}
    run(conn, "fraud_markers.seen", params)


def page(
    conn: db.Conn, filters: Mapping[str, Any], after: tuple[Any, Any], limit: int
) -> list[MarkerRow]:
    """Markers in arrival order after the cursor ``(inserted_at, id)``; status, origin
    and tax id optional."""
    params = {
        **dict.fromkeys(("status", "origin", "tax_id_number")),
        **filters,
        "after_inserted": after[0],
        "after_id": after[1],
        "limit": limit,
    }
    return many(conn, "fraud_markers.list", params, MarkerRow)
