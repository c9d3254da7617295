"""Refund requests (MED): our calls to the DICT, the contested side's deadlines, and the
poll that learns what the other side did.

The calls follow ``actors/following.py``: a refused call goes back to ``open``, then the
request is read again (GetRefund) and moved to whatever the DICT holds.

The DICT's CreateRefundRequest has no RequestId, so a repeat after a lost answer is
refused (``RefundAlreadyBeingProcessedForTransaction`` while the first is OPEN,
``RefundAlreadyProcessedForTransaction`` once it closed): ``create_refund`` then adopts
the request the DICT holds, found by listing ours (the poll does the same if it sees the
request first).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import dramatiq
from periodiq import cron

from actors import listing
from actors.entries import client
from actors.following import Followed
from actors.listing import Listing, ts
from actors.spine import claim_slot, cron_slot
from app import db, outbox, queue, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.domain import refunds as rules
from app.events import RefundDeadline
from app.repo import refunds
from app.repo.refunds import RefundRow
from statemachines import refund as machine

log = logging.getLogger(__name__)

ROLES = ("REQUESTING", "CONTESTED")
FIRST_LOOK_BACK = timedelta(days=90)
"""The first poll reads this far back (an operational flaw is refunded within 90 days)."""
ADOPT_LOOK_BACK = timedelta(minutes=5)
"""A lost create answer: the DICT's request was modified at most this long before our
row was inserted (the clocks may disagree by that much)."""
POLL_TIME_LIMIT_MS = 300_000
ALREADY = (
    problems.RefundAlreadyBeingProcessedForTransaction,
    problems.RefundAlreadyProcessedForTransaction,
)


def dict_fields(r: pb.Refund, role: str) -> dict[str, Any]:
    """What the DICT says of a request, as the columns of ``refunds``."""
    created = ts(r.creation_time)
    due = None
    if role == "CONTESTED" and created is not None:
        due = rules.analysis_deadline(created, settings.med().refund_analysis_hours)
    return {
        "dict_id": r.id,
        "dict_status": r.status,
        "dict_last_modified": ts(r.last_modified),
        "dict_created_at": created,
        "due_at": due,
        "contested_participant": r.contested_participant or None,
        "infraction_report_id": r.infraction_report_id or None,
        "analysis_result": r.analysis_result or None,
        "analysis_details": r.analysis_details or None,
        "rejection_reason": r.refund_rejection_reason or None,
        "refund_transaction_id": r.refund_transaction_id or None,
    }


def learned_fields(r: pb.Refund, role: str) -> dict[str, Any]:
    """A request first seen in the DICT's list, as a new row in ``role``."""
    return {
        "role": role,
        "transaction_id": r.transaction_id,
        "refund_reason": r.refund_reason,
        "refund_amount": Decimal(r.refund_amount),
        "refund_details": r.refund_details or None,
        "requesting_participant": r.requesting_participant,
        **dict_fields(r, role),
    }


def read_refund(dict_id: str) -> pb.Refund:
    """The request as the DICT holds it now."""
    return client().get_refund(pb.GetRefundRequest(refund_id=dict_id)).refund


REFUND: Followed[pb.Refund, RefundRow] = Followed(
    "refund", machine.FOLLOW, refunds.get, read_refund, lambda r, row: dict_fields(r, row.role)
)


# ---------------------------------------------------------------------- create


def _create_request(row: RefundRow) -> pb.CreateRefundRequest:
    return pb.CreateRefundRequest(
        participant=settings.bridge().participant,
        transaction_id=row.transaction_id,
        refund_reason=row.refund_reason,
        refund_amount=f"{row.refund_amount:.2f}",
        refund_details=row.refund_details or "",
    )


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def create_refund(refund_id: str) -> None:
    """CreateRefund for our request in ``submitting``; a lost answer is recovered by
    listing our requests (the DICT's request has no RequestId)."""
    row = REFUND.load(refund_id)
    if row is None or row.status != "submitting":
        return
    refusal: problems.DictProblem | None = None
    answer: pb.Refund | None
    try:
        answer = client().create_refund(_create_request(row)).refund
    except ALREADY as exc:
        answer, refusal = _ours_already(row), exc  # our earlier try's answer was lost
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        answer, refusal = None, exc
    if answer is not None:
        REFUND.apply(refund_id, lambda s: REFUND.settle(s, row, answer, "submitted"))
        return
    assert refusal is not None
    problem = (refusal.type, refusal.detail)
    REFUND.apply(refund_id, lambda s: machine.fire(s, refund_id, "submit_refused", problem=problem))


