"""Reports against transactions of ours (we are the counterparty): learned by the poll,
acknowledged at once, closed by our analysis, watched by the day-5 and day-7 timers."""

from __future__ import annotations

import time

from app import db
from app.domain.infractions import deadline
from app.repo import infraction_reports as reports
from tests.integration.bridge.builders import OTHER, OURS
from tests.integration.claims.conftest import DAY, World
from tests.integration.infractions.conftest import (
    dict_report,
    history,
    ours_for,
    poll,
    request,
    row,
    they,
    they_report,
    world_history,
)


def received(world: World, n: int) -> tuple[str, str]:
    """The other PSP reports; our poll learns it and we acknowledge at once.
    Returns (our report id, the DICT's id)."""
    dict_id = they_report(world, n).id
    assert poll() >= 1
    ours = ours_for(dict_id)
    assert ours.status == "acknowledging"
    world.run_due()
    assert row(ours.id).status == "acknowledged"
    return str(ours.id), dict_id


def test_a_report_against_us_is_learned_and_acknowledged_at_once(world: World) -> None:
    report_id, dict_id = received(world, 1)
    ours = row(report_id)
    assert (ours.role, ours.reporter_participant, ours.counterparty_participant) == (
        "COUNTERPARTY",
        OTHER,
        OURS,
    )
    assert ours.dict_created_at is not None and ours.due_at == deadline(ours.dict_created_at)
    assert dict_report(world, dict_id).status == "ACKNOWLEDGED"
    (event,) = world.events("infractions.received")
    assert (event["report_id"], event["dict_id"], event["role"]) == (
        report_id,
        dict_id,
        "COUNTERPARTY",
    )
    assert event["due_at"] == ours.due_at.isoformat()
    assert world.events("infractions.acknowledged")[0]["report_id"] == report_id
    assert history(report_id) == ["open", "acknowledging", "acknowledged"]


def test_our_agreed_close_records_the_fraud_marker(world: World) -> None:
    report_id, dict_id = received(world, 2)
    request(
        report_id,
        "close",
        analysis_result="AGREED",
        analysis_details="conta usada por golpista",
        fraud_type="SCAMMER_ACCOUNT",
    )
    assert row(report_id).status == "closing"
    world.run_due()
    ours = row(report_id)
    the_dict = dict_report(world, dict_id)
    assert (ours.status, the_dict.status) == ("closed", "CLOSED")
    assert (ours.analysis_result, ours.fraud_type) == ("AGREED", "SCAMMER_ACCOUNT")
    assert ours.fraud_marker_id and ours.fraud_marker_id == the_dict.fraud_marker_id
    (event,) = world.events("infractions.closed")
    assert event["fraud_marker_id"] == ours.fraud_marker_id


def test_a_close_refused_because_the_reporter_cancelled_ends_cancelled(world: World) -> None:
    report_id, dict_id = received(world, 3)
    request(report_id, "close", analysis_result="DISAGREED", analysis_details="legítima")
    they(world, "cancel", dict_id)  # before our close reaches the DICT
    world.run_due()
    assert row(report_id).status == "cancelled"
    assert history(report_id)[-3:] == ["closing", "acknowledged", "cancelled"]
    refused = [h for h in world_history(report_id) if h["trigger"] == "close_refused"]
    assert refused[0]["reason"] == "InfractionReportOperationInvalid"
    assert world.events("infractions.cancelled")[0]["report_id"] == report_id


def test_the_deadline_warns_at_day_5_and_reports_the_miss_at_day_7(world: World) -> None:
    report_id, _ = received(world, 4)
    world.pass_time(5 * DAY - 60)
    world.run_due()
    assert world.events("infractions.deadline_approaching") == []
    world.pass_time(120)
    world.run_due()
    (warning,) = world.events("infractions.deadline_approaching")
    assert (warning["report_id"], warning["status"]) == (report_id, "acknowledged")
    assert world.events("infractions.deadline_missed") == []
    world.pass_time(2 * DAY)
    world.run_due()
    (missed,) = world.events("infractions.deadline_missed")
    assert missed["due_at"] == row(report_id).due_at.isoformat()  # type: ignore[union-attr]


def test_a_closed_reports_timers_do_nothing(world: World) -> None:
    from actors.infractions import infraction_deadline

    report_id, _ = received(world, 5)
    request(report_id, "close", analysis_result="DISAGREED")
    world.run_due()
    assert row(report_id).status == "closed"
    world.pass_time(8 * DAY)
    world.run_due()
    infraction_deadline(report_id, "missed")  # a timer delivered anyway does nothing
    assert world.events("infractions.deadline_approaching") == []
    assert world.events("infractions.deadline_missed") == []


def test_a_report_cancelled_by_the_reporter_is_learned_by_the_poll(world: World) -> None:
    report_id, dict_id = received(world, 6)
    they(world, "cancel", dict_id)
    poll()
    assert row(report_id).status == "cancelled"
    world.pass_time(8 * DAY)
    world.run_due()
    assert world.events("infractions.deadline_missed") == []


def test_one_bad_report_never_stops_the_poll(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from statemachines import infraction_report

    first, second = they_report(world, 7).id, they_report(world, 8).id
    learn = infraction_report.learn

    def broken(step, fields, status):  # type: ignore[no-untyped-def]
        if fields["dict_id"] == first:
            raise ValueError("a report we cannot read")
        return learn(step, fields, status)

    monkeypatch.setattr(infraction_report, "learn", broken)
    poll()
    assert ours_for(second).status == "acknowledging"
    with db.pool().connection() as conn:
        assert reports.by_dict_id(conn, first, "COUNTERPARTY") is None
    monkeypatch.setattr(infraction_report, "learn", learn)
    poll()  # within the overlap the next poll reads it again
    assert ours_for(first).status == "acknowledging"


def test_an_acknowledgement_that_failed_is_retried_until_it_goes_through(world: World) -> None:
    dict_id = they_report(world, 9).id
    world.admin.set_faults(unavailable_ratio=1.0, methods=["AcknowledgeInfractionReport"])
    poll()
    world.run_due()  # the DICT is unavailable: the call stays owed
    report_id = ours_for(dict_id).id
    assert row(report_id).status == "acknowledging"
    world.admin.set_faults()
    time.sleep(0.2)  # the bridge's breaker lets calls through again
    world.run_due()
    assert row(report_id).status == "acknowledged"


def test_the_poll_pages_through_the_list(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from actors import listing

    monkeypatch.setattr(listing, "PAGE", 2)
    dict_ids = [they_report(world, 20 + n).id for n in range(5)]
    assert poll() == 5
    assert {ours_for(d).status for d in dict_ids} == {"acknowledging"}
