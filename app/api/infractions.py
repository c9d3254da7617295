"""/v1/infraction-reports: infraction reports of the special return mechanism (MED), as
reporter and as counterparty.

As reporter a POST opens a report (checked as the DICT checks it, every bad field
named: ``app.domain.infractions``) and ``cancel`` withdraws it, even after its close. As
counterparty reports arrive by polling and are acknowledged at once; ``close`` records
our analysis within the 7 days the DICT gives (``due_at``). The machine serialises the
decisions: a request the report's status does not allow gets 409 with the current status
and the allowed triggers.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from app import clock, db, outbox, settings
from app.api import pagination
from app.api.auth import requires
from app.api.errors import ConflictError, NotFoundError, ValidationFailed, one_of, refuse
from app.api.history import Change, history
from app.domain import infractions as rules
from app.domain.keys import Violation
from app.repo import infraction_reports as reports
from app.repo.infraction_reports import ReportRow
from statemachines import infraction_report as machine

PARTICIPANT = re.compile(r"[0-9]{8}")  # an ISPB


class ContactInformation(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    phone: str


class ReportCreate(msgspec.Struct, forbid_unknown_fields=True):
    transaction_id: str
    reason: str
    situation_type: str
    contact_information: ContactInformation
    counterparty_participant: str
    """The other PSP. The DICT finds it from the SPI transaction; the simulator has no SPI."""
    report_details: str | None = None
    transaction_at: datetime | None = None
    """When the transaction settled, if known: a report is opened within 80 days."""


class ReportUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """What the reporter may change while the report is OPEN or ACKNOWLEDGED; a field
    left out keeps its value."""

    situation_type: str | None = None
    contact_information: ContactInformation | None = None
    report_details: str | None = None


class ReportClose(msgspec.Struct, forbid_unknown_fields=True):
    analysis_result: str
    analysis_details: str | None = None
    fraud_type: str | None = None


class Report(msgspec.Struct):
    id: uuid.UUID
    dict_id: str | None
    role: str
    status: str
    dict_status: str | None
    transaction_id: str
    reason: str
    situation_type: str
    report_details: str | None
    contact_information: ContactInformation
    reporter_participant: str
    counterparty_participant: str
    transaction_at: datetime | None
    analysis_result: str | None
    analysis_details: str | None
    fraud_type: str | None
    fraud_marker_id: str | None
    created_at: datetime | None
    """The DICT's CreationTime."""
    due_at: datetime | None
    """When the counterparty's analysis is due (7 days after creation)."""
    problem_type: str | None
    problem_detail: str | None
    updated_at: datetime
    history: list[Change] | None = None


class ReportPage(msgspec.Struct):
    items: list[Report]
    next_cursor: str | None


def _report(row: ReportRow, conn: db.Conn | None = None) -> Report:
    view = Report(
        id=row.id,
        dict_id=row.dict_id,
        role=row.role,
        status=row.status,
        dict_status=row.dict_status,
        transaction_id=row.transaction_id,
        reason=row.reason,
        situation_type=row.situation_type,
        report_details=row.report_details,
        contact_information=ContactInformation(row.contact_email, row.contact_phone),
        reporter_participant=row.reporter_participant,
        counterparty_participant=row.counterparty_participant,
        transaction_at=row.transaction_at,
        analysis_result=row.analysis_result,
        analysis_details=row.analysis_details,
        fraud_type=row.fraud_type,
        fraud_marker_id=row.fraud_marker_id,
        created_at=row.dict_created_at,
        due_at=row.due_at,
        problem_type=row.problem_type,
        problem_detail=row.problem_detail,
        updated_at=row.updated_at,
    )
    if conn is not None:
        view.history = history(conn, machine.MACHINE, str(row.id))
    return view


def _find(conn: db.Conn, report_id: uuid.UUID) -> ReportRow:
    row = reports.get(conn, report_id)
    if row is None:
        raise NotFoundError("infraction report", str(report_id))
    return row


def _counterparty_violations(participant: str) -> list[Violation]:
    if not PARTICIPANT.fullmatch(participant):
        return [Violation("counterparty_participant", "pattern", "an ISPB: 8 digits")]
    if participant == settings.bridge().participant:
        message = "a report is opened against another participant"
        return [Violation("counterparty_participant", "another_participant", message)]
    return []


def _only(row: ReportRow, role: str, operation: str) -> None:
    """The other role's decision is a 409: the DICT would refuse it from us."""
    if row.role != role:
        raise ConflictError(
            f"only the {role.lower()} may {operation} an infraction report; we are "
            f"its {row.role.lower()}",
            current=row.status,
            allowed=machine.SPEC.allowed(row.status),
        )


