"""Our own markers against the simulated DICT: create (once per RequestId, whatever is
repeated), refusals, cancel, and a cancel the DICT refuses."""

from __future__ import annotations

import time

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.domain.fixtures import make_cnpj, make_cpf
from tests.integration.bridge.builders import OURS
from tests.integration.claims.conftest import World
from tests.integration.fraud_markers.conftest import (
    cancel,
    dict_marker,
    history,
    in_the_dict,
    row,
    submit,
    world_history,
)


def test_our_marker_is_registered_in_the_dict(world: World) -> None:
    marker_id = submit(make_cpf(1), "APPLICATION_FRAUD", key="+5521900000001")
    assert row(marker_id).status == "submitting"
    assert world.run_due() == ["create_fraud_marker"]
    ours = row(marker_id)
    assert (ours.status, ours.origin, ours.problem_type) == ("registered", "OURS", None)
    assert ours.dict_id and ours.dict_created_at is not None
    the_dict = dict_marker(world, ours.dict_id)
    assert (the_dict.status, the_dict.tax_id_number, the_dict.key) == (
        "REGISTERED",
        make_cpf(1),
        "+5521900000001",
    )
    assert the_dict.fraud_type == "APPLICATION_FRAUD"
    (event,) = world.events("fraud_markers.registered")
    assert event == {
        "marker_id": marker_id,
        "dict_id": ours.dict_id,
        "status": "registered",
        "origin": "OURS",
        "fraud_type": "APPLICATION_FRAUD",
        "tax_id_number": make_cpf(1),
        "key": "+5521900000001",
        "infraction_report_id": None,
        "problem_type": None,
    }
    assert history(marker_id) == ["submitting", "registered"]


def test_a_lost_answer_is_repeated_with_the_same_request_id_and_marks_once(world: World) -> None:
    marker_id = submit(make_cnpj(2))
    request_id = row(marker_id).request_id
    world.admin.set_faults(drop_ratio=1.0, methods=["CreateFraudMarker"])
    world.run_due()  # the DICT registered it, the answer was lost: the call stays owed
    assert row(marker_id).status == "submitting"
    assert len(in_the_dict(world, request_id)) == 1
    world.admin.set_faults()
    time.sleep(0.2)  # the bridge's breaker lets calls through again
    world.run_due()
    ours = row(marker_id)
    (held,) = in_the_dict(world, request_id)
    assert (ours.status, ours.dict_id) == ("registered", held.id)
    # Every call carried the RequestId (the bridge also repeats a lost answer itself):
    # the DICT saw several, and holds one marker.
    counts = world.admin.get_call_counts(str(request_id)).by_method
    assert counts["CreateFraudMarker"] >= 2
    assert len(world.sim.simulator.state.markers) == 1


def test_a_repeated_delivery_makes_no_second_call(world: World) -> None:
    from actors.fraud_markers import create_fraud_marker

    marker_id = submit(make_cpf(3))
    world.run_due()
    create_fraud_marker(marker_id)  # Dramatiq delivers at least once
    assert world.admin.get_call_counts(str(row(marker_id).request_id)).total == 1
    assert history(marker_id) == ["submitting", "registered"]
    assert len(world.events("fraud_markers.registered")) == 1


def test_a_repeat_after_a_crash_gets_the_same_marker_from_the_dict(
    world: World, our_dict: DictClient
) -> None:
    """Another delivery of ours reached the DICT first (the worker died before it could
    record the answer): our call, with the same RequestId, adopts that marker."""
    marker_id = submit(make_cpf(4), "OTHER")
    ours = row(marker_id)
    first = our_dict.create_fraud_marker(
        pb.CreateFraudMarkerRequest(
            participant=OURS,
            tax_id_number=ours.tax_id_number,
            fraud_type="OTHER",
            request_id=str(ours.request_id),
        )
    ).marker
    world.run_due()
    assert (row(marker_id).status, row(marker_id).dict_id) == ("registered", first.id)
    assert len(in_the_dict(world, ours.request_id)) == 1


