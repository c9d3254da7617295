"""Markers created by infraction reports: our AGREED close (as counterparty) records the
marker the DICT created, registered; the reporter's cancel of the report cancels it."""

from __future__ import annotations

import uuid
from datetime import UTC

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from tests.integration.bridge.builders import OURS
from tests.integration.claims.conftest import World
from tests.integration.fraud_markers.conftest import (
    cancel,
    close_agreed,
    dict_marker,
    every_marker,
    history,
    of_report,
    report_against_our_customer,
    row,
    run_first,
)
from tests.integration.infractions.conftest import dict_report, poll, request, they
from tests.integration.infractions.conftest import row as report_row


def test_our_agreed_close_records_the_marker_the_dict_created(world: World) -> None:
    report_id, dict_id, key, tax_id = report_against_our_customer(world, 1)
    close_agreed(world, report_id, "SCAMMER_ACCOUNT")
    report = report_row(report_id)
    assert report.status == "closed" and report.fraud_marker_id
    marker = of_report(report_id)
    assert marker is not None
    assert (marker.status, marker.origin, marker.dict_id) == (
        "registered",
        "INFRACTION_REPORT",
        report.fraud_marker_id,
    )
    assert (marker.tax_id_number, marker.key, marker.fraud_type) == (
        tax_id,
        key,
        "SCAMMER_ACCOUNT",
    )
    assert (marker.request_id, str(marker.infraction_report_id)) == (None, report_id)
    created = dict_marker(world, str(marker.dict_id)).creation_time.ToDatetime(tzinfo=UTC)
    assert marker.dict_created_at == created
    (event,) = world.events("fraud_markers.registered")
    assert (event["origin"], event["infraction_report_id"], event["tax_id_number"]) == (
        "INFRACTION_REPORT",
        report_id,
        tax_id,
    )
    assert history(marker.id) == ["registered"]
    assert dict_report(world, dict_id).fraud_marker_id == marker.dict_id


def test_a_disagreed_close_records_no_marker(world: World) -> None:
    report_id, _, _, _ = report_against_our_customer(world, 2)
    request(report_id, "close", analysis_result="DISAGREED", analysis_details="legítima")
    world.run_due()
    assert report_row(report_id).status == "closed"
    assert of_report(report_id) is None and every_marker() == []


def test_the_reporters_cancel_of_the_report_cancels_our_marker(world: World) -> None:
    report_id, dict_id, _, _ = report_against_our_customer(world, 4)
    close_agreed(world, report_id)
    marker = of_report(report_id)
    assert marker is not None and marker.status == "registered"
    they(world, "cancel", dict_id)
    assert dict_marker(world, str(marker.dict_id)).status == "CANCELLED"  # the DICT's doing
    poll()
    world.run_due()
    assert report_row(report_id).status == "cancelled"
    assert row(marker.id).status == "cancelled"
    assert history(marker.id) == ["registered", "cancelled"]
    (event,) = world.events("fraud_markers.cancelled")
    assert (event["marker_id"], event["origin"]) == (str(marker.id), "INFRACTION_REPORT")


def test_a_report_cancelled_before_its_marker_is_recorded_records_it_cancelled(
    world: World,
) -> None:
    """The reporter cancelled between our close and the recording of its marker: the
    marker-cancel finds nothing yet, and the record sees the cancellation."""
    from actors.fraud_markers import report_marker_cancelled

    report_id, dict_id, _, _ = report_against_our_customer(world, 5)
    request(report_id, "close", analysis_result="AGREED", fraud_type="MULE_ACCOUNT")
    assert run_first(world, "close_infraction_report") == 1  # the record is still owed
    marker_dict_id = str(report_row(report_id).fraud_marker_id)
    they(world, "cancel", dict_id)
    poll()
    assert report_row(report_id).status == "cancelled"
    assert run_first(world, "report_marker_cancelled") == 1  # nothing to cancel yet
    assert of_report(report_id) is None
    report_marker_cancelled(report_id, marker_dict_id)  # delivered again: still nothing
    assert of_report(report_id) is None
    world.run_due()
    marker = of_report(report_id)
    assert marker is not None and marker.status == "cancelled"
    assert history(marker.id) == ["registered", "cancelled"]


def test_a_record_that_read_the_marker_before_the_report_was_cancelled_still_cancels_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record read REGISTERED from the DICT, then the reporter cancelled and our poll
    applied it before the record committed: the record sees the report cancelled."""
    from actors import fraud_markers

    report_id, dict_id, _, _ = report_against_our_customer(world, 8)
    request(report_id, "close", analysis_result="AGREED", fraud_type="MULE_ACCOUNT")
    assert run_first(world, "close_infraction_report") == 1
    stale = dict_marker(world, str(report_row(report_id).fraud_marker_id))
    assert stale.status == "REGISTERED"
    they(world, "cancel", dict_id)
    poll()
    assert run_first(world, "report_marker_cancelled") == 1  # nothing to cancel yet
    monkeypatch.setattr(fraud_markers, "read_marker", lambda dict_id: stale)
    assert world.run_due() == ["record_fraud_marker"]
    marker = of_report(report_id)
    assert marker is not None and marker.status == "cancelled"
    assert [e["status"] for e in world.events("fraud_markers.cancelled")] == ["cancelled"]


def test_we_cancel_a_marker_our_close_created(world: World) -> None:
    report_id, _, _, _ = report_against_our_customer(world, 6)
    close_agreed(world, report_id)
    marker = of_report(report_id)
    assert marker is not None
    cancel(str(marker.id))
    world.run_due()
    assert row(marker.id).status == "cancelled"
    assert dict_marker(world, str(marker.dict_id)).status == "CANCELLED"
    assert report_row(report_id).status == "closed"  # the report stays closed


def test_the_record_is_idempotent(world: World) -> None:
    from actors.fraud_markers import record_fraud_marker

    report_id, _, _, _ = report_against_our_customer(world, 7)
    close_agreed(world, report_id)
    marker = of_report(report_id)
    assert marker is not None
    record_fraud_marker(report_id, str(marker.dict_id))  # delivered again
    assert [m.id for m in every_marker()] == [marker.id]
    assert history(marker.id) == ["registered"]
    assert len(world.events("fraud_markers.registered")) == 1


def test_a_marker_id_the_dict_reports_on_an_unknown_report_is_not_recorded(
    world: World, our_dict: DictClient
) -> None:
    from actors.fraud_markers import record_fraud_marker

    held = our_dict.create_fraud_marker(
        pb.CreateFraudMarkerRequest(
            participant=OURS,
            tax_id_number="52998224725",
            fraud_type="OTHER",
            request_id=str(uuid.uuid4()),
        )
    ).marker
    record_fraud_marker(str(uuid.uuid4()), held.id)
    assert every_marker() == []
