"""Fraud markers (DICT.md §5, v2): registered by a PSP for its own customers, or by
an AGREED infraction report; cancelled by their creator or by the PSP that closed
the generating report."""

from __future__ import annotations

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems, taxid
from simulator.common import own
from simulator.config import Participant
from simulator.convert import uuid_bytes
from simulator.infractions import FRAUD_TYPES
from simulator.models import CANCELLED_MARKER, Marker
from simulator.state import Simulator


def create_marker(
    sim: Simulator, caller: Participant, req: pb.CreateFraudMarkerRequest
) -> pb.FraudMarkerResponse:
    own(caller, req.participant)
    bad = []
    if not (taxid.is_valid_cpf(req.tax_id_number) or taxid.is_valid_cnpj(req.tax_id_number)):
        bad.append(("tax_id_number", "cpf_or_cnpj"))
    if req.fraud_type not in FRAUD_TYPES:
        bad.append(("fraud_type", "one_of"))
    if uuid_bytes(req.request_id) is None:
        bad.append(("request_id", "pattern"))
    if bad:
        raise problems.FraudMarkerInvalid("the fraud marker is invalid", violations=bad)
    memo_key = f"{caller.ispb}:{req.request_id.lower()}"
    known = sim.state.marker_requests.get(memo_key)
    if known is not None:
        marker = _marker(sim, known)
        if (marker.tax_id, marker.key, marker.fraud_type) != (
            req.tax_id_number,
            req.key,
            req.fraud_type,
        ):
            raise problems.RequestIdAlreadyUsed("this RequestId registered a different marker")
        return pb.FraudMarkerResponse(marker=marker.to_pb())
    marker = Marker(
        f"fm-{sim.next_id():010d}",
        caller.ispb,
        req.tax_id_number,
        req.key,
        req.fraud_type,
        sim.now_us(),
        request_id=req.request_id,
    )
    sim.state.markers[marker.id] = marker
    sim.state.marker_requests[memo_key] = marker.id
    return pb.FraudMarkerResponse(marker=marker.to_pb())


def _marker(sim: Simulator, marker_id: str) -> Marker:
    marker = sim.state.markers.get(marker_id)
    if marker is None:
        raise problems.NotFound(f"no fraud marker {marker_id}")
    return marker


def get_marker(
    sim: Simulator, caller: Participant, req: pb.GetFraudMarkerRequest
) -> pb.FraudMarkerResponse:
    return pb.FraudMarkerResponse(marker=_marker(sim, req.id).to_pb())


def cancel_marker(
    sim: Simulator, caller: Participant, req: pb.CancelFraudMarkerRequest
) -> pb.FraudMarkerResponse:
    own(caller, req.participant)
    marker = _marker(sim, req.id)
    if caller.ispb not in (marker.participant, marker.closed_by):
        raise problems.Forbidden("only the marker's creator may cancel it")
    if marker.status != CANCELLED_MARKER:
        marker.status = CANCELLED_MARKER
        marker.last_modified_us = sim.now_us()
    return pb.FraudMarkerResponse(marker=marker.to_pb())