def test_a_marker_the_dict_refuses_is_rejected_with_its_reason(world: World) -> None:
    marker_id = submit("12345678900")  # wrong check digits: our API would have refused it
    world.run_due()
    ours = row(marker_id)
    assert (ours.status, ours.problem_type, ours.dict_id) == (
        "rejected",
        "FraudMarkerInvalid",
        None,
    )
    (event,) = world.events("fraud_markers.rejected")
    assert (event["marker_id"], event["problem_type"]) == (marker_id, "FraudMarkerInvalid")
    refused = [h for h in world_history(marker_id) if h["trigger"] == "submit_refused"]
    assert refused[0]["reason"] == "FraudMarkerInvalid"


def test_an_outage_is_retried_until_the_marker_is_registered(world: World) -> None:
    marker_id = submit(make_cpf(5))
    world.admin.set_faults(unavailable_ratio=1.0, methods=["CreateFraudMarker"])
    world.run_due()
    assert row(marker_id).status == "submitting"
    world.admin.set_faults()
    time.sleep(0.2)
    world.run_due()
    assert row(marker_id).status == "registered"


def test_a_retryable_refusal_raises_so_dramatiq_retries(world: World) -> None:
    from actors.fraud_markers import create_fraud_marker

    marker_id = submit(make_cpf(6))
    world.admin.set_faults(unavailable_ratio=1.0, methods=["CreateFraudMarker"])
    with pytest.raises(problems.DictProblem) as raised:
        create_fraud_marker(marker_id)
    assert raised.value.retryable
    assert (row(marker_id).status, row(marker_id).problem_type) == ("submitting", None)
    world.admin.set_faults()


def test_we_cancel_our_marker(world: World) -> None:
    marker_id = submit(make_cpf(7))
    world.run_due()
    cancel(marker_id)
    assert row(marker_id).status == "cancelling"
    assert row(marker_id).pending == {"from": "registered"}
    world.run_due()
    ours = row(marker_id)
    assert (ours.status, ours.pending) == ("cancelled", None)
    assert dict_marker(world, str(ours.dict_id)).status == "CANCELLED"
    (event,) = world.events("fraud_markers.cancelled")
    assert (event["marker_id"], event["status"]) == (marker_id, "cancelled")
    assert history(marker_id) == ["submitting", "registered", "cancelling", "cancelled"]


def test_a_cancel_refused_goes_back_then_follows_what_the_dict_holds(
    world: World, our_dict: DictClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our cancel lost a race to another cancel of ours: the DICT refuses it, the marker
    is read again, and it is cancelled there."""
    from app.bridge.client import DictClient as Client

    marker_id = submit(make_cpf(8))
    world.run_due()
    dict_id = str(row(marker_id).dict_id)
    our_dict.cancel_fraud_marker(pb.CancelFraudMarkerRequest(id=dict_id, participant=OURS))

    def refuse(self: Client, request: pb.CancelFraudMarkerRequest, **_: object) -> None:
        raise problems.FraudMarkerOperationInvalid("the marker is already cancelled")

    monkeypatch.setattr(Client, "cancel_fraud_marker", refuse)
    cancel(marker_id)
    world.run_due()
    assert row(marker_id).status == "cancelled"
    assert history(marker_id)[-3:] == ["cancelling", "registered", "cancelled"]
    refused = [h for h in world_history(marker_id) if h["trigger"] == "cancel_refused"]
    assert refused[0]["reason"] == "FraudMarkerOperationInvalid"


def test_a_cancel_the_dict_refuses_leaves_the_marker_registered_with_the_reason(
    world: World,
) -> None:
    marker_id = submit(make_cpf(9))
    world.run_due()
    dict_id = str(row(marker_id).dict_id)
    with world.sim.simulator.lock:  # the DICT no longer holds it
        del world.sim.simulator.state.markers[dict_id]
    cancel(marker_id)
    world.run_due()
    ours = row(marker_id)
    assert (ours.status, ours.problem_type, ours.pending) == ("registered", "NotFound", None)
    assert world.events("fraud_markers.cancelled") == []
