"""The claims' in-process world (simulator in a thread, actors run as the worker would)
serves infraction reports too, with a few steps of its own: our report as the API opens
it, the other PSP's reports against us, the infraction poll."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app import db, outbox
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.repo import infraction_reports as reports
from app.repo.infraction_reports import ReportRow
from simulator.server import SimulatorHandle
from tests.integration.bridge.builders import OTHER, OURS
from tests.integration.claims.conftest import World, world  # noqa: F401

CONTACT = {"contact_email": "fraude@banco.example", "contact_phone": "+5521999990000"}


def e2e(n: int) -> str:
    """An EndToEndId (32 characters) for the n-th transaction of a test."""
    return f"E{OURS}202612031200{n:011d}"


def paid(w: World, *ns: int, payer: str = OURS, payee: str = OTHER) -> None:
    """The SPI settled the n-th transactions (``payer``'s customer paid ``payee``'s): the
    DICT knows them, so they may be reported (SimulatorAdmin.AddTransaction)."""
    for n in ns:
        w.admin.add_transaction(e2e(n), payer, payee, "100.00")


def submit(n: int, counterparty: str = OTHER, **fields: Any) -> str:
    """Our customer reports a transaction (as POST /v1/infraction-reports does)."""
    from statemachines import infraction_report

    with outbox.step(actor="test") as s:
        row = infraction_report.submit(
            s,
            {
                "transaction_id": e2e(n),
                "reason": "REFUND_REQUEST",
                "situation_type": "SCAM",
                "reporter_participant": OURS,
                "counterparty_participant": counterparty,
                **CONTACT,
                **fields,
            },
        )
    assert row is not None
    return str(row.id)


def request(report_id: str, operation: str, **arguments: Any) -> None:
    """Our user decides (as the API's cancel/close routes do)."""
    from statemachines import infraction_report

    with outbox.step(actor="test") as s:
        infraction_report.request(s, report_id, operation, **arguments)


def poll() -> int:
    from actors.infractions import poll as infraction_poll

    return infraction_poll()


def row(report_id: Any) -> ReportRow:
    with db.pool().connection() as conn:
        found = reports.get(conn, report_id)
    assert found is not None
    return found


def ours_for(dict_id: str, role: str = "COUNTERPARTY") -> ReportRow:
    with db.pool().connection() as conn:
        found = reports.by_dict_id(conn, dict_id, role)
    assert found is not None, f"no {role} report of ours for {dict_id}"
    return found


def world_history(report_id: Any) -> list[dict[str, Any]]:
    """The report's state_history rows (trigger, reason, statuses)."""
    with db.pool().connection() as conn:
        params = {"machine": "infraction_report", "subject_id": str(report_id)}
        return conn.execute(db.q("spine.history"), params).fetchall()


def history(report_id: Any) -> list[str]:
    return [h["to_status"] for h in world_history(report_id)]


def they_report(w: World, n: int, reporter: str = OTHER) -> pb.InfractionReport:
    """The other PSP reports a transaction that paid one of our customers (which the SPI
    settled first: the DICT refuses a report on a transaction it does not know)."""
    paid(w, 1000 + n, payer=reporter, payee=OURS)
    return w.theirs.create_infraction_report(
        pb.CreateInfractionReportRequest(
            participant=reporter,
            transaction_id=e2e(1000 + n),
            reason="REFUND_REQUEST",
            situation_type="ACCOUNT_TAKEOVER",
            contact_information=pb.ContactInformation(
                email="med@outro.example", phone="+5511988887777"
            ),
        )
    ).report


def they(w: World, call: str, dict_id: str, **fields: Any) -> pb.InfractionReport:
    """The other PSP acknowledges / closes / cancels a report."""
    message = {
        "acknowledge": pb.AcknowledgeInfractionReportRequest,
        "close": pb.CloseInfractionReportRequest,
        "cancel": pb.CancelInfractionReportRequest,
    }[call]
    method = getattr(w.theirs, f"{call}_infraction_report")
    return method(message(id=dict_id, participant=OTHER, **fields)).report  # type: ignore[no-any-return]


def dict_report(w: World, dict_id: str) -> pb.InfractionReport:
    return w.theirs.get_infraction_report(pb.GetInfractionReportRequest(id=dict_id)).report


@pytest.fixture
def our_dict(sim_server: SimulatorHandle) -> Iterator[DictClient]:
    """A DICT client speaking as us (to make a call our worker's answer was lost for)."""
    with DictClient(sim_server.address, OURS) as client:
        yield client
