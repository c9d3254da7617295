"""The marker machine's declarations agree with each other and with the SQL mirror."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from app import db
from app.repo.infraction_reports import ReportRow
from statemachines import infraction_report
from statemachines.core import IllegalTrigger
from statemachines.fraud_marker import CATCH_UP, SPEC, catch_up

NOW = datetime(2026, 12, 3, tzinfo=UTC)
ROW: Any = SimpleNamespace(pending=None)


@pytest.mark.parametrize("status", sorted(CATCH_UP))
def test_every_catch_up_is_a_path_the_machine_allows(status: str) -> None:
    edges = {(t, a): b for t, a, b in SPEC.edges()}
    for dict_status, triggers in CATCH_UP[status].items():
        at = status
        for trigger in triggers or ():
            assert (trigger, at) in edges, (status, dict_status, trigger)
            at = edges[trigger, at]
        if triggers:
            assert at == dict_status.lower(), (status, dict_status)


def test_the_dicts_cancellation_is_reached_from_every_live_status_but_submitting() -> None:
    assert catch_up("registered", "CANCELLED") == ("cancelled",)
    assert catch_up("cancelling", "CANCELLED") == ("cancelled",)
    assert catch_up("cancelling", "REGISTERED") == ()  # our call in flight settles it
    assert catch_up("cancelled", "REGISTERED") is None  # an anomaly, never undone


def test_only_a_registered_marker_is_cancelled_and_a_refusal_goes_back() -> None:
    assert SPEC.fire("m1", "registered", ROW, "cancel", NOW).to_status == "cancelling"
    assert SPEC.fire("m1", "cancelling", ROW, "cancel_refused", NOW).to_status == "registered"
    for status in ("submitting", "rejected", "cancelling", "cancelled"):
        with pytest.raises(IllegalTrigger):
            SPEC.fire("m1", status, ROW, "cancel", NOW)
    with pytest.raises(IllegalTrigger):
        SPEC.fire("m1", "rejected", ROW, "submitted", NOW)


def test_the_transitions_announce_what_core_banking_needs() -> None:
    row: Any = SimpleNamespace(
        origin="OURS",
        fraud_type="MULE_ACCOUNT",
        tax_id_number="52998224725",
        key=None,
        infraction_report_id=None,
        dict_id=None,
    )
    fired = SPEC.fire("m1", "submitting", row, "submitted", NOW, dict_id="fm-1")
    (effect,) = fired.effects
    assert effect.args["topic"] == "fraud_markers.registered"
    assert effect.args["payload"] == {
        "marker_id": "m1",
        "dict_id": "fm-1",
        "status": "registered",
        "origin": "OURS",
        "fraud_type": "MULE_ACCOUNT",
        "tax_id_number": "52998224725",
        "key": None,
        "infraction_report_id": None,
        "problem_type": None,
    }
    (call,) = SPEC.fire("m1", "registered", row, "cancel", NOW).effects
    assert (call.actor, call.queue, call.args) == (
        "cancel_fraud_marker",
        "dict",
        {"marker_id": "m1"},
    )


def _report(role: str, status: str, **fields: Any) -> ReportRow:
    return infraction_report.new_row(
        NOW,
        {
            "role": role,
            "transaction_id": "E12345678202612031200000000000001",
            "reason": "REFUND_REQUEST",
            "situation_type": "SCAM",
            "contact_email": "a@b.example",
            "contact_phone": "+5521999990000",
            "reporter_participant": "12345678",
            "counterparty_participant": "87654321",
            "dict_id": "ir-1",
            **fields,
        },
        status,
    )


@pytest.mark.parametrize(
    ("role", "trigger", "source", "actor"),
    [
        ("COUNTERPARTY", "closed", "closing", "record_fraud_marker"),
        ("COUNTERPARTY", "cancelled", "closed", "report_marker_cancelled"),
        ("REPORTER", "closed", "acknowledged", None),
        ("REPORTER", "cancelled", "cancelling", None),
    ],
)
def test_only_the_counterpartys_report_hands_its_marker_on(
    role: str, trigger: str, source: str, actor: str | None
) -> None:
    """Our AGREED close (as counterparty) created the marker: it is recorded, and
    cancelled with the report. As reporter the marker is the other PSP's customer's."""
    report = _report(role, source, pending={"from": "closed"})
    fired = infraction_report.SPEC.fire(
        "r1", source, report, trigger, NOW, fraud_marker_id="fm-1", analysis_result="AGREED"
    )
    calls = [(e.actor, e.queue, e.args) for e in fired.effects if e.kind == "task" and not e.cancel]
    if actor is None:
        assert calls == []
    else:
        queue = "dict" if actor == "record_fraud_marker" else "default"
        assert calls == [(actor, queue, {"report_id": "r1", "dict_id": "fm-1"})]


def test_a_close_without_a_marker_hands_nothing_on() -> None:
    report = _report("COUNTERPARTY", "closing")
    fired = infraction_report.SPEC.fire("r1", "closing", report, "closed", NOW)
    assert [e for e in fired.effects if e.kind == "task" and not e.cancel] == []


def _insert(conn: db.Conn, status: str, **columns: Any) -> None:
    values = {
        "id": uuid.uuid4(),
        "status": status,
        "origin": "OURS",
        "tax_id_number": "52998224725",
        "fraud_type": "MULE_ACCOUNT",
        "request_id": uuid.uuid4(),
        "inserted_at": NOW,
        "updated_at": NOW,
        **columns,
    }
    names = ", ".join(values)
    marks = ", ".join(f"%({n})s" for n in values)
    conn.execute(f"INSERT INTO fraud_markers ({names}) VALUES ({marks})", values)  # type: ignore[arg-type]


def test_the_database_refuses_what_the_machine_and_the_checks_refuse(database_url: str) -> None:
    with db.connect(database_url, autocommit=True) as conn:
        _insert(conn, "submitting")
        with pytest.raises(psycopg.errors.CheckViolation, match="illegal initial status"):
            _insert(conn, "cancelling", dict_id="fm-x", pending="{}")
        with pytest.raises(psycopg.errors.CheckViolation, match="ours_are_requested"):
            _insert(conn, "submitting", request_id=None)
        with pytest.raises(psycopg.errors.CheckViolation, match="report_origin_names_its_report"):
            _insert(conn, "registered", origin="INFRACTION_REPORT", dict_id="fm-y")
        with pytest.raises(psycopg.errors.CheckViolation, match="dict_id_after_submit"):
            _insert(conn, "registered")
        with pytest.raises(psycopg.errors.CheckViolation, match="fraud_type"):
            _insert(conn, "submitting", fraud_type="UNKNOWN")
        with pytest.raises(psycopg.errors.CheckViolation, match="illegal transition"):
            conn.execute("UPDATE fraud_markers SET status = 'cancelled'")
