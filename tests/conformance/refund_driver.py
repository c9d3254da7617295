"""Bring refund requests to a row's state over gRPC through the real clients.

Ours is the payer's PSP (the requester), the other participant the payee's PSP (the
contested one). Transactions are the SPI's, registered by ``AdminClient.add_transaction``;
time moves only by the simulator's clock (``AdminClient.advance_clock``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from simulator.admin_client import AdminClient
from tests.conformance.spec_refund_tables import (
    AGREED,
    AGREED_THEN_CANCELLED,
    DISAGREED,
    FLAW,
    FRAUD,
    NO_CLOSE,
    NONE,
    PIX_AUTOMATICO,
    REFUND_CANCELLED,
    TOTALLY,
)
from tests.integration.bridge.builders import OTHER, OURS

CONTACT = pb.ContactInformation(email="fraude@banco.example", phone="+5511900000000")
REFUND_TRANSACTION = "D8765432120261203130000000000001"  # the contested PSP's pacs.004
REPORT_REASON = {FRAUD: "REFUND_REQUEST", REFUND_CANCELLED: "REFUND_CANCELLED"}


def transaction_id(n: int = 1, prefix: str = "E") -> str:
    """The n-th payment ours made to the other PSP: an E2E id (E) or, for a refund
    cancellation, the RtrId of a pacs.004 (D); 32 characters."""
    return f"{prefix}{OURS}202612031200{n:011d}"


def now(admin: AdminClient) -> datetime:
    return admin.get_clock().now.ToDatetime(tzinfo=UTC)


def pay(
    admin: AdminClient,
    n: int = 1,
    amount: str = "100.00",
    *,
    reason: str = FRAUD,
    settled_at: datetime | None = None,
    pix_automatico: bool | None = None,
) -> str:
    """The SPI settles the n-th payment of ours to the other PSP, of the kind a ``reason``
    names (a pacs.004 for REFUND_CANCELLED; a Pix Automático payment for PIX_AUTOMATICO,
    unless ``pix_automatico`` says otherwise)."""
    tx = transaction_id(n, "D" if reason == REFUND_CANCELLED else "E")
    if pix_automatico is None:
        pix_automatico = reason == PIX_AUTOMATICO
    admin.add_transaction(tx, OURS, OTHER, amount, settled_at, pix_automatico=pix_automatico)
    return tx


def report(
    ours: DictClient,
    theirs: DictClient,
    tx: str,
    reason: str = "REFUND_REQUEST",
    outcome: str = AGREED,
) -> pb.InfractionReport | None:
    """Ours reports the transaction; the other PSP acknowledges and ends it as ``outcome``.
    A REFUND_CANCELLED report is of SituationType OTHER, explained (its schema's rule)."""
    if outcome == NONE:
        return None
    cancelled = reason == REFUND_CANCELLED
    opened = ours.create_infraction_report(
        pb.CreateInfractionReportRequest(
            participant=OURS,
            transaction_id=tx,
            reason=reason,
            situation_type="OTHER" if cancelled else "SCAM",
            report_details="O pagador aplicou um golpe" if cancelled else "",
            contact_information=CONTACT,
        )
    ).report
    theirs.acknowledge_infraction_report(
        pb.AcknowledgeInfractionReportRequest(id=opened.id, participant=OTHER)
    )
    if outcome == NO_CLOSE:
        return opened
    agreed = outcome != DISAGREED
    closed = theirs.close_infraction_report(
        pb.CloseInfractionReportRequest(
            id=opened.id,
            participant=OTHER,
            analysis_result="AGREED" if agreed else "DISAGREED",
            analysis_details="analisado",
            fraud_type="SCAMMER_ACCOUNT" if agreed else "",
        )
    ).report
    if outcome == AGREED_THEN_CANCELLED:
        ours.cancel_infraction_report(
            pb.CancelInfractionReportRequest(id=opened.id, participant=OURS)
        )
    return closed


def create(
    tx: str,
    reason: str = FRAUD,
    amount: str = "100.00",
    details: str | None = None,
    participant: str = OURS,
) -> pb.CreateRefundRequest:
    """A request for the transaction; an OPERATIONAL_FLAW one explains itself unless
    ``details`` says otherwise."""
    if details is None:
        details = "Transação em duplicidade" if reason == FLAW else ""
    return pb.CreateRefundRequest(
        participant=participant,
        transaction_id=tx,
        refund_reason=reason,
        refund_amount=amount,
        refund_details=details,
    )


def opened(
    ours: DictClient,
    theirs: DictClient,
    admin: AdminClient,
    reason: str = FRAUD,
    n: int = 1,
    amount: str = "100.00",
) -> pb.Refund:
    """An OPEN request of ``reason`` for the whole of the n-th payment of 100.00, after its
    AGREED report when the reason needs one."""
    tx = pay(admin, n, reason=reason)
    if reason in REPORT_REASON:
        report(ours, theirs, tx, REPORT_REASON[reason])
    return ours.create_refund(create(tx, reason, amount)).refund


def close(
    theirs: DictClient,
    refund: pb.Refund,
    result: str = TOTALLY,
    *,
    rejection: str = "",
    details: str = "",
    refund_transaction: str | None = None,
    refunded_amount: str = "",
) -> pb.Refund:
    """The contested PSP (``theirs``, unless the request was opened against ours) closes
    the request; an acceptance names its pacs.004 unless ``refund_transaction`` says
    otherwise."""
    if refund_transaction is None:
        refund_transaction = "" if result == "REJECTED" else REFUND_TRANSACTION
    return theirs.close_refund(
        pb.CloseRefundRequest(
            refund_id=refund.id,
            participant=theirs.participant,
            refund_analysis_result=result,
            refund_analysis_details=details,
            refund_rejection_reason=rejection,
            refund_transaction_id=refund_transaction,
            refunded_amount=refunded_amount,
        )
    ).refund


def cancel(ours: DictClient, refund: pb.Refund) -> pb.Refund:
    request = pb.CancelRefundRequest(refund_id=refund.id, participant=ours.participant)
    return ours.cancel_refund(request).refund


def listing(client: DictClient, role: str, **filters: Any) -> pb.ListRefundsResponse:
    request = pb.ListRefundsRequest(
        participant=client.participant, participant_role=role, **filters
    )
    return client.list_refunds(request)
