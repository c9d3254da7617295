"""Infraction reports (v2.6.1) and fraud markers on the simulated DICT (DICT.md §5)."""

from __future__ import annotations

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.domain.fixtures import make_cpf
from simulator.admin_client import AdminClient
from tests.integration.bridge.builders import OTHER, OURS, rid

CONTACT = pb.ContactInformation(email="fraude@banco.example", phone="+5511900000000")


def transaction_id(n: int = 1) -> str:
    return f"E1234567820240101000000000000{n:03d}"


def report_request(n: int = 1) -> pb.CreateInfractionReportRequest:
    return pb.CreateInfractionReportRequest(
        participant=OURS,
        transaction_id=transaction_id(n),
        reason="REFUND_REQUEST",
        situation_type="SCAM",
        contact_information=CONTACT,
    )


def opened(ours: DictClient, admin: AdminClient, n: int = 1) -> pb.InfractionReport:
    """Ours reports the n-th payment its customer made to the other PSP's (which the SPI
    settled first: a report names a transaction the DICT knows)."""
    admin.add_transaction(transaction_id(n), OURS, OTHER, "100.00")
    return ours.create_infraction_report(report_request(n)).report


def acknowledged(theirs: DictClient, report: pb.InfractionReport) -> pb.InfractionReport:
    return theirs.acknowledge_infraction_report(
        pb.AcknowledgeInfractionReportRequest(id=report.id, participant=OTHER)
    ).report


def close(
    theirs: DictClient,
    report: pb.InfractionReport,
    result: str = "AGREED",
    fraud_type: str = "SCAMMER_ACCOUNT",
) -> pb.InfractionReport:
    return theirs.close_infraction_report(
        pb.CloseInfractionReportRequest(
            id=report.id,
            participant=OTHER,
            analysis_result=result,
            analysis_details="checked",
            fraud_type=fraud_type,
        )
    ).report


