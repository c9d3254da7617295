"""Synchronisation on the simulated DICT: CIDs, VSyncs, verifications, events, files."""

from __future__ import annotations

import hashlib

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.domain.cid import EMPTY_VSYNC, compute_cid, compute_vsync, xor_hex
from simulator.admin_client import AdminClient
from tests.integration.bridge.builders import OURS, account, create, entry, lookup, person, rid
from tests.integration.bridge.claim_steps import ack, complete, confirm, open_claim


def cid_of(e: pb.Entry, request_id: str) -> str:
    a, o = e.account, e.owner
    return compute_cid(
        request_id,
        e.key_type,
        e.key,
        o.tax_id_number,
        o.name,
        o.trade_name,
        a.participant,
        a.branch,
        a.account_number,
        a.account_type,
    )


def make(ours: DictClient, key_type: str, n: int) -> tuple[pb.Entry, str]:
    request = create(entry(key_type, n))
    made = ours.create_entry(request).entry.entry
    return made, cid_of(made, request.request_id)


def events(
    client: DictClient, key_type: str = "PHONE", **window: object
) -> pb.ListCidSetEventsResponse:
    return client.list_cid_set_events(
        pb.ListCidSetEventsRequest(participant=client.participant, key_type=key_type, **window)
    )


def verify(client: DictClient, key_type: str, vsync: str) -> str:
    return client.create_sync_verification(
        pb.CreateSyncVerificationRequest(
            participant=client.participant, key_type=key_type, participant_sync_verifier=vsync
        )
    ).result


def test_the_vsync_is_the_xor_of_the_participants_cids(
    ours: DictClient, admin: AdminClient
) -> None:
    cids = [make(ours, "PHONE", n)[1] for n in range(4)]
    assert admin.get_vsync(OURS, "PHONE").vsync == compute_vsync(cids)
    assert admin.get_vsync(OURS, "PHONE").count == 4
    assert admin.get_vsync(OURS, "EMAIL").vsync == EMPTY_VSYNC
    assert verify(ours, "PHONE", compute_vsync(cids)) == "OK"
    assert verify(ours, "PHONE", compute_vsync(cids[1:])) == "NOK"
    assert verify(ours, "EMAIL", EMPTY_VSYNC) == "OK"


def test_a_verifier_must_be_64_hex_digits(ours: DictClient) -> None:
    with pytest.raises(problems.BadRequest):
        verify(ours, "PHONE", "abc")


def test_every_change_is_an_event_and_the_verifiers_follow_them(
    ours: DictClient, admin: AdminClient
) -> None:
    first, cid1 = make(ours, "PHONE", 1)
    _, cid2 = make(ours, "PHONE", 2)
    ours.delete_entry(
        pb.DeleteEntryRequest(key=first.key, participant=OURS, reason="USER_REQUESTED")
    )
    page = events(ours)
    assert [(e.type, e.cid) for e in page.events] == [
        ("ADDED", cid1),
        ("ADDED", cid2),
        ("REMOVED", cid1),
    ]
    assert page.sync_verifier_start == cid1  # the VSync after the first event
    assert page.sync_verifier_end == cid2 == admin.get_vsync(OURS, "PHONE").vsync
    stamps = [e.timestamp.ToNanoseconds() for e in page.events]
    assert stamps == sorted(stamps)


def test_an_update_is_removed_old_then_added_new(ours: DictClient) -> None:
    made, old = make(ours, "EMAIL", 1)
    ours.update_entry(
        pb.UpdateEntryRequest(
            key=made.key,
            account=account(number="42"),
            name="Maria da Silva",
            reason="RECONCILIATION",
        )
    )
    kinds = [(e.type, e.cid) for e in events(ours, "EMAIL").events]
    assert kinds[:2] == [("ADDED", old), ("REMOVED", old)] and kinds[2][0] == "ADDED"


def test_events_by_window_with_pages(ours: DictClient, admin: AdminClient) -> None:
    cids = []
    for n in range(5):
        cids.append(make(ours, "PHONE", n)[1])
        admin.advance_clock(10)
    everything = events(ours).events
    page = events(ours, start_time=everything[1].timestamp, limit=2)
    assert [e.cid for e in page.events] == cids[1:3] and page.has_more_elements
    assert page.sync_verifier_start == compute_vsync(cids[:2])
    assert page.sync_verifier_end == compute_vsync(cids[:3])
    window = events(ours, start_time=everything[1].timestamp, end_time=everything[3].timestamp)
    assert [e.cid for e in window.events] == cids[1:4] and not window.has_more_elements