class InfractionReportController(Controller):
    path = "/v1/infraction-reports"
    tags = ["infraction-reports"]

    @post(
        "/",
        status_code=202,
        operation_id="createInfractionReport",
        guards=[requires("infractions:write")],
        sync_to_thread=True,
    )
    def create(self, data: JSONBody[ReportCreate]) -> Response[Report]:
        """Report a transaction of our customer's (as reporter): the DICT is told next."""
        c = data.contact_information
        request = rules.ReportRequest(
            transaction_id=data.transaction_id,
            reason=data.reason,
            situation_type=data.situation_type,
            contact_email=c.email,
            contact_phone=c.phone,
            report_details=data.report_details,
            transaction_at=data.transaction_at,
        )
        refuse(
            [
                *rules.report_violations(request, clock.now()),
                *_counterparty_violations(data.counterparty_participant),
            ]
        )
        with outbox.step(actor="api") as s:
            row = machine.submit(s, {**dataclasses.asdict(request), **_parties(data)})
            if row is None:
                raise _already_live(s.conn, data)
        location = f"/v1/infraction-reports/{row.id}"
        return Response(_report(row), status_code=202, headers={"Location": location})

    @get(
        "/{report_id:uuid}",
        operation_id="getInfractionReport",
        guards=[requires("infractions:read")],
        sync_to_thread=True,
    )
    def get_one(self, report_id: FromPath[uuid.UUID]) -> Report:
        """A report with its deadline and its history."""
        with db.pool().connection() as conn:
            return _report(_find(conn, report_id), conn)

    @get(
        "/",
        operation_id="listInfractionReports",
        guards=[requires("infractions:read")],
        sync_to_thread=True,
    )
    def list_(
        self,
        role: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> ReportPage:
        """Reports in arrival order; pass ``next_cursor`` back as ``cursor``."""
        one_of("role", role, ("REPORTER", "COUNTERPARTY"))
        one_of("status", status, machine.SPEC.states)
        after = pagination.decode(cursor)
        with db.pool().connection() as conn:
            rows = reports.page(conn, {"role": role, "status": status}, after, limit + 1)
        items, nxt = pagination.cut(rows, limit, lambda r: (r.inserted_at, r.id))
        return ReportPage([_report(r) for r in items], nxt)

    @post(
        "/{report_id:uuid}/cancel",
        status_code=202,
        operation_id="cancelInfractionReport",
        guards=[requires("infractions:write")],
        sync_to_thread=True,
    )
    def cancel(self, report_id: FromPath[uuid.UUID]) -> Report:
        """Reporter: withdraw our report (even after its close)."""
        with outbox.step(actor="api") as s:
            _only(_find(s.conn, report_id), "REPORTER", "cancel")
            machine.request(s, report_id, "cancel")  # 409 unless the status allows it
            return _report(_find(s.conn, report_id))

    @put(
        "/{report_id:uuid}",
        status_code=202,
        operation_id="updateInfractionReport",
        guards=[requires("infractions:write")],
        sync_to_thread=True,
    )
    def update(self, report_id: FromPath[uuid.UUID], data: JSONBody[ReportUpdate]) -> Report:
        """Reporter: change the situation, the contact or the details (checked as a new
        report is) while the report is open or acknowledged: the DICT is told next."""
        with outbox.step(actor="api") as s:
            row = _find(s.conn, report_id)
            _only(row, "REPORTER", "update")
            changed = _updated(row, data)
            refuse(rules.report_violations(changed, clock.now()))
            machine.request(  # 409 unless the status allows it
                s,
                report_id,
                "update",
                situation_type=changed.situation_type,
                contact_email=changed.contact_email,
                contact_phone=changed.contact_phone,
                report_details=changed.report_details,
            )
            return _report(_find(s.conn, report_id))

    @post(
        "/{report_id:uuid}/close",
        status_code=202,
        operation_id="closeInfractionReport",
        guards=[requires("infractions:write")],
        sync_to_thread=True,
    )
    def close(self, report_id: FromPath[uuid.UUID], data: JSONBody[ReportClose]) -> Report:
        """Counterparty: our analysis (AGREED needs the fraud type; a fraud marker follows)."""
        request = rules.CloseRequest(data.analysis_result, data.fraud_type, data.analysis_details)
        refuse(rules.close_violations(request))
        with outbox.step(actor="api") as s:
            _only(_find(s.conn, report_id), "COUNTERPARTY", "close")
            machine.request(s, report_id, "close", **msgspec.structs.asdict(data))
            return _report(_find(s.conn, report_id))


def _updated(row: ReportRow, data: ReportUpdate) -> rules.ReportRequest:
    """The report as it would be after the update (a field left out keeps its value)."""
    if data == ReportUpdate():
        message = "situation_type, contact_information or report_details"
        raise ValidationFailed([("body", "nothing_to_update", message)])
    contact = data.contact_information or ContactInformation(row.contact_email, row.contact_phone)
    return rules.ReportRequest(
        transaction_id=row.transaction_id,
        reason=row.reason,
        situation_type=data.situation_type or row.situation_type,
        contact_email=contact.email,
        contact_phone=contact.phone,
        report_details=row.report_details if data.report_details is None else data.report_details,
    )


def _already_live(conn: db.Conn, data: ReportCreate) -> ConflictError:
    """The DICT allows one live report per transaction and reason: name ours."""
    live = reports.live_for(conn, data.transaction_id, data.reason)
    which = f"infraction report {live.id}" if live else "an infraction report of ours"
    return ConflictError(
        f"{which} is live for this transaction and reason (the DICT allows one)",
        current=live.status if live else "",
    )


def _parties(data: ReportCreate) -> dict[str, str]:
    return {
        "reporter_participant": settings.bridge().participant,
        "counterparty_participant": data.counterparty_participant,
    }
