"""The simulator against the DICT's infraction report rules as the spec states them
(DICT.md §5; OpenAPI v2.6.1; manual §10.1).

Every row of ``spec_infraction_tables`` is one call over gRPC through the real clients, on
a transaction the SPI settled (SimulatorAdmin.AddTransaction) and a report brought to a
status and instant by the simulator's clock; the answer must be the spec's: accepted, or
the DICT's own problem type naming the fields at fault. The error table, the marker a
cancel takes with it and the list follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, timedelta

import grpc
import pytest
from grpc_status import rpc_status

from app.bridge import dict_bridge_pb2 as pb
from app.bridge import dict_bridge_pb2_grpc as pb_grpc
from app.bridge.client import DictClient
from app.domain import problems
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.conformance.claim_driver import answer
from tests.conformance.infraction_driver import (
    CONTACT,
    STRANGER_ISPB,
    acknowledge,
    brought,
    cancel,
    close,
    create,
    listing,
    opened,
    pay,
    stranger,
    transaction_id,
)
from tests.conformance.spec_infraction_tables import (
    ACCEPTED,
    ACKNOWLEDGED,
    CANCELLED,
    CLOSE_REPORT,
    CLOSED,
    CLOSED_THEN_CANCELLED,
    COUNTERPARTY,
    CREATE_REPORT,
    ERROR_TABLE,
    OPEN,
    REPORT_AGAIN,
    REPORT_CALLS,
    REPORTER,
    STRANGER,
    UPDATE_REPORT,
    CloseReport,
    CreateReport,
    ReportAgain,
    ReportCall,
    UpdateReport,
)
from tests.integration.bridge.builders import OTHER, OURS

pytestmark = pytest.mark.conformance


def _is_uuid(text: str) -> bool:
    """ExtendedInfractionReport.Id and FraudMarkerId: "format": "uuid"."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _settle(case: CreateReport, admin: AdminClient) -> None:
    """Settle the row's transaction ``settled_ago`` before the call."""
    if not case.registered:
        return
    if case.settled_ago < 0:
        later = admin.get_clock().now.ToDatetime(tzinfo=UTC) + timedelta(seconds=-case.settled_ago)
        pay(admin, reason=case.reason, settled_at=later)
        return
    pay(admin, reason=case.reason)
    admin.advance_clock(case.settled_ago)


def _create_request(case: CreateReport, caller: str) -> pb.CreateInfractionReportRequest:
    counterparty = {"other": OTHER, "stranger": STRANGER_ISPB, "": ""}[case.counterparty]
    if caller != OURS and counterparty == OTHER:
        counterparty = OURS  # what a wrong reporter would say of the other party
    request = create(
        case.transaction_id or transaction_id(1, case.reason),
        case.reason,
        participant=caller,
        situation_type=case.situation,
        report_details=case.details,
        contact_information=pb.ContactInformation(email=case.email, phone=case.phone),
        counterparty_participant=counterparty,
        request_id=str(uuid.uuid4()) if case.request_id else "",
    )
    if not case.contact:
        request.ClearField("contact_information")
    return request


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CREATE_REPORT])
def test_a_report_is_answered_as_the_spec_says(
    case: CreateReport,
    sim: SimulatorHandle,
    ours: DictClient,
    theirs: DictClient,
    admin: AdminClient,
) -> None:
    _settle(case, admin)
    with stranger(sim, admin) as third:
        client = {REPORTER: ours, COUNTERPARTY: theirs, STRANGER: third}[case.by]
        request = _create_request(case, client.participant)
        outcome, fields, response = answer(lambda: client.create_infraction_report(request))
    assert (outcome, fields) == (case.expected, set(case.fields))
    if outcome != ACCEPTED:
        assert listing(ours).reports == [] and listing(theirs).reports == []
        return
    assert isinstance(response, pb.InfractionReportResponse)
    report = response.report
    assert _is_uuid(report.id)
    assert (report.status, report.reporter_participant, report.counterparty_participant) == (
        OPEN,
        OURS,
        OTHER,  # the transaction's payee, whatever the request's field said
    )
    assert (report.transaction_id, report.reason, report.situation_type) == (
        request.transaction_id,
        case.reason,
        case.situation,
    )
    assert (report.report_details, report.contact_information) == (case.details, CONTACT)
    assert (report.analysis_result, report.fraud_marker_id) == ("", "")
    assert report.creation_time == report.last_modified
    seen = theirs.get_infraction_report(pb.GetInfractionReportRequest(id=report.id)).report
    assert seen == report


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REPORT_AGAIN])
def test_a_transaction_reported_again_is_answered_as_the_spec_says(
    case: ReportAgain, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """v2.6.1's CreateInfractionReportRequest has no RequestId (DICT.md §6 names
    createEntry, completeClaim and createFraudMarker only): a repeat is a second report on
    the transaction, never the first one's answer."""
    request = create(pay(admin))
    first = ours.create_infraction_report(request).report
    if case.first != OPEN:
        acknowledge(theirs, first)
    if case.first in (CLOSED, CLOSED_THEN_CANCELLED):
        close(theirs, first, case.result)
    if case.first in (CANCELLED, CLOSED_THEN_CANCELLED):
        cancel(ours, first)
    repeat = pb.CreateInfractionReportRequest()
    repeat.CopyFrom(request)
    if not case.same:
        repeat.request_id = str(uuid.uuid4())
    outcome, _, response = answer(lambda: ours.create_infraction_report(repeat))
    assert outcome == case.expected
    mine = [r.id for r in listing(ours, is_reporter=True).reports]
    if outcome != ACCEPTED:
        assert mine == [first.id]
        return
    assert isinstance(response, pb.InfractionReportResponse)
    second = response.report
    assert second.id != first.id and second.status == OPEN
    assert sorted(mine) == sorted([first.id, second.id])


def _update(case: UpdateReport, report: pb.InfractionReport) -> pb.UpdateInfractionReportRequest:
    """Only the row's fields are sent."""
    request = pb.UpdateInfractionReportRequest(
        id=report.id,
        participant=OURS,
        situation_type=case.situation or "",
        report_details=case.details or "",
    )
    if case.email is not None or case.phone is not None:
        request.contact_information.CopyFrom(
            pb.ContactInformation(email=case.email or "", phone=case.phone or "")
        )
    return request


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in UPDATE_REPORT])
def test_an_update_is_answered_as_the_spec_says(
    case: UpdateReport, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report = opened(ours, admin, reason=case.reason)
    admin.advance_clock(1)
    request = _update(case, report)
    outcome, fields, _ = answer(lambda: ours.update_infraction_report(request))
    assert (outcome, fields) == (case.expected, set(case.fields))
    after = theirs.get_infraction_report(pb.GetInfractionReportRequest(id=report.id)).report
    if outcome != ACCEPTED:
        assert after == report  # untouched
        return
    contact = request.contact_information if request.HasField("contact_information") else None
    assert (after.status, after.situation_type, after.report_details) == (
        OPEN,
        case.situation or report.situation_type,
        case.details or report.report_details,
    )
    assert after.contact_information == (contact or report.contact_information)
    assert (after.transaction_id, after.reason) == (report.transaction_id, report.reason)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CLOSE_REPORT])