def _ours_already(row: RefundRow) -> pb.Refund | None:
    """The request we made on this transaction, if the DICT holds one that no row of
    ours carries (not a cancelled one: we never cancel a request still submitting)."""
    for page in listing.pages(partial(_fetch, "REQUESTING"), row.inserted_at - ADOPT_LOOK_BACK):
        for r in page:
            ours = r.transaction_id == row.transaction_id and r.refund_reason == row.refund_reason
            if ours and r.status != "CANCELLED" and not _known(r.id):
                return r
    return None


def _known(dict_id: str) -> bool:
    with db.pool().connection() as conn:
        return refunds.by_dict_id(conn, dict_id, "REQUESTING") is not None


def _fetch(role: str, since: datetime) -> tuple[Sequence[pb.Refund], bool]:
    """One page of the DICT's list where we have ``role``, modified since ``since``."""
    request = pb.ListRefundsRequest(
        participant=settings.bridge().participant,
        participant_role=role,
        include_details=True,
        limit=listing.PAGE,
    )
    request.modified_after.FromDatetime(since)
    page = client().list_refunds(request)
    return page.refunds, page.has_more_elements


# ---------------------------------------------------------------------- our decisions


def _close(row: RefundRow) -> pb.Refund:
    """CloseRefund with the analysis waiting in ``pending``."""
    pending = row.pending or {}
    request = pb.CloseRefundRequest(
        refund_id=REFUND.dict_id(row),
        participant=settings.bridge().participant,
        refund_analysis_result=pending.get("analysis_result") or "",
        refund_analysis_details=pending.get("analysis_details") or "",
        refund_rejection_reason=pending.get("rejection_reason") or "",
        refund_transaction_id=pending.get("refund_transaction_id") or "",
        refunded_amount=pending.get("refunded_amount") or "",
    )
    return client().close_refund(request).refund


def _cancel(row: RefundRow) -> pb.Refund:
    request = pb.CancelRefundRequest(
        refund_id=REFUND.dict_id(row), participant=settings.bridge().participant
    )
    return client().cancel_refund(request).refund


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def close_refund(refund_id: str) -> None:
    """Contested: CloseRefund with the analysis waiting in ``pending``."""
    REFUND.call(refund_id, "closing", _close, refused="close_refused")


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def cancel_refund(refund_id: str) -> None:
    """Requesting: CancelRefund (only while the request is OPEN)."""
    REFUND.call(refund_id, "cancelling", _cancel, refused="cancel_refused")


# ---------------------------------------------------------------------- deadlines


@dramatiq.actor(queue_name="default")
def refund_deadline(refund_id: str, deadline: str) -> None:
    """Contested: the warning (``refunds.deadline_approaching``) and the miss
    (``refunds.deadline_missed``), unless the request was closed or cancelled meanwhile
    (its timers are cancelled then; this checks again)."""
    with outbox.step(actor="deadline") as s:
        row = refunds.get(s.conn, refund_id)
        if row is None or row.role != "CONTESTED" or row.due_at is None:
            return
        if row.status in machine.TERMINAL:
            return
        payload = RefundDeadline(
            refund_id=refund_id,
            dict_id=row.dict_id,
            status=row.status,
            due_at=row.due_at.isoformat(),
        )
        s.add([_deadline_event(deadline, payload)])


def _deadline_event(deadline: str, payload: RefundDeadline) -> outbox.Effect:
    subject = machine.subject(payload.refund_id)
    if deadline == "approaching":
        return outbox.event("refunds.deadline_approaching", payload, subject=subject)
    return outbox.event("refunds.deadline_missed", payload, subject=subject)


# ---------------------------------------------------------------------- the poll


@dramatiq.actor(
    queue_name="poll", periodic=cron("* * * * *"), max_retries=0, time_limit=POLL_TIME_LIMIT_MS
)
def poll_refunds() -> None:
    """Every minute: learn the requests against us, and what happened to ours."""
    if claim_slot("poll_refunds", cron_slot()):
        poll()


def poll() -> int:
    """One pass over each role's list, from its cursor; returns the requests applied."""
    return sum(listing.poll(_listing(role)) for role in ROLES)


def _listing(role: str) -> Listing[pb.Refund, RefundRow]:
    return listing.of_role(
        "refunds", role, _fetch, refunds.lock_many, _apply_one, read_refund, FIRST_LOOK_BACK
    )


def _apply_one(role: str, s: outbox.Step, item: pb.Refund, row: RefundRow | None) -> None:
    """Bring a request we hold level with the DICT, record one new to us, or attach our
    own request whose create answer was lost."""
    if row is not None:
        machine.observe(s, row, item.status, dict_fields(item, role))
    elif role == "CONTESTED":
        machine.learn(s, learned_fields(item, role), item.status.lower())
    else:
        ours = refunds.submitting_for(s.conn, item.transaction_id)
        if ours is not None and item.status != "CANCELLED":
            REFUND.settle(s, ours, item, "submitted")
        elif ours is None:
            log.info("refund %s names us as requester; no request of ours", item.id)