def test_events_lag_like_lists(ours: DictClient, admin: AdminClient) -> None:
    admin.set_config(list_lag_seconds=5)
    make(ours, "PHONE", 1)
    assert events(ours).events == []
    admin.advance_clock(6)
    assert len(events(ours).events) == 1


def test_a_claim_removes_the_donors_cid_and_adds_the_claimers(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY", "EMAIL")
    ack(ours, claim)
    confirm(ours, claim)
    assert admin.get_vsync(OURS, "EMAIL").vsync == EMPTY_VSYNC
    request_id = rid()
    complete(theirs, claim, request_id)
    moved = ours.get_entry(lookup(claim.key, OURS)).entry.entry
    cid = cid_of(moved, request_id)  # keyed by the completion's RequestId
    assert [e.type for e in events(ours, "EMAIL").events] == ["ADDED", "REMOVED"]
    assert [(e.type, e.cid) for e in events(theirs, "EMAIL").events] == [("ADDED", cid)]
    assert admin.get_vsync(theirs.participant, "EMAIL").vsync == cid


def test_an_entry_is_found_by_its_cid_with_its_request_id(ours: DictClient) -> None:
    request = create(entry("CPF", 3))
    made = ours.create_entry(request).entry.entry
    found = ours.get_entry_by_cid(pb.GetEntryByCidRequest(cid=cid_of(made, request.request_id)))
    assert found.entry.entry == made and found.request_id == request.request_id
    with pytest.raises(problems.NotFound):
        ours.get_entry_by_cid(pb.GetEntryByCidRequest(cid="0" * 64))


def test_a_cid_file_is_prepared_then_downloaded(ours: DictClient, admin: AdminClient) -> None:
    cids = {make(ours, "PHONE", n)[1] for n in range(3)}
    file = ours.create_cid_set_file(pb.CreateCidSetFileRequest(participant=OURS, key_type="PHONE"))
    assert file.status == "REQUESTED"
    polled = ours.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))
    assert polled.status == "PROCESSING" and not polled.sha256
    with pytest.raises(problems.BadRequest):
        list(ours.download_cid_set_file(pb.DownloadCidSetFileRequest(id=file.id)))
    admin.advance_clock(admin.get_config().cid_file_processing_seconds)
    ready = ours.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))
    assert ready.status == "AVAILABLE" and ready.url and ready.HasField("creation_time")
    data = ours.download_cid_set_file_verified(file.id, ready.sha256)
    assert len(data) == ready.bytes and hashlib.sha256(data).hexdigest() == ready.sha256
    assert set(data.decode().splitlines()) == cids


def test_a_cid_file_belongs_to_its_requester(ours: DictClient, theirs: DictClient) -> None:
    file = ours.create_cid_set_file(pb.CreateCidSetFileRequest(participant=OURS, key_type="EVP"))
    with pytest.raises(problems.NotFound):
        theirs.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))


def test_put_and_remove_make_divergences_the_dict_accounts_for(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    made, cid = make(ours, "PHONE", 1)
    ours_vsync = admin.get_vsync(OURS, "PHONE").vsync
    changed = pb.Entry()
    changed.CopyFrom(made)
    changed.owner.name = "Maria Alterada"
    request_id = rid()
    admin.put_entry(changed, request_id)
    new_cid = cid_of(changed, request_id)
    assert admin.get_vsync(OURS, "PHONE").vsync == new_cid
    assert verify(ours, "PHONE", ours_vsync) == "NOK"
    assert [e.type for e in events(ours).events][-2:] == ["REMOVED", "ADDED"]
    assert admin.remove_entry(made.key) and not admin.remove_entry(made.key)
    assert admin.get_vsync(OURS, "PHONE").vsync == xor_hex(new_cid, new_cid)
    assert cid != new_cid
    planted = admin.put_entry(entry("EVP", 5, owner=person(5)))
    assert planted.entry.key and theirs.get_entry(lookup(planted.entry.key))
