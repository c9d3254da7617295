"""The fraud marker machine (DICT.md §5, v2), declared, and the steps that move it: one
machine for both origins.

Statuses are the DICT's (lowercase: REGISTERED, CANCELLED) plus our calls in flight
(submitting, cancelling). We register a marker for our own customer (origin OURS) with
CreateFraudMarker, whose RequestId makes a repeat harmless; the DICT also creates one
when we, the counterparty, close an infraction report AGREED (origin INFRACTION_REPORT):
that one is recorded already registered (``record``, from the report's ``closed``
effects) and is cancelled with its report (``report_cancelled``): the DICT cancels both
when the reporter cancels the report. Either origin may be cancelled by us (its creator,
or the PSP that closed the generating report).

    submitting -> registered -> cancelling -> cancelled
        |            ^-------------'  (refused: back, then what the DICT holds)
     rejected     (INFRACTION_REPORT: inserted here)

What the DICT reports always wins: ``CATCH_UP`` says, for each of our statuses and
each DICT status, which triggers bring our record level with the DICT.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from app import outbox
from app.events import FraudMarkerEvent
from app.outbox import Effect, Step
from app.repo import fraud_markers as markers
from app.repo.fraud_markers import DICT_FIELDS, MarkerRow
from statemachines import core
from statemachines.core import Spec, Subject, T, Transition, Triggers

log = logging.getLogger(__name__)

MACHINE = "fraud_marker"
TERMINAL = ("rejected", "cancelled")


def subject(marker_id: Any) -> str:
    return f"fraud_marker:{marker_id}"


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def event(topic: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    """The marker as core banking sees it, with what the DICT just said (``ctx``)."""

    def build(s: Subject, ctx: Mapping[str, Any]) -> Effect:
        row: MarkerRow = s.row
        return outbox.event(
            topic,
            FraudMarkerEvent(
                marker_id=s.id,
                dict_id=ctx.get("dict_id") or row.dict_id,
                status=s.state,
                origin=row.origin,
                fraud_type=row.fraud_type,
                tax_id_number=row.tax_id_number,
                key=row.key,
                infraction_report_id=_str(row.infraction_report_id),
                problem_type=ctx.get("problem_type"),
            ),
            subject=subject(s.id),
        )

    return build


def _call(actor: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    return lambda s, ctx: outbox.task(actor, subject=subject(s.id), marker_id=s.id)


SPEC = Spec(
    table="fraud_markers",
    row=MarkerRow,
    name=MACHINE,
    states=("submitting", "rejected", "registered", "cancelling", "cancelled"),
    # submitting: ours, to send; registered: created by our AGREED close of a report.
    initial=("submitting", "registered"),
    terminal=TERMINAL,
    transitions=(
        T("submitted", "submitting", "registered", effects=event("fraud_markers.registered")),
        T("submit_refused", "submitting", "rejected", effects=event("fraud_markers.rejected")),
        T("cancel", "registered", "cancelling", effects=_call("cancel_fraud_marker")),
        T("cancel_refused", "cancelling", "registered"),
        # CANCELLED is final in the DICT: even a call of ours in flight is moot.
        T(
            "cancelled",
            ("registered", "cancelling"),
            "cancelled",
            effects=event("fraud_markers.cancelled"),
        ),
    ),
)

# How our record catches up with a status the DICT reports, by our status then the
# DICT's (``core.Triggers``).
CATCH_UP: dict[str, dict[str, Triggers]] = {
    "submitting": {},  # the create answer decides
    "registered": {"CANCELLED": ("cancelled",)},
    "cancelling": {"CANCELLED": ("cancelled",)},
    "cancelled": {"REGISTERED": None},
    "rejected": {"REGISTERED": None, "CANCELLED": None},
}


# ---------------------------------------------------------------------- the steps

FOLLOW = core.Follower(SPEC, DICT_FIELDS, CATCH_UP, markers.get, markers.seen)
fire, observe, catch_up = FOLLOW.fire, FOLLOW.observe, FOLLOW.triggers


def new_row(now: datetime, fields: Mapping[str, Any], status: str) -> MarkerRow:
    """A marker to insert in ``status``: its id is drawn here."""
    return core.new_row(MarkerRow, now, fields, status)


def submit(step: Step, fields: Mapping[str, Any]) -> MarkerRow:
    """Insert our marker as submitting, with the RequestId every CreateFraudMarker of
    it will carry, and schedule the call."""
    step.tag("submit", "USER_REQUESTED")
    row = new_row(step.now, {**fields, "origin": "OURS", "request_id": uuid.uuid4()}, "submitting")
    (row,) = markers.insert(step.conn, [row])
    step.add([outbox.task("create_fraud_marker", subject=subject(row.id), marker_id=str(row.id))])
    return row


def request_cancel(step: Step, marker_id: Any) -> Transition:
    """Ask for CancelFraudMarker: the call leaves with the status it left in ``pending``."""
    return FOLLOW.request(step, marker_id, "cancel")


def record(
    step: Step, report_id: Any, fields: Mapping[str, Any], dict_status: str
) -> MarkerRow | None:
    """Record the marker our AGREED close of infraction report ``report_id`` created, as
    the DICT holds it (``fields``): inserted registered with its event, then brought
    level with the DICT, and cancelled if the report was cancelled meanwhile. The
    report is share-locked first, so its cancellation waits for this record or is seen
    by it. None if the report is unknown; the marker already recorded is returned."""
    report_status = markers.report_status_for_share(step.conn, report_id)
    if report_status is None:
        return None
    step.tag("recorded", None)
    row = new_row(
        step.now,
        {**fields, "origin": "INFRACTION_REPORT", "infraction_report_id": report_id},
        "registered",
    )
    inserted = markers.insert(step.conn, [row])
    if inserted:
        s = Subject(str(row.id), row.status, inserted[0], step.now)
        step.add([event("fraud_markers.registered")(s, {})])
    held = markers.of_report(step.conn, report_id)
    if held is None:  # another marker holds this DICT id: not this report's (logged)
        log.warning(
            "fraud marker %s is recorded, not for report %s", fields.get("dict_id"), report_id
        )
        return None
    observe(step, held, dict_status, fields)
    if report_status == "cancelled":
        report_cancelled(step, report_id)
    return markers.get(step.conn, held.id)


def report_cancelled(step: Step, report_id: Any) -> MarkerRow | None:
    """The infraction report that created our marker was cancelled: the DICT cancelled
    the marker with it (DICT.md §5), and so do we, even with our own cancel in flight."""
    row = markers.of_report(step.conn, report_id)
    if row is None or row.status not in ("registered", "cancelling"):
        return row
    fire(step, row.id, "cancelled", reason="INFRACTION_REPORT_CANCELLED")
    return markers.get(step.conn, row.id)
