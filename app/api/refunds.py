"""/v1/refunds: refund requests of the special return mechanism (MED), as the payer's
PSP (REQUESTING) and as the payee's PSP (CONTESTED).

As requester a POST asks the other PSP to return funds (checked as the DICT checks
it, every bad field named: ``app.domain.refunds``; a FRAUD or REFUND_CANCELLED request
needs our infraction report on the transaction closed AGREED within the last 72 h) and
``cancel`` withdraws it while it is open. As contested, requests arrive by polling;
``close`` records our analysis before ``due_at``. The machine serialises the decisions:
a request the status does not allow gets 409 with the current status and the allowed
triggers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from app import clock, db, outbox, settings
from app.api import pagination
from app.api.auth import requires
from app.api.errors import ConflictError, NotFoundError, one_of, refuse
from app.api.history import Change, history
from app.domain import refunds as rules
from app.domain.keys import Violation
from app.repo import refunds
from app.repo.refunds import RefundRow
from statemachines import refund as machine


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True):
    transaction_id: str
    refund_reason: str
    refund_amount: Decimal
    """In reais, at most two decimal places: a JSON number or a string ("100.00")."""
    refund_details: str | None = None
    transaction_at: datetime | None = None
    """When the transaction settled, if known: an operational flaw is refunded within 90
    days."""


class RefundClose(msgspec.Struct, forbid_unknown_fields=True):
    analysis_result: str
    analysis_details: str | None = None
    rejection_reason: str | None = None
    refund_transaction_id: str | None = None
    refunded_amount: Decimal | None = None
    """What the pacs.004 returned; required for PARTIALLY_ACCEPTED."""


class Refund(msgspec.Struct):
    id: uuid.UUID
    dict_id: str | None
    role: str
    status: str
    dict_status: str | None
    transaction_id: str
    refund_reason: str
    refund_amount: Decimal
    refund_details: str | None
    transaction_at: datetime | None
    requesting_participant: str
    contested_participant: str | None
    infraction_report_id: str | None
    """The DICT's id of the AGREED infraction report a FRAUD request follows."""
    analysis_result: str | None
    analysis_details: str | None
    rejection_reason: str | None
    refund_transaction_id: str | None
    refunded_amount: Decimal | None
    created_at: datetime | None
    """The DICT's CreationTime."""
    due_at: datetime | None
    """Contested: when our analysis is due (REFUND_ANALYSIS_HOURS after creation)."""
    problem_type: str | None
    problem_detail: str | None
    updated_at: datetime
    history: list[Change] | None = None


class RefundPage(msgspec.Struct):
    items: list[Refund]
    next_cursor: str | None


def _refund(row: RefundRow, conn: db.Conn | None = None) -> Refund:
    view = Refund(
        id=row.id,
        dict_id=row.dict_id,
        role=row.role,
        status=row.status,
        dict_status=row.dict_status,
        transaction_id=row.transaction_id,
        refund_reason=row.refund_reason,
        refund_amount=row.refund_amount,
        refund_details=row.refund_details,
        transaction_at=row.transaction_at,
        requesting_participant=row.requesting_participant,
        contested_participant=row.contested_participant,
        infraction_report_id=row.infraction_report_id,
        analysis_result=row.analysis_result,
        analysis_details=row.analysis_details,
        rejection_reason=row.rejection_reason,
        refund_transaction_id=row.refund_transaction_id,
        refunded_amount=row.refunded_amount,
        created_at=row.dict_created_at,
        due_at=row.due_at,
        problem_type=row.problem_type,
        problem_detail=row.problem_detail,
        updated_at=row.updated_at,
    )
    if conn is not None:
        view.history = history(conn, machine.MACHINE, str(row.id))
    return view


def _find(conn: db.Conn, refund_id: uuid.UUID) -> RefundRow:
    row = refunds.get(conn, refund_id)
    if row is None:
        raise NotFoundError("refund", str(refund_id))
    return row


def _only(row: RefundRow, role: str, operation: str) -> None:
    """The other role's decision is a 409: the DICT would refuse it from us."""
    if row.role != role:
        raise ConflictError(
            f"only the {role.lower()} participant may {operation} a refund request; we "
            f"are its {row.role.lower()} participant",
            current=row.status,
            allowed=machine.SPEC.allowed(row.status),
        )


def _report_violations(
    conn: db.Conn, data: RefundCreate
) -> tuple[list[Violation], datetime | None]:
    """A FRAUD or REFUND_CANCELLED request follows our infraction report on the
    transaction, closed AGREED: the DICT refuses one without it
    (RefundInfractionReportNotFound). Returns the report's close for the 72 h window."""
    reason = rules.REPORT_REASON.get(data.refund_reason)
    if reason is None:
        return [], None
    report = refunds.agreed_report(conn, data.transaction_id, reason)
    if report is None:
        message = (
            f"a {data.refund_reason} refund follows our {reason} infraction report on this "
            "transaction, closed AGREED by the other PSP"
        )
        return [Violation("transaction_id", "agreed_report_required", message)], None
    return [], report.closed_at


