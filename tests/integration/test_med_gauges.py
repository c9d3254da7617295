"""The MED gauges (``app.outbox._med_gauges``, ``sql/queries/med.sql``), read from a real
PostgreSQL at scrape time: infraction reports and refund requests at different due_at,
in every status that counts and some that do not, with the clock frozen.

The rows are written in SQL, as the machines would leave them (each status reached by
a legal transition: the database's ``enforce_transition`` checks it), so each test sets
exactly the due_at it needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from app import clock, db, outbox, settings

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)

REPORT_PATHS = {
    "submitting": ("submitting",),
    "rejected": ("submitting", "rejected"),
    "open": ("open",),
    "acknowledging": ("open", "acknowledging"),
    "acknowledged": ("acknowledged",),
    "closing": ("acknowledged", "closing"),
    "closed": ("closed",),
    "cancelling": ("acknowledged", "cancelling"),
    "cancelled": ("cancelled",),
}
REFUND_PATHS = {
    "submitting": ("submitting",),
    "rejected": ("submitting", "rejected"),
    "open": ("open",),
    "closing": ("open", "closing"),
    "cancelling": ("open", "cancelling"),
    "closed": ("closed",),
    "cancelled": ("cancelled",),
}


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with clock.freeze(NOW), db.connect(database_url, autocommit=True) as c:
        yield c


def _walk(conn: Any, table: str, row_id: uuid.UUID, path: tuple[str, ...], **last: Any) -> None:
    """Move a row inserted in ``path[0]`` through the rest of ``path``; the last step
    also sets ``last`` (e.g. the refusal a rejected row carries)."""
    for i, status in enumerate(path[1:], start=2):
        fields = {"status": status, "pending": '{"from": "x"}', **(last if i == len(path) else {})}
        sets = ", ".join(f"{k} = %({k})s" for k in fields)
        conn.execute(f"UPDATE {table} SET {sets} WHERE id = %(id)s", {**fields, "id": row_id})


def report(
    conn: Any,
    role: str,
    status: str,
    due_in: timedelta | None = None,
    *,
    problem: str | None = None,
    updated: datetime = NOW,
) -> uuid.UUID:
    """An infraction report in ``status``; ``due_in`` from NOW (a COUNTERPARTY's is due)."""
    path = REPORT_PATHS[status]
    row_id = uuid.uuid4()
    due = NOW + (due_in if due_in is not None else 7 * DAY)
    conn.execute(
        "INSERT INTO infraction_reports (id, dict_id, role, status, transaction_id, reason,"
        " situation_type, contact_email, contact_phone, reporter_participant,"
        " counterparty_participant, analysis_result, due_at, request_id, problem_type,"
        " inserted_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, 'REFUND_REQUEST', 'SCAM', 'med@banco.example',"
        " '+5561900000000', '12345678', '87654321', %s, %s, %s, %s, %s, %s)",
        (
            row_id,
            None if path[0] == "submitting" else f"report-{row_id}",
            role,
            path[0],
            f"E12345678202612031200{row_id.hex[:11]}",
            "AGREED" if path[0] == "closed" else None,
            due if role == "COUNTERPARTY" else None,
            uuid.uuid4(),
            problem if len(path) == 1 else None,
            updated,
            updated,
        ),
    )
    _walk(conn, "infraction_reports", row_id, path, problem_type=problem, updated_at=updated)
    return row_id


def refund(
    conn: Any,
    role: str,
    status: str,
    due_in: timedelta | None = None,
    *,
    problem: str | None = None,
    updated: datetime = NOW,
) -> uuid.UUID:
    """A refund request in ``status``; ``due_in`` from NOW (a CONTESTED one's is due)."""
    path = REFUND_PATHS[status]
    row_id = uuid.uuid4()
    due = NOW + (due_in if due_in is not None else DAY)
    conn.execute(
        "INSERT INTO refunds (id, dict_id, role, status, transaction_id, refund_reason,"
        " refund_amount, requesting_participant, analysis_result, due_at, request_id,"
        " problem_type, inserted_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, 'OPERATIONAL_FLAW', 100, '12345678', %s, %s, %s, %s,"
        " %s, %s)",
        (
            row_id,
            None if path[0] == "submitting" else f"refund-{row_id}",
            role,
            path[0],
            f"E12345678202612031200{row_id.hex[:11]}",
            "TOTALLY_ACCEPTED" if path[0] == "closed" else None,
            due if role == "CONTESTED" else None,
            uuid.uuid4(),
            problem if len(path) == 1 else None,
            updated,
            updated,
        ),
    )
    _walk(conn, "refunds", row_id, path, problem_type=problem, updated_at=updated)
    return row_id


def polled(conn: Any, cursor: str, at: datetime | None) -> None:
    conn.execute(
        "INSERT INTO poll_cursors (name, modified_after, updated_at, polled_at)"
        " VALUES (%s, %s, %s, %s)",
        (cursor, NOW - DAY, NOW, at),
    )


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every MED sample the collector yields, by name and labels."""
    with clock.freeze(NOW):
        families = list(outbox.BacklogCollector().collect())
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families
        if family.name.startswith("dict_med_")
        for s in family.samples
    }


def sample(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


ROLES = {
    "infraction_report": ("REPORTER", "COUNTERPARTY"),
    "refund": ("REQUESTING", "CONTESTED"),
}
CURSORS = (
    "infraction_reports.reporter",
    "infraction_reports.counterparty",
    "refunds.requesting",
    "refunds.contested",
)


def test_an_empty_database_gives_every_series_at_zero_and_no_deadline(conn: Any) -> None:
    samples = scrape()
    for kind, roles in ROLES.items():
        for role in roles:
            assert sample(samples, "dict_med_open_total", kind=kind, role=role) == 0
            assert sample(samples, "dict_med_rejected", kind=kind, role=role) == 0
        assert sample(samples, "dict_med_due_soon", kind=kind) == 0
        assert sample(samples, "dict_med_overdue", kind=kind) == 0
        assert sample(samples, "dict_med_oldest_due_seconds", kind=kind) is None
    for cursor in CURSORS:
        assert sample(samples, "dict_med_poll_age_seconds", cursor=cursor) == -1


def test_reports_ours_to_analyse_by_due_at(conn: Any) -> None:
    report(conn, "COUNTERPARTY", "open", 6 * DAY)  # day 1: not yet due soon
    report(conn, "COUNTERPARTY", "acknowledged", 47 * HOUR)  # past day 5: due soon
    report(conn, "COUNTERPARTY", "acknowledging", 3 * DAY)
    report(conn, "COUNTERPARTY", "closing", -HOUR)  # our close still out, 1 h late
    report(conn, "COUNTERPARTY", "acknowledged", -2 * DAY)  # day 9: overdue
    report(conn, "COUNTERPARTY", "closed", -DAY)  # analysed: finished
    report(conn, "COUNTERPARTY", "cancelled", -DAY)  # the reporter withdrew it
    report(conn, "REPORTER", "open")  # ours: the other PSP analyses it
    report(conn, "REPORTER", "cancelling")
    samples = scrape()

    kind = "infraction_report"
    assert sample(samples, "dict_med_open_total", kind=kind, role="COUNTERPARTY") == 5
    assert sample(samples, "dict_med_open_total", kind=kind, role="REPORTER") == 2
    assert sample(samples, "dict_med_due_soon", kind=kind) == 1
    assert sample(samples, "dict_med_overdue", kind=kind) == 2
    nearest = -2 * DAY.total_seconds()
    assert sample(samples, "dict_med_oldest_due_seconds", kind=kind) == nearest
    assert sample(samples, "dict_med_due_soon", kind="refund") == 0


def test_the_nearest_deadline_is_positive_while_nothing_is_late(conn: Any) -> None:
    report(conn, "COUNTERPARTY", "acknowledged", 5 * DAY)
    report(conn, "COUNTERPARTY", "open", 36 * HOUR)
    refund(conn, "CONTESTED", "open", 20 * HOUR)
    samples = scrape()
    assert sample(samples, "dict_med_oldest_due_seconds", kind="infraction_report") == 36 * 3600
    assert sample(samples, "dict_med_oldest_due_seconds", kind="refund") == 20 * 3600
    assert sample(samples, "dict_med_overdue", kind="infraction_report") == 0


def test_refunds_due_soon_in_the_last_quarter_of_refund_analysis_hours(
    conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    refund(conn, "CONTESTED", "open", 5 * HOUR)  # 24 h allowed: within the last 6 h
    refund(conn, "CONTESTED", "open", 10 * HOUR)
    refund(conn, "CONTESTED", "closing", -timedelta(minutes=30))  # our close is out, late
    refund(conn, "CONTESTED", "closed", -DAY)
    refund(conn, "REQUESTING", "open")
    refund(conn, "REQUESTING", "submitting")
    samples = scrape()
    assert sample(samples, "dict_med_open_total", kind="refund", role="CONTESTED") == 3
    assert sample(samples, "dict_med_open_total", kind="refund", role="REQUESTING") == 2
    assert sample(samples, "dict_med_due_soon", kind="refund") == 1
    assert sample(samples, "dict_med_overdue", kind="refund") == 1
    assert sample(samples, "dict_med_oldest_due_seconds", kind="refund") == -1800

    monkeypatch.setenv("REFUND_ANALYSIS_HOURS", "48")  # warned in the last 12 h
    settings.reset()
    assert sample(scrape(), "dict_med_due_soon", kind="refund") == 2
    monkeypatch.setenv("REFUND_ANALYSIS_HOURS", "8")  # the last 2 h
    settings.reset()
    assert sample(scrape(), "dict_med_due_soon", kind="refund") == 0


def test_refusals_recent_rejections_and_calls_left_refused(conn: Any) -> None:
    report(
        conn,
        "REPORTER",
        "rejected",
        problem="InfractionReportInvalid",
        updated=NOW - timedelta(minutes=10),
    )
    report(conn, "REPORTER", "rejected", problem="InfractionReportInvalid", updated=NOW - 2 * HOUR)
    report(conn, "REPORTER", "closed", problem="InfractionReportOperationInvalid")  # cancel refused
    report(conn, "COUNTERPARTY", "open", 6 * DAY, problem="Forbidden")  # acknowledge refused
    refund(conn, "REQUESTING", "rejected", problem="RefundTransactionNotFound")
    refund(conn, "CONTESTED", "open", 20 * HOUR, problem="RefundOperationInvalid")  # close refused
    samples = scrape()
    assert sample(samples, "dict_med_rejected", kind="infraction_report", role="REPORTER") == 2
    assert sample(samples, "dict_med_rejected", kind="infraction_report", role="COUNTERPARTY") == 1
    assert sample(samples, "dict_med_rejected", kind="refund", role="REQUESTING") == 1
    assert sample(samples, "dict_med_rejected", kind="refund", role="CONTESTED") == 1
    # a rejected creation is finished; a closed report too, even with its cancel refused
    assert sample(samples, "dict_med_open_total", kind="infraction_report", role="REPORTER") == 0


def test_poll_age_per_list_and_minus_one_before_the_first_pass(conn: Any) -> None:
    polled(conn, "infraction_reports.counterparty", NOW - timedelta(seconds=90))
    polled(conn, "refunds.contested", NOW - timedelta(minutes=11))
    polled(conn, "refunds.requesting", None)  # a page applied, no whole pass yet
    polled(conn, "claims", NOW - timedelta(days=1))  # not a MED list
    samples = scrape()
    age = {c: sample(samples, "dict_med_poll_age_seconds", cursor=c) for c in CURSORS}
    assert age == {
        "infraction_reports.reporter": -1,
        "infraction_reports.counterparty": 90,
        "refunds.requesting": -1,
        "refunds.contested": 660,
    }


def test_the_query_reads_indexes_not_the_tables(conn: Any) -> None:
    """With sequential scans discouraged, the one statement still finds a plan: its
    WHERE clauses are served by (role, status) and the partial *_refused indexes."""
    conn.execute("SET enable_seqscan = off")
    live, warnings = outbox.med_params()
    params = {
        "now": NOW,
        "report_live": live["infraction_report"],
        "refund_live": live["refund"],
        "report_warning": warnings["infraction_report"],
        "refund_warning": warnings["refund"],
    }
    plan = "\n".join(r["QUERY PLAN"] for r in conn.execute("EXPLAIN " + db.q("med.gauges"), params))
    for table in ("infraction_reports", "refunds"):
        assert f"Seq Scan on {table}" not in plan
        assert f"{table}_role_status" in plan and f"{table}_refused" in plan


def test_metrics_serve_the_med_gauges(database_url: str) -> None:
    """What /metrics appends from the outbox registry (``app.api.system``), as text."""
    from app.api import system

    with db.connect(database_url, autocommit=True) as c:
        report(c, "COUNTERPARTY", "acknowledged", -HOUR)
    with clock.freeze(NOW):
        text = system._backlog_metrics().decode()
    assert 'dict_med_overdue{kind="infraction_report"} 1.0' in text
    assert 'dict_med_open_total{kind="infraction_report",role="COUNTERPARTY"} 1.0' in text
    assert 'dict_med_poll_age_seconds{cursor="refunds.contested"} -1.0' in text


def test_the_statuses_and_windows_come_from_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFUND_ANALYSIS_HOURS", "24")
    settings.reset()
    try:
        live, warnings = outbox.med_params()
    finally:
        settings.reset()
    assert warnings == {"infraction_report": 2 * DAY, "refund": 6 * HOUR}
    assert set(live["refund"]) == {"submitting", "open", "closing", "cancelling"}
    assert {"submitting", "open", "acknowledging", "acknowledged", "closing"} <= set(
        live["infraction_report"]
    )
    assert not set(outbox.MED_FINISHED) & {*live["refund"], *live["infraction_report"]}


def test_items_the_poll_could_not_apply_per_list(conn: Any) -> None:
    for poller, dict_id in (("refunds.contested", "rf-1"), ("refunds.contested", "rf-2")):
        conn.execute(
            "INSERT INTO poll_failures (poller, dict_id, error, first_at, last_at)"
            " VALUES (%s, %s, 'ValueError', %s, %s)",
            (poller, dict_id, NOW, NOW),
        )
    samples = scrape()
    failing = {c: sample(samples, "dict_med_poll_failures", cursor=c) for c in CURSORS}
    assert failing == {
        "infraction_reports.reporter": 0,
        "infraction_reports.counterparty": 0,
        "refunds.requesting": 0,
        "refunds.contested": 2,
    }
