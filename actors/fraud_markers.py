"""Fraud markers: our calls to the DICT, and the markers our AGREED closes of infraction
reports created.

The same rules as claims and infraction reports: re-read, act only in the expected
status, no transaction across the call, apply the answer guarded by the status it
expects. CreateFraudMarker carries our RequestId, so a repeat after a lost answer
returns the marker the first call registered (the DICT writes it once). A refused
cancel goes back to registered, then the marker is read again (GetFraudMarker) and
moved to whatever the DICT holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dramatiq

from actors.entries import client
from app import db, outbox, queue, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.repo import fraud_markers as markers
from app.repo.fraud_markers import MarkerRow
from statemachines import fraud_marker as machine
from statemachines.core import IllegalTrigger

log = logging.getLogger(__name__)


def _ts(value: Any) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if value.ByteSize() else None


def dict_fields(m: pb.FraudMarker) -> dict[str, Any]:
    """What the DICT says of a marker, as the columns ``set_status`` may fill."""
    return {
        "dict_id": m.id,
        "dict_created_at": _ts(m.creation_time),
        "dict_last_modified": _ts(m.last_modified),
    }


def recorded_fields(m: pb.FraudMarker) -> dict[str, Any]:
    """A marker our close created, as a new row (the DICT says whom it marks)."""
    return {
        **dict_fields(m),
        "tax_id_number": m.tax_id_number or None,
        "key": m.key or None,
        "fraud_type": m.fraud_type,
    }


def _load(marker_id: str) -> MarkerRow | None:
    with db.pool().connection() as conn:
        return markers.get(conn, marker_id)


def _get(s: outbox.Step, marker_id: Any) -> MarkerRow:
    row = markers.get(s.conn, marker_id)
    assert row is not None
    return row


def _apply(marker_id: str, change: Callable[[outbox.Step], Any]) -> None:
    """Apply an answer; a concurrent delivery that got there first is success."""
    try:
        with outbox.step(actor="worker") as s:
            change(s)
    except IllegalTrigger as exc:
        log.info("fraud marker %s already moved on (%s)", marker_id, exc.current)


def _dict_id(row: MarkerRow) -> str:
    """The DICT's id of a marker past ``submitting`` (a CHECK constraint guarantees it)."""
    if row.dict_id is None:
        raise LookupError(f"fraud marker {row.id} has no DICT id yet")
    return row.dict_id


def read_marker(dict_id: str) -> pb.FraudMarker:
    """The marker as the DICT holds it now."""
    return client().get_fraud_marker(pb.GetFraudMarkerRequest(id=dict_id)).marker


# ---------------------------------------------------------------------- create


def _create_request(row: MarkerRow) -> pb.CreateFraudMarkerRequest:
    return pb.CreateFraudMarkerRequest(
        participant=settings.bridge().participant,
        tax_id_number=row.tax_id_number or "",
        key=row.key or "",
        fraud_type=row.fraud_type,
        request_id=str(row.request_id),
    )


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def create_fraud_marker(marker_id: str) -> None:
    """CreateFraudMarker for our marker in ``submitting``, with its RequestId: a repeat
    (a retry, a redelivery, a lost answer) gets the marker the first call registered."""
    row = _load(marker_id)
    if row is None or row.status != "submitting":
        return
    try:
        answer = client().create_fraud_marker(_create_request(row)).marker
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        refusal = (exc.type, exc.detail)
        _apply(
            marker_id,
            lambda s: machine.fire(
                s, marker_id, "submit_refused", reason=refusal[0], problem=refusal
            ),
        )
        return
    fields = dict_fields(answer)

    def adopt(s: outbox.Step) -> None:
        machine.fire(s, marker_id, "submitted", **fields)
        machine.observe(s, _get(s, marker_id), answer.status, fields)

    _apply(marker_id, adopt)


# ---------------------------------------------------------------------- cancel


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def cancel_fraud_marker(marker_id: str) -> None:
    """CancelFraudMarker for our marker in ``cancelling``. Transport failures, 5xx and
    rate limits raise: Dramatiq retries the same call (the DICT's cancel is idempotent)."""
    row = _load(marker_id)
    if row is None or row.status != "cancelling":
        return
    request = pb.CancelFraudMarkerRequest(
        id=_dict_id(row), participant=settings.bridge().participant
    )
    try:
        answer = client().cancel_fraud_marker(request).marker
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        _refused(row, exc)
        return
    fields = dict_fields(answer)
    _apply(marker_id, lambda s: machine.observe(s, _get(s, marker_id), answer.status, fields))


def _refused(row: MarkerRow, exc: problems.DictProblem) -> None:
    """Go back to registered with the DICT's refusal, then move to what the DICT holds.
    The marker is read first: if that fails transiently the actor is retried and nothing
    changed; if the DICT cannot show it either, the refusal alone is recorded."""
    try:
        fresh: pb.FraudMarker | None = read_marker(_dict_id(row))
    except problems.DictProblem as failed:
        if failed.retryable:
            raise
        log.warning("fraud marker %s: the DICT refused the cancel and the read", row.id)
        fresh = None
    marker_id = row.id

    def change(s: outbox.Step) -> None:
        problem = (exc.type, exc.detail)
        machine.fire(s, marker_id, "cancel_refused", reason=exc.type, problem=problem)
        if fresh is not None:
            machine.observe(s, _get(s, marker_id), fresh.status, dict_fields(fresh))

    _apply(str(marker_id), change)


# ---------------------------------------------------------------------- from reports


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def record_fraud_marker(report_id: str, dict_id: str) -> None:
    """Counterparty: our AGREED close of infraction report ``report_id`` created marker
    ``dict_id``; read it from the DICT (the report does not say whom it marks) and
    record it registered, or as the DICT holds it now. Repeats record it once."""
    answer = read_marker(dict_id)
    fields = recorded_fields(answer)

    def change(s: outbox.Step) -> None:
        if machine.record(s, report_id, fields, answer.status) is None:
            log.warning("fraud marker %s of report %s was not recorded", dict_id, report_id)

    _apply(dict_id, change)


@dramatiq.actor(queue_name="default")
def report_marker_cancelled(report_id: str, dict_id: str) -> None:
    """The infraction report whose close created marker ``dict_id`` was cancelled: the
    DICT cancelled the marker with it, and so do we (no call). A marker not recorded
    yet is recorded cancelled by ``record_fraud_marker``, which sees the report."""

    def change(s: outbox.Step) -> None:
        row = machine.report_cancelled(s, report_id)
        if row is None:
            log.info("fraud marker %s of report %s is not recorded yet", dict_id, report_id)

    _apply(dict_id, change)