class RefundController(Controller):
    path = "/v1/refunds"
    tags = ["refunds"]

    @post(
        "/",
        status_code=202,
        operation_id="createRefund",
        guards=[requires("refunds:write")],
        sync_to_thread=True,
    )
    def create(self, data: JSONBody[RefundCreate]) -> Response[Refund]:
        """Ask the payee's PSP to return funds (as the payer's PSP): the DICT is told next."""
        with outbox.step(actor="api") as s:  # the report is read, the request inserted
            linked, closed_at = _report_violations(s.conn, data)
            request = rules.RefundRequest(
                transaction_id=data.transaction_id,
                refund_reason=data.refund_reason,
                refund_amount=data.refund_amount,
                refund_details=data.refund_details,
                transaction_at=data.transaction_at,
                report_closed_at=closed_at,
            )
            refuse([*rules.refund_violations(request, clock.now()), *linked])
            fields = {
                "transaction_id": data.transaction_id,
                "refund_reason": data.refund_reason,
                "refund_amount": data.refund_amount,
                "refund_details": data.refund_details,
                "transaction_at": data.transaction_at,
                "requesting_participant": settings.bridge().participant,
            }
            row = machine.submit(s, fields)
            if row is None:
                raise _in_progress(s.conn, data.transaction_id)
        return Response(
            _refund(row), status_code=202, headers={"Location": f"/v1/refunds/{row.id}"}
        )

    @get(
        "/{refund_id:uuid}",
        operation_id="getRefund",
        guards=[requires("refunds:read")],
        sync_to_thread=True,
    )
    def get_one(self, refund_id: FromPath[uuid.UUID]) -> Refund:
        """A refund request with its deadline and its history."""
        with db.pool().connection() as conn:
            return _refund(_find(conn, refund_id), conn)

    @get(
        "/",
        operation_id="listRefunds",
        guards=[requires("refunds:read")],
        sync_to_thread=True,
    )
    def list_(
        self,
        role: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        refund_reason: FromQuery[str | None] = None,
        transaction_id: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> RefundPage:
        """Requests in arrival order; pass ``next_cursor`` back as ``cursor``."""
        one_of("role", role, ("REQUESTING", "CONTESTED"))
        one_of("status", status, machine.SPEC.states)
        one_of("refund_reason", refund_reason, [m.value for m in rules.Reason])
        after = pagination.decode(cursor)
        filters = {
            "role": role,
            "status": status,
            "refund_reason": refund_reason,
            "transaction_id": transaction_id,
        }
        with db.pool().connection() as conn:
            rows = refunds.page(conn, filters, after, limit + 1)
        items, nxt = pagination.cut(rows, limit, lambda r: (r.inserted_at, r.id))
        return RefundPage([_refund(r) for r in items], nxt)

    @post(
        "/{refund_id:uuid}/cancel",
        status_code=202,
        operation_id="cancelRefund",
        guards=[requires("refunds:write")],
        sync_to_thread=True,
    )
    def cancel(self, refund_id: FromPath[uuid.UUID]) -> Refund:
        """Requesting: withdraw our request while it is open."""
        with outbox.step(actor="api") as s:
            _only(_find(s.conn, refund_id), "REQUESTING", "cancel")
            machine.request(s, refund_id, "cancel")  # 409 unless the status allows it
            return _refund(_find(s.conn, refund_id))

    @post(
        "/{refund_id:uuid}/close",
        status_code=202,
        operation_id="closeRefund",
        guards=[requires("refunds:write")],
        sync_to_thread=True,
    )
    def close(self, refund_id: FromPath[uuid.UUID], data: JSONBody[RefundClose]) -> Refund:
        """Contested: our analysis (an acceptance names the pacs.004 that returned the
        funds; a rejection its reason)."""
        with outbox.step(actor="api") as s:
            row = _find(s.conn, refund_id)
            _only(row, "CONTESTED", "close")
            request = rules.CloseRequest(
                refund_reason=row.refund_reason,
                requested_amount=row.refund_amount,
                analysis_result=data.analysis_result,
                analysis_details=data.analysis_details,
                rejection_reason=data.rejection_reason,
                refund_transaction_id=data.refund_transaction_id,
                refunded_amount=data.refunded_amount,
            )
            refuse(rules.close_violations(request))
            arguments = msgspec.to_builtins(data)  # the amount as a decimal string
            machine.request(s, refund_id, "close", **arguments)
            return _refund(_find(s.conn, refund_id))


def _in_progress(conn: db.Conn, transaction_id: str) -> ConflictError:
    """The DICT allows one request in progress per transaction: name ours."""
    live = refunds.in_progress_for(conn, transaction_id)
    which = f"refund request {live.id}" if live else "a refund request of ours"
    return ConflictError(
        f"{which} is in progress for this transaction (the DICT allows one)",
        current=live.status if live else "",
    )
