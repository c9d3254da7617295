"""What the DICT refuses in an infraction report and in its close (DICT.md §5, API
v2.6.1 schemas), checked before anything is stored or sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.infractions import (
    CloseRequest,
    ReportRequest,
    close_violations,
    deadline,
    report_violations,
)

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
E2E = "E12345678202612031200abcdefghijk"


def report(**changes: object) -> ReportRequest:
    fields: dict[str, object] = {
        "transaction_id": E2E,
        "reason": "REFUND_REQUEST",
        "situation_type": "SCAM",
        "contact_email": "med@bank.example",
        "contact_phone": "+5561988880000",
        "transaction_at": NOW - timedelta(days=3),
    }
    fields.update(changes)
    return ReportRequest(**fields)  # type: ignore[arg-type]


def rules(violations: list) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in violations}


def test_a_complete_report_passes() -> None:
    assert report_violations(report(), NOW) == []
    assert report_violations(report(situation_type="OTHER", report_details="x"), NOW) == []


def test_other_needs_details_and_refund_cancelled_is_always_other() -> None:
    assert rules(report_violations(report(situation_type="OTHER"), NOW)) == {
        ("report_details", "required")
    }
    cancelled = report(reason="REFUND_CANCELLED", transaction_id="D12345678202612031200abcdefghijk")
    assert rules(report_violations(cancelled, NOW)) == {
        ("situation_type", "other_for_refund_cancelled")
    }


def test_every_bad_field_is_named() -> None:
    bad = report(
        transaction_id="E1",
        reason="FRAUD",
        situation_type="UNKNOWN",
        contact_email="Med@Bank",
        contact_phone="61 98888",
        report_details="x" * 2001,
        transaction_at=NOW - timedelta(days=81),
    )
    assert rules(report_violations(bad, NOW)) == {
        ("transaction_id", "pattern"),
        ("reason", "one_of"),
        ("situation_type", "one_of"),
        ("report_details", "max_length"),
        ("contact_information.email", "pattern"),
        ("contact_information.phone", "pattern"),
        ("transaction_at", "max_age"),
    }
    assert report_violations(report(transaction_at=NOW - timedelta(days=80)), NOW) == []


def test_an_agreed_close_names_the_fraud_type_and_other_explains_itself() -> None:
    assert close_violations(CloseRequest("AGREED", "MULE_ACCOUNT")) == []
    assert close_violations(CloseRequest("DISAGREED", analysis_details="not fraud")) == []
    assert rules(close_violations(CloseRequest("AGREED"))) == {
        ("fraud_type", "required_when_agreed")
    }
    assert rules(close_violations(CloseRequest("AGREED", "OTHER"))) == {
        ("analysis_details", "required")
    }
    assert rules(close_violations(CloseRequest("DISAGREED", "MULE_ACCOUNT"))) == {
        ("fraud_type", "only_when_agreed")
    }
    assert rules(close_violations(CloseRequest("MAYBE"))) == {("analysis_result", "one_of")}


def test_the_counterparty_has_seven_calendar_days() -> None:
    assert deadline(NOW) == NOW + timedelta(days=7)