def test_the_counterparty_acknowledges_then_closes_and_a_marker_is_registered(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report = opened(ours, admin)
    assert (report.status, report.reporter_participant) == ("OPEN", OURS)
    assert (
        theirs.get_infraction_report(pb.GetInfractionReportRequest(id=report.id)).report == report
    )
    assert acknowledged(theirs, report).status == "ACKNOWLEDGED"
    closed = close(theirs, report)
    assert closed.status == "CLOSED" and closed.fraud_marker_id
    marker = ours.get_fraud_marker(pb.GetFraudMarkerRequest(id=closed.fraud_marker_id)).marker
    assert (marker.status, marker.fraud_type) == ("REGISTERED", "SCAMMER_ACCOUNT")


def test_closing_requires_acknowledged_and_a_fraud_type_when_agreed(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report = opened(ours, admin)
    with pytest.raises(problems.InfractionReportOperationInvalid):
        close(theirs, report)
    acknowledged(theirs, report)
    with pytest.raises(problems.InfractionReportInvalid):
        close(theirs, report, fraud_type="")
    assert not close(theirs, report, "DISAGREED", "").fraud_marker_id


def test_only_the_counterparty_acknowledges_and_closes(
    ours: DictClient, admin: AdminClient
) -> None:
    report = opened(ours, admin)
    with pytest.raises(problems.Forbidden):
        ours.acknowledge_infraction_report(
            pb.AcknowledgeInfractionReportRequest(id=report.id, participant=OURS)
        )


def test_acknowledge_close_and_cancel_repeat_with_the_same_answer(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report = opened(ours, admin)
    assert acknowledged(theirs, report) == acknowledged(theirs, report)
    first = close(theirs, report)
    assert close(theirs, report) == first
    with pytest.raises(problems.InfractionReportOperationInvalid):
        close(theirs, report, "DISAGREED", "")
    cancel = pb.CancelInfractionReportRequest(id=report.id, participant=OURS)
    cancelled = ours.cancel_infraction_report(cancel).report
    assert ours.cancel_infraction_report(cancel).report == cancelled


def test_cancelling_a_closed_report_cancels_its_marker(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report = opened(ours, admin)
    acknowledged(theirs, report)
    closed = close(theirs, report)
    with pytest.raises(problems.Forbidden):  # only the creator cancels
        theirs.cancel_infraction_report(
            pb.CancelInfractionReportRequest(id=report.id, participant=OTHER)
        )
    ours.cancel_infraction_report(pb.CancelInfractionReportRequest(id=report.id, participant=OURS))
    marker = ours.get_fraud_marker(pb.GetFraudMarkerRequest(id=closed.fraud_marker_id)).marker
    assert marker.status == "CANCELLED"


def test_the_reporter_updates_while_open_or_acknowledged(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report = opened(ours, admin)
    update = pb.UpdateInfractionReportRequest(
        id=report.id,
        participant=OURS,
        situation_type="OTHER",
        report_details="golpe",
        contact_information=CONTACT,
    )
    assert ours.update_infraction_report(update).report.situation_type == "OTHER"
    acknowledged(theirs, report)
    close(theirs, report, "DISAGREED", "")
    with pytest.raises(problems.InfractionReportOperationInvalid):
        ours.update_infraction_report(update)


def test_a_report_needs_its_fields(ours: DictClient) -> None:
    bad = report_request()
    bad.situation_type = "OTHER"  # without report_details
    bad.ClearField("contact_information")
    with pytest.raises(problems.InfractionReportInvalid) as caught:
        ours.create_infraction_report(bad)
    assert {f for f, _ in caught.value.violations} == {"report_details", "contact_information"}


def test_a_repeated_report_is_refused_while_the_first_is_live(
    ours: DictClient, admin: AdminClient
) -> None:
    """v2.6.1's CreateInfractionReportRequest has no RequestId: a repeat is a second report
    on the transaction, which the DICT refuses (error table)."""
    first = opened(ours, admin)
    with pytest.raises(problems.InfractionReportAlreadyBeingProcessedForTransaction):
        ours.create_infraction_report(report_request())
    assert admin.get_call_counts("").by_method["CreateInfractionReport"] == 2
    ours.cancel_infraction_report(pb.CancelInfractionReportRequest(id=first.id, participant=OURS))
    second = ours.create_infraction_report(report_request()).report
    assert second.id != first.id and second.status == "OPEN"


def test_reports_are_listed_by_role_and_status(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    first = opened(ours, admin, 1)
    admin.advance_clock(1)
    second = opened(ours, admin, 2)
    admin.advance_clock(1)
    acknowledged(theirs, first)

    def listing(client: DictClient, **f: object) -> list[str]:
        request = pb.ListInfractionReportsRequest(participant=client.participant, **f)
        return [r.id for r in client.list_infraction_reports(request).reports]

    assert listing(ours) == [second.id, first.id]
    assert listing(ours, is_counterparty=True) == []
    assert listing(theirs, is_counterparty=True) == [second.id, first.id]
    assert listing(theirs, status=["ACKNOWLEDGED"]) == [first.id]
    page = theirs.list_infraction_reports(
        pb.ListInfractionReportsRequest(participant=OTHER, limit=1)
    )
    assert page.has_more_elements and len(page.reports) == 1


def test_fraud_markers_are_created_once_per_request_id_and_cancelled_by_the_creator(
    ours: DictClient, theirs: DictClient
) -> None:
    request = pb.CreateFraudMarkerRequest(
        participant=OURS, tax_id_number=make_cpf(7), fraud_type="MULE_ACCOUNT", request_id=rid()
    )
    marker = ours.create_fraud_marker(request).marker
    assert ours.create_fraud_marker(request).marker == marker
    other = pb.CreateFraudMarkerRequest()
    other.CopyFrom(request)
    other.fraud_type = "APPLICATION_FRAUD"
    with pytest.raises(problems.RequestIdAlreadyUsed):
        ours.create_fraud_marker(other)
    with pytest.raises(problems.Forbidden):
        theirs.cancel_fraud_marker(pb.CancelFraudMarkerRequest(id=marker.id, participant=OTHER))
    cancel = pb.CancelFraudMarkerRequest(id=marker.id, participant=OURS)
    assert ours.cancel_fraud_marker(cancel).marker.status == "CANCELLED"
    assert ours.cancel_fraud_marker(cancel).marker.status == "CANCELLED"


def test_a_fraud_marker_needs_a_valid_tax_id(ours: DictClient) -> None:
    with pytest.raises(problems.FraudMarkerInvalid):
        ours.create_fraud_marker(
            pb.CreateFraudMarkerRequest(
                participant=OURS, tax_id_number="123", fraud_type="OTHER", request_id=rid()
            )
        )
    with pytest.raises(problems.NotFound):
        ours.get_fraud_marker(pb.GetFraudMarkerRequest(id="fm-missing"))
