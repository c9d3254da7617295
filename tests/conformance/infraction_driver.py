"""Bring infraction reports to a row's state over gRPC through the real clients.

Ours is the debited PSP of every transaction, so the reporter; the other participant the
credited one, so the counterparty; a third participant (``STRANGER_ISPB``, added when a
row needs it) is party to nothing. Transactions are the SPI's, registered by
``AdminClient.add_transaction``; time moves only by the simulator's clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.conformance.spec_infraction_tables import (
    ACKNOWLEDGED,
    CANCELLED,
    CANCELLED_REFUND,
    CLOSED,
    CLOSED_THEN_CANCELLED,
    EMAIL,
    OPEN,
    PHONE,
    REQUEST,
)
from tests.integration.bridge.builders import OTHER, OURS, rid

STRANGER_ISPB = "11223355"
CONTACT = pb.ContactInformation(email=EMAIL, phone=PHONE)
CANCELLED_DETAILS = "O pagador aplicou um golpe no recebedor"


def transaction_id(n: int = 1, reason: str = REQUEST) -> str:
    """The n-th payment ours made to the other PSP (an E2E id), or for REFUND_CANCELLED the
    n-th pacs.004 by which ours returned one (its RtrId, D...); 32 characters."""
    prefix = "D" if reason == CANCELLED_REFUND else "E"
    return f"{prefix}{OURS}202612031200{n:011d}"


def pay(
    admin: AdminClient, n: int = 1, reason: str = REQUEST, settled_at: datetime | None = None
) -> str:
    """The SPI settles the n-th transaction a ``reason`` names, debiting ours."""
    tx = transaction_id(n, reason)
    admin.add_transaction(tx, OURS, OTHER, "100.00", settled_at)
    return tx


def create(tx: str, reason: str = REQUEST, **fields: Any) -> pb.CreateInfractionReportRequest:
    """Ours reports ``tx`` as the connector does (with our bookkeeping fields, NOT IN THE
    DICT); a REFUND_CANCELLED report is of SituationType OTHER, explained."""
    cancelled = reason == CANCELLED_REFUND
    request: dict[str, Any] = {
        "participant": OURS,
        "transaction_id": tx,
        "reason": reason,
        "situation_type": "OTHER" if cancelled else "SCAM",
        "report_details": CANCELLED_DETAILS if cancelled else "",
        "contact_information": CONTACT,
        "counterparty_participant": OTHER,
        "request_id": rid(),
    }
    return pb.CreateInfractionReportRequest(**(request | fields))


def opened(
    ours: DictClient, admin: AdminClient, n: int = 1, reason: str = REQUEST
) -> pb.InfractionReport:
    return ours.create_infraction_report(create(pay(admin, n, reason), reason)).report


def acknowledge(client: DictClient, report: pb.InfractionReport) -> pb.InfractionReport:
    request = pb.AcknowledgeInfractionReportRequest(id=report.id, participant=client.participant)
    return client.acknowledge_infraction_report(request).report


def close(
    client: DictClient,
    report: pb.InfractionReport,
    result: str = "AGREED",
    fraud_type: str | None = None,
    details: str = "",
) -> pb.InfractionReport:
    """The counterparty closes (AGREED as SCAMMER_ACCOUNT unless said)."""
    if fraud_type is None:
        fraud_type = "SCAMMER_ACCOUNT" if result == "AGREED" else ""
    request = pb.CloseInfractionReportRequest(
        id=report.id,
        participant=client.participant,
        analysis_result=result,
        analysis_details=details,
        fraud_type=fraud_type,
    )
    return client.close_infraction_report(request).report


def cancel(client: DictClient, report: pb.InfractionReport) -> pb.InfractionReport:
    request = pb.CancelInfractionReportRequest(id=report.id, participant=client.participant)
    return client.cancel_infraction_report(request).report


def brought(
    ours: DictClient,
    theirs: DictClient,
    admin: AdminClient,
    status: str,
    n: int = 1,
    reason: str = REQUEST,
    result: str = "AGREED",
) -> pb.InfractionReport:
    """Ours reports the n-th transaction; the report is brought to ``status`` (CLOSED as
    ``result``)."""
    report = opened(ours, admin, n, reason)
    if status == OPEN:
        return report
    report = acknowledge(theirs, report)
    if status in (CLOSED, CLOSED_THEN_CANCELLED):
        report = close(theirs, report, result)
    if status in (CANCELLED, CLOSED_THEN_CANCELLED):
        report = cancel(ours, report)
    assert status in (ACKNOWLEDGED, CLOSED, CANCELLED, CLOSED_THEN_CANCELLED)
    return report


def listing(client: DictClient, **filters: Any) -> pb.ListInfractionReportsResponse:
    request = pb.ListInfractionReportsRequest(participant=client.participant, **filters)
    return client.list_infraction_reports(request)


@contextmanager
def stranger(sim: SimulatorHandle, admin: AdminClient) -> Iterator[DictClient]:
    """A third participant, party to no report."""
    admin.add_participant(STRANGER_ISPB)
    with DictClient(sim.address, STRANGER_ISPB, timeout_s=10) as client:
        yield client
