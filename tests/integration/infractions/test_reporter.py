"""Our own reports (we are the reporter): create, lost answers, refusals, cancel, and what
the counterparty does, learned from the poll."""

from __future__ import annotations

import uuid

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain.infractions import deadline
from tests.integration.bridge.builders import OTHER, OURS
from tests.integration.claims.conftest import World
from tests.integration.infractions.conftest import (
    CONTACT,
    dict_report,
    e2e,
    history,
    paid,
    poll,
    request,
    row,
    submit,
    they,
)


def test_our_report_is_created_in_the_dict_and_opens(world: World) -> None:
    paid(world, 1)
    report_id = submit(1)
    assert row(report_id).status == "submitting"
    world.run_due()
    ours = row(report_id)
    assert ours.status == "open" and ours.dict_id
    assert ours.dict_created_at is not None and ours.due_at == deadline(ours.dict_created_at)
    the_dict = dict_report(world, ours.dict_id)
    assert (the_dict.status, the_dict.reporter_participant) == ("OPEN", OURS)
    assert (the_dict.counterparty_participant, the_dict.transaction_id) == (OTHER, e2e(1))
    assert history(report_id) == ["submitting", "open"]


def test_a_lost_create_answer_is_recovered_by_listing_our_reports(
    world: World, our_dict: DictClient
) -> None:
    """The DICT opened our report but the answer was lost: the repeat is refused as a
    second report on the transaction (InfractionReportAlreadyBeingProcessedForTransaction),
    and the report found by listing is ours."""
    paid(world, 2)
    report_id = submit(2)
    created = our_dict.create_infraction_report(
        pb.CreateInfractionReportRequest(
            participant=OURS,
            transaction_id=e2e(2),
            reason="REFUND_REQUEST",
            situation_type="SCAM",
            contact_information=pb.ContactInformation(
                email=CONTACT["contact_email"], phone=CONTACT["contact_phone"]
            ),
            counterparty_participant=OTHER,
            request_id=str(uuid.uuid4()),  # the DICT has no RequestId: a repeat is refused
        )
    ).report
    world.run_due()
    ours = row(report_id)
    assert (ours.status, ours.dict_id, ours.problem_type) == ("open", created.id, None)
    assert world.admin.get_call_counts("").by_method["CreateInfractionReport"] == 2


def test_a_lost_create_answer_is_adopted_by_the_poll(world: World, our_dict: DictClient) -> None:
    """The worker died after the DICT opened our report: the poll attaches it."""
    paid(world, 3)
    report_id = submit(3)
    created = our_dict.create_infraction_report(
        pb.CreateInfractionReportRequest(
            participant=OURS,
            transaction_id=e2e(3),
            reason="REFUND_REQUEST",
            situation_type="SCAM",
            contact_information=pb.ContactInformation(email="a@b.example", phone="+551100"),
            counterparty_participant=OTHER,
            request_id=str(uuid.uuid4()),
        )
    ).report
    poll()
    assert (row(report_id).status, row(report_id).dict_id) == ("open", created.id)
    world.run_due()  # the pending create finds it open and does nothing
    assert row(report_id).status == "open"


def test_a_dropped_answer_is_repeated_and_opens_one_report(
    world: World, our_dict: DictClient
) -> None:
    paid(world, 4)
    report_id = submit(4)
    world.admin.set_faults(drop_ratio=1.0, methods=["CreateInfractionReport"])
    world.run_due()
    world.admin.set_faults()
    world.run_due()
    ours = row(report_id)
    assert ours.status == "open" and ours.dict_id
    listed = our_dict.list_infraction_reports(
        pb.ListInfractionReportsRequest(participant=OURS, is_reporter=True)
    ).reports
    assert [r.id for r in listed] == [ours.dict_id]


def test_a_report_the_dict_refuses_is_rejected_with_its_reason(world: World) -> None:
    report_id = submit(5)  # a transaction the SPI never settled
    world.run_due()
    ours = row(report_id)
    refusal = "InfractionReportTransactionNotFound"
    assert (ours.status, ours.problem_type) == ("rejected", refusal)
    (event,) = world.events("infractions.rejected")
    assert event["report_id"] == report_id and event["problem_type"] == refusal


def test_we_cancel_an_open_report(world: World) -> None:
    paid(world, 6)
    report_id = submit(6)
    world.run_due()
    request(report_id, "cancel")
    assert row(report_id).status == "cancelling"
    world.run_due()
    ours = row(report_id)
    assert ours.status == "cancelled"
    assert dict_report(world, str(ours.dict_id)).status == "CANCELLED"
    assert world.events("infractions.cancelled")[0]["report_id"] == report_id


def test_the_poll_brings_the_counterpartys_acknowledgement_and_close_then_we_cancel(
    world: World,
) -> None:
    paid(world, 7)
    report_id = submit(7)
    world.run_due()
    dict_id = str(row(report_id).dict_id)
    they(world, "acknowledge", dict_id)
    poll()
    assert row(report_id).status == "acknowledged"
    they(
        world,
        "close",
        dict_id,
        analysis_result="AGREED",
        analysis_details="conta laranja",
        fraud_type="MULE_ACCOUNT",
    )
    poll()
    ours = row(report_id)
    assert (ours.status, ours.analysis_result) == ("closed", "AGREED")
    assert ours.fraud_marker_id
    assert [e["status"] for e in world.events("infractions.closed")] == ["closed"]
    request(report_id, "cancel")  # the creator may cancel even after the close
    world.run_due()
    assert row(report_id).status == "cancelled"
    assert dict_report(world, dict_id).status == "CANCELLED"
    assert history(report_id) == [
        "submitting",
        "open",
        "acknowledged",
        "closed",
        "cancelling",
        "cancelled",
    ]


def test_the_poll_repeats_nothing_it_has_applied(world: World) -> None:
    paid(world, 8)
    report_id = submit(8)
    world.run_due()
    they(world, "acknowledge", str(row(report_id).dict_id))
    poll()
    poll()  # the overlap lists the report again: already level
    assert history(report_id) == ["submitting", "open", "acknowledged"]