def test_a_close_is_answered_as_the_spec_says(
    case: CloseReport, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    report = brought(ours, theirs, admin, ACKNOWLEDGED)
    outcome, fields, _ = answer(
        lambda: close(theirs, report, case.result, case.fraud_type, case.details)
    )
    assert (outcome, fields) == (case.expected, set(case.fields))
    after = ours.get_infraction_report(pb.GetInfractionReportRequest(id=report.id)).report
    if outcome != ACCEPTED:
        assert after == report  # still ACKNOWLEDGED, untouched
        return
    assert (after.status, after.analysis_result, after.analysis_details) == (
        CLOSED,
        case.result,
        case.details,
    )
    if case.result == "AGREED":
        assert _is_uuid(after.fraud_marker_id)
        marker = ours.get_fraud_marker(pb.GetFraudMarkerRequest(id=after.fraud_marker_id))
        assert (marker.marker.fraud_type, marker.marker.infraction_report_id) == (
            case.fraud_type,
            report.id,
        )
    else:
        assert after.fraud_marker_id == ""


def _call(
    case: ReportCall, client: DictClient, report: pb.InfractionReport
) -> Callable[[], object]:
    me = client.participant
    if case.operation == "acknowledge":
        return lambda: acknowledge(client, report)
    if case.operation == "close":
        return lambda: close(client, report, "DISAGREED", details="Transação legítima")
    if case.operation == "cancel":
        return lambda: cancel(client, report)
    if case.operation == "update":
        request = pb.UpdateInfractionReportRequest(
            id=report.id, participant=me, report_details="Mais detalhes do golpe"
        )
        return lambda: client.update_infraction_report(request)
    return lambda: client.get_infraction_report(pb.GetInfractionReportRequest(id=report.id))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REPORT_CALLS])
def test_who_may_act_on_a_report_and_when(
    case: ReportCall,
    sim: SimulatorHandle,
    ours: DictClient,
    theirs: DictClient,
    admin: AdminClient,
) -> None:
    report = brought(ours, theirs, admin, case.status)
    with stranger(sim, admin) as third:
        client = {REPORTER: ours, COUNTERPARTY: theirs, STRANGER: third}[case.by]
        outcome, _, _ = answer(_call(case, client, report))
    assert outcome == case.expected


def test_the_error_table_names_each_refusal_with_its_http_status() -> None:
    """Error table, "Notificação de infração": the connector's problem types are the DICT's
    names with the DICT's statuses; ``InfractionReportAlreadyExists`` is not one of them."""
    for name, status in ERROR_TABLE:
        cls = getattr(problems, name, None)
        assert cls is not None, f"no problem type {name}"
        assert (cls.type, cls.http_status) == (name, status)
    assert not hasattr(problems, "InfractionReportAlreadyExists")


