"""The claims' in-process world (simulator in a thread, actors run as the worker would)
serves fraud markers too: our markers as the API registers them, and the markers the
DICT creates when we close an infraction report AGREED."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app import db, outbox
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain.fixtures import make_cpf
from app.repo import fraud_markers as markers
from app.repo.fraud_markers import MarkerRow
from simulator.server import SimulatorHandle
from tests.integration.bridge.builders import OURS
from tests.integration.claims.conftest import World, world  # noqa: F401
from tests.integration.infractions.conftest import e2e, ours_for, poll, request, they_report


def submit(tax_id: str, fraud_type: str = "MULE_ACCOUNT", key: str | None = None) -> str:
    """We mark a customer (as POST /v1/fraud-markers does, its checks aside)."""
    from statemachines import fraud_marker

    with outbox.step(actor="test") as s:
        row = fraud_marker.submit(
            s, {"tax_id_number": tax_id, "key": key, "fraud_type": fraud_type}
        )
    return str(row.id)


def cancel(marker_id: str) -> None:
    """Our user withdraws a marker (as POST /v1/fraud-markers/{id}/cancel does)."""
    from statemachines import fraud_marker

    with outbox.step(actor="test") as s:
        fraud_marker.request_cancel(s, marker_id)


def row(marker_id: Any) -> MarkerRow:
    with db.pool().connection() as conn:
        found = markers.get(conn, marker_id)
    assert found is not None
    return found


def of_report(report_id: Any) -> MarkerRow | None:
    with db.pool().connection() as conn:
        return markers.of_report(conn, report_id)


def every_marker() -> list[MarkerRow]:
    with db.pool().connection() as conn:
        return markers.page(conn, {}, (None, None), 1000)


def world_history(marker_id: Any) -> list[dict[str, Any]]:
    with db.pool().connection() as conn:
        params = {"machine": "fraud_marker", "subject_id": str(marker_id)}
        return conn.execute(db.q("spine.history"), params).fetchall()


def history(marker_id: Any) -> list[str]:
    return [h["to_status"] for h in world_history(marker_id)]


def dict_marker(w: World, dict_id: str) -> pb.FraudMarker:
    return w.theirs.get_fraud_marker(pb.GetFraudMarkerRequest(id=dict_id)).marker


def in_the_dict(w: World, request_id: Any) -> list[Any]:
    """The markers the simulated DICT holds for one RequestId of ours."""
    with w.sim.simulator.lock:
        return [
            m for m in w.sim.simulator.state.markers.values() if m.request_id == str(request_id)
        ]


def report_against_our_customer(w: World, n: int) -> tuple[str, str, str, str]:
    """Our customer's key is paid by the other PSP's customer (a lookup with the
    payment's E2E id), who then reports the transaction; our poll learns the report and
    acknowledges it. Returns (our report id, its DICT id, the key, its owner's CPF)."""
    _, key, tax_id = w.our_key(n)
    w.theirs.get_entry(
        pb.GetEntryRequest(key=key, payer_id=make_cpf(900 + n), end_to_end_id=e2e(1000 + n))
    )
    dict_id = they_report(w, n).id
    poll()
    w.run_due()
    ours = ours_for(dict_id)
    assert ours.status == "acknowledged"
    return str(ours.id), dict_id, key, tax_id


def run_first(w: World, actor: str) -> int:
    """Run the due outbox rows of ``actor`` now, before any other (one interleaving of
    the worker's threads); returns how many ran."""
    from actors import broker

    rows = [r for r in w._due() if r["actor"] == actor]
    for r in rows:
        broker.get_actor(actor).fn(**r["args"])
        outbox.finish(r["id"])
    return len(rows)


def close_agreed(w: World, report_id: str, fraud_type: str = "SCAMMER_ACCOUNT") -> None:
    request(
        report_id,
        "close",
        analysis_result="AGREED",
        analysis_details="conta usada em golpes",
        fraud_type=fraud_type,
    )
    w.run_due()


@pytest.fixture
def our_dict(sim_server: SimulatorHandle) -> Iterator[DictClient]:
    """A DICT client speaking as us (to act as another process of ours would)."""
    with DictClient(sim_server.address, OURS) as client:
        yield client
