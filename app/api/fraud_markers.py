"""/v1/fraud-markers: fraud markers in the DICT (DICT.md §5, v2), both kinds.

A POST marks one of our own customers (origin OURS): checked as the DICT checks it and
more (CPF/CNPJ check digits, the key's shape), every bad field named
(``app.domain.fraud_markers``); the DICT is told next, with a RequestId that makes a
repeat harmless. A marker the DICT created when we closed an infraction report AGREED
(origin INFRACTION_REPORT) appears here by itself, registered. ``cancel`` withdraws
either kind; a request the marker's status does not allow gets 409 with the current
status and the allowed triggers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from app import db, outbox
from app.api import pagination
from app.api.auth import requires
from app.api.errors import NotFoundError, ValidationFailed
from app.domain import fraud_markers as rules
from app.domain.keys import Violation
from app.repo import fraud_markers as markers
from app.repo import spine
from app.repo.fraud_markers import MarkerRow
from statemachines import fraud_marker as machine

ORIGINS = ("OURS", "INFRACTION_REPORT")


class MarkerCreate(msgspec.Struct, forbid_unknown_fields=True):
    tax_id_number: str
    """The marked customer's CPF (11 digits) or CNPJ (14 digits)."""
    fraud_type: str
    """APPLICATION_FRAUD, MULE_ACCOUNT, SCAMMER_ACCOUNT or OTHER."""
    key: str | None = None
    """One of the customer's keys, to mark it too."""


class Change(msgspec.Struct):
    from_status: str | None
    to_status: str
    trigger: str
    reason: str | None
    actor: str
    at: datetime


class Marker(msgspec.Struct):
    id: uuid.UUID
    dict_id: str | None
    status: str
    origin: str
    tax_id_number: str | None
    key: str | None
    fraud_type: str
    infraction_report_id: uuid.UUID | None
    """INFRACTION_REPORT: our report (``/v1/infraction-reports/{id}``) whose close created it."""
    created_at: datetime | None
    """The DICT's CreationTime."""
    problem_type: str | None
    problem_detail: str | None
    updated_at: datetime
    history: list[Change] | None = None


class MarkerPage(msgspec.Struct):
    items: list[Marker]
    next_cursor: str | None


def _marker(row: MarkerRow, conn: db.Conn | None = None) -> Marker:
    view = Marker(
        id=row.id,
        dict_id=row.dict_id,
        status=row.status,
        origin=row.origin,
        tax_id_number=row.tax_id_number,
        key=row.key,
        fraud_type=row.fraud_type,
        infraction_report_id=row.infraction_report_id,
        created_at=row.dict_created_at,
        problem_type=row.problem_type,
        problem_detail=row.problem_detail,
        updated_at=row.updated_at,
    )
    if conn is not None:
        view.history = [
            Change(h.from_status, h.to_status, h.trigger, h.reason, h.actor, h.at)
            for h in spine.history(conn, machine.MACHINE, str(row.id))
        ]
    return view


def _find(conn: db.Conn, marker_id: uuid.UUID) -> MarkerRow:
    row = markers.get(conn, marker_id)
    if row is None:
        raise NotFoundError("fraud marker", str(marker_id))
    return row


def _refuse(violations: Iterable[Violation]) -> None:
    found = [(v.field, v.rule, v.message) for v in violations]
    if found:
        raise ValidationFailed(found)


def _filter_violations(
    status: str | None, origin: str | None, tax_id_number: str | None
) -> list[Violation]:
    """A filter value outside its set is a 422 naming the field, not an empty page."""
    found = []
    for field, value, allowed in (
        ("status", status, machine.SPEC.states),
        ("origin", origin, ORIGINS),
    ):
        if value is not None and value not in allowed:
            found.append(Violation(field, "one_of", f"one of {', '.join(sorted(allowed))}"))
    if tax_id_number is not None:
        found += rules.tax_id_violations("tax_id_number", tax_id_number)
    return found


class FraudMarkerController(Controller):
    path = "/v1/fraud-markers"
    tags = ["fraud-markers"]

    @post(
        "/",
        status_code=202,
        operation_id="createFraudMarker",
        guards=[requires("fraud_markers:write")],
        sync_to_thread=True,
    )
    def create(self, data: JSONBody[MarkerCreate]) -> Response[Marker]:
        """Mark one of our customers (and optionally a key of theirs): the DICT is told next."""
        request = rules.MarkerRequest(data.tax_id_number, data.fraud_type, data.key)
        key, violations = rules.marker_violations(request)
        _refuse(violations)
        fields = {"tax_id_number": data.tax_id_number, "key": key, "fraud_type": data.fraud_type}
        with outbox.step(actor="api") as s:
            row = machine.submit(s, fields)
        location = f"/v1/fraud-markers/{row.id}"
        return Response(_marker(row), status_code=202, headers={"Location": location})

    @get(
        "/{marker_id:uuid}",
        operation_id="getFraudMarker",
        guards=[requires("fraud_markers:read")],
        sync_to_thread=True,
    )
    def get_one(self, marker_id: FromPath[uuid.UUID]) -> Marker:
        """A marker with its history."""
        with db.pool().connection() as conn:
            return _marker(_find(conn, marker_id), conn)

    @get(
        "/",
        operation_id="listFraudMarkers",
        guards=[requires("fraud_markers:read")],
        sync_to_thread=True,
    )
    def list_(
        self,
        status: FromQuery[str | None] = None,
        origin: FromQuery[str | None] = None,
        tax_id_number: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> MarkerPage:
        """Markers in arrival order; pass ``next_cursor`` back as ``cursor``."""
        _refuse(_filter_violations(status, origin, tax_id_number))
        after = pagination.decode(cursor)
        filters = {"status": status, "origin": origin, "tax_id_number": tax_id_number}
        with db.pool().connection() as conn:
            rows = markers.page(conn, filters, after, limit + 1)
        items, nxt = pagination.cut(rows, limit, lambda r: (r.inserted_at, r.id))
        return MarkerPage([_marker(r) for r in items], nxt)

    @post(
        "/{marker_id:uuid}/cancel",
        status_code=202,
        operation_id="cancelFraudMarker",
        guards=[requires("fraud_markers:write")],
        sync_to_thread=True,
    )
    def cancel(self, marker_id: FromPath[uuid.UUID]) -> Marker:
        """Withdraw a registered marker (ours, or one our AGREED close created)."""
        with outbox.step(actor="api") as s:
            _find(s.conn, marker_id)
            machine.request_cancel(s, marker_id)  # 409 unless registered
            return _marker(_find(s.conn, marker_id))