def test_a_refusal_travels_as_the_dict_s_problem_with_its_status(sim: SimulatorHandle) -> None:
    """What the simulator sends for a report on a transaction the SPI never settled: the
    problem InfractionReportTransactionNotFound with HTTP status 400 (error table)."""
    request = create(transaction_id(9))
    with grpc.insecure_channel(sim.address) as channel:
        stub = pb_grpc.DictBridgeStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateInfractionReport(
                request, timeout=10, metadata=(("pi-requesting-participant", OURS),)
            )
    status = rpc_status.from_call(caught.value)
    assert status is not None
    problem = pb.Problem()
    assert status.details[0].Unpack(problem)
    assert (problem.type, problem.status) == ("InfractionReportTransactionNotFound", 400)


def test_a_cancel_cancels_the_marker_of_an_agreed_close_once(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """cancelInfractionReport: "O cancelamento de uma notificação de infração fechada com
    concordância cancelará também a marcação de fraude associada"; a marker its closer
    already cancelled (manual §10.1: "poderá cancelar somente a marcação de fraude") is left
    as it is [inferred: nothing of it changes, not even its LastModified]."""
    first = brought(ours, theirs, admin, CLOSED, n=1)
    admin.advance_clock(1)
    cancel(ours, first)
    marker = ours.get_fraud_marker(pb.GetFraudMarkerRequest(id=first.fraud_marker_id)).marker
    assert marker.status == "CANCELLED"

    second = brought(ours, theirs, admin, CLOSED, n=2)
    request = pb.CancelFraudMarkerRequest(id=second.fraud_marker_id, participant=OTHER)
    withdrawn = theirs.cancel_fraud_marker(request).marker
    admin.advance_clock(1)
    cancel(ours, second)
    marker = ours.get_fraud_marker(pb.GetFraudMarkerRequest(id=second.fraud_marker_id)).marker
    assert marker == withdrawn


def test_the_list_refuses_parameters_out_of_its_schema(ours: DictClient) -> None:
    """listInfractionReport: Limit "default": 20, "maximum": 200; Status takes
    InfractionReportStatus values [inferred: BadRequest for a query parameter out of its
    schema; a Limit above the maximum is refused, not cut down]."""
    assert listing(ours, limit=200).reports == []
    for bad in ({"limit": 201}, {"limit": -1}, {"status": ["PENDING"]}):
        with pytest.raises(problems.BadRequest):
            listing(ours, **bad)
    with pytest.raises(problems.Forbidden):
        ours.list_infraction_reports(pb.ListInfractionReportsRequest(participant=OTHER))


def test_the_list_is_by_role_and_status_ascending_by_last_modified(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """listInfractionReport: "notificações de infração em que o participante é parte",
    IsReporter / IsCounterparty, Status, "ordenada de forma crescente pelo campo
    LastModified"."""
    reports = []
    for n in (1, 2, 3):
        reports.append(opened(ours, admin, n))
        admin.advance_clock(1)
    acknowledge(theirs, reports[0])
    order = [reports[1].id, reports[2].id, reports[0].id]
    assert [r.id for r in listing(ours).reports] == order
    assert [r.id for r in listing(ours, is_reporter=True).reports] == order
    assert [r.id for r in listing(theirs, is_counterparty=True).reports] == order
    assert listing(ours, is_counterparty=True).reports == []
    assert listing(theirs, is_reporter=True).reports == []
    assert [r.id for r in listing(theirs, status=[ACKNOWLEDGED]).reports] == [reports[0].id]
    assert len(listing(theirs, status=[OPEN, ACKNOWLEDGED]).reports) == 3


def test_the_list_pages_by_20_with_modified_after_inclusive(
    ours: DictClient, admin: AdminClient
) -> None:
    """listInfractionReport: Limit "default": 20, HasMoreElements, ModifiedAfter "maior ou
    igual" and ModifiedBefore "menor ou igual" (inclusive)."""
    reports = []
    for n in range(1, 22):
        reports.append(opened(ours, admin, n))
        admin.advance_clock(1)
    page = listing(ours)
    assert [r.id for r in page.reports] == [r.id for r in reports[:20]]
    assert page.has_more_elements
    rest = listing(ours, modified_after=page.reports[-1].last_modified)
    assert [r.id for r in rest.reports] == [reports[19].id, reports[20].id]
    assert not rest.has_more_elements
    before = listing(ours, limit=2, modified_before=reports[0].last_modified)
    assert [r.id for r in before.reports] == [reports[0].id]


def test_the_list_sends_details_only_when_asked(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """listInfractionReport: IncludeDetails, "Inclui os detalhes da notificação (campos
    Details)", "default": false: ReportDetails and AnalysisDetails only when asked."""
    report = ours.create_infraction_report(  # an explained report: it has ReportDetails
        create(pay(admin, 1), situation_type="OTHER", report_details="boleto falso")
    ).report
    acknowledge(theirs, report)
    close(theirs, report, "DISAGREED", details="devolução legítima")
    admin.advance_clock(6)  # past the list's lag
    (bare,) = listing(ours, is_reporter=True).reports
    assert (bare.report_details, bare.analysis_details) == ("", "")
    (full,) = listing(ours, is_reporter=True, include_details=True).reports
    assert full.report_details and full.analysis_details == "devolução legítima"
    assert full == ours.get_infraction_report(pb.GetInfractionReportRequest(id=report.id)).report
