"""The claims' in-process world (simulator in a thread, actors run as the worker would)
serves refund requests too: the SPI's transactions (admin AddTransaction), our requests
as the API opens them, the other PSP's requests against us, and the refund poll."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from app import db, outbox
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.repo import refunds
from app.repo.refunds import RefundRow
from simulator.server import SimulatorHandle
from tests.integration.bridge.builders import OTHER, OURS
from tests.integration.claims.conftest import World, world  # noqa: F401

RTR_ID = "D9876543220261203130000000000001"  # a pacs.004 that returned the funds


def e2e(n: int, payer: str = OURS) -> str:
    """The n-th payment of a test (32 characters), by ``payer``."""
    return f"E{payer}202612031300{n:011d}"


def ours_paid(w: World, n: int, amount: str = "100.00", settled_at: datetime | None = None) -> str:
    """The SPI settled a payment from our customer to the other PSP's."""
    tx = e2e(n)
    w.admin.add_transaction(tx, OURS, OTHER, amount, settled_at)
    return tx


def they_paid(w: World, n: int, amount: str = "100.00") -> str:
    """The SPI settled a payment from the other PSP's customer to ours."""
    tx = e2e(n, OTHER)
    w.admin.add_transaction(tx, OTHER, OURS, amount)
    return tx


def submit(tx: str, reason: str = "OPERATIONAL_FLAW", amount: str = "100.00") -> str:
    """Our customer asks for a refund (as POST /v1/refunds does)."""
    from statemachines import refund

    with outbox.step(actor="test") as s:
        row = refund.submit(
            s,
            {
                "transaction_id": tx,
                "refund_reason": reason,
                "refund_amount": Decimal(amount),
                "refund_details": "Transação em duplicidade"
                if reason == "OPERATIONAL_FLAW"
                else None,
                "requesting_participant": OURS,
            },
        )
    assert row is not None
    return str(row.id)


def request(refund_id: str, operation: str, **arguments: Any) -> None:
    """Our user decides (as the API's cancel/close routes do)."""
    from statemachines import refund

    with outbox.step(actor="test") as s:
        refund.request(s, refund_id, operation, **arguments)


def poll() -> int:
    from actors.refunds import poll as refund_poll

    return refund_poll()


def row(refund_id: Any) -> RefundRow:
    with db.pool().connection() as conn:
        found = refunds.get(conn, refund_id)
    assert found is not None
    return found


def ours_for(dict_id: str, role: str = "CONTESTED") -> RefundRow:
    with db.pool().connection() as conn:
        found = refunds.by_dict_id(conn, dict_id, role)
    assert found is not None, f"no {role} refund of ours for {dict_id}"
    return found


def history(refund_id: Any) -> list[tuple[str, str]]:
    with db.pool().connection() as conn:
        params = {"machine": "refund", "subject_id": str(refund_id)}
        return [(h["trigger"], h["to_status"]) for h in conn.execute(db.q("spine.history"), params)]


def they_ask(
    w: World, tx: str, amount: str = "100.00", reason: str = "OPERATIONAL_FLAW"
) -> pb.Refund:
    """The other PSP (the payer's) asks us to return a payment our customer received."""
    return w.theirs.create_refund(
        pb.CreateRefundRequest(
            participant=OTHER,
            transaction_id=tx,
            refund_reason=reason,
            refund_amount=amount,
            refund_details="Valor diferente do instruído" if reason == "OPERATIONAL_FLAW" else "",
        )
    ).refund


def they_close(
    w: World, dict_id: str, result: str = "TOTALLY_ACCEPTED", **fields: Any
) -> pb.Refund:
    """The other PSP (contested) closes our request."""
    if result != "REJECTED":
        fields.setdefault("refund_transaction_id", RTR_ID)
    return w.theirs.close_refund(
        pb.CloseRefundRequest(
            refund_id=dict_id, participant=OTHER, refund_analysis_result=result, **fields
        )
    ).refund


def they_cancel(w: World, dict_id: str) -> pb.Refund:
    return w.theirs.cancel_refund(
        pb.CancelRefundRequest(refund_id=dict_id, participant=OTHER)
    ).refund


def dict_refund(w: World, dict_id: str) -> pb.Refund:
    return w.theirs.get_refund(pb.GetRefundRequest(refund_id=dict_id)).refund


@pytest.fixture
def our_dict(sim_server: SimulatorHandle) -> Iterator[DictClient]:
    """A DICT client speaking as us (to make a call our worker's answer was lost for)."""
    with DictClient(sim_server.address, OURS) as client:
        yield client
