"""The simulator's CID files, CID events and entries by CID against DICT.md §3, and the
faults a participant's synchronisation must survive: a corrupted file transfer, and
divergences planted on the DICT side (admin PutEntry / RemoveEntry) that move the CID
events, the VSync and the CID file exactly as the DICT's own operations would."""

from __future__ import annotations

import hashlib

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import CidSetFileCorrupt, DictClient
from app.domain import problems
from app.domain.cid import EMPTY_VSYNC, compute_vsync
from simulator.admin_client import AdminClient
from tests.integration.bridge.builders import OTHER, OURS, account, create, entry, person
from tests.integration.bridge.test_sim_sync import cid_of

pytestmark = pytest.mark.conformance


def make(client: DictClient, n: int, key_type: str = "PHONE") -> tuple[pb.Entry, str, str]:
    """A created entry, its CID and its creating RequestId."""
    request = create(entry(key_type, n))
    made = client.create_entry(request).entry.entry
    return made, cid_of(made, request.request_id), request.request_id


def events(client: DictClient, key_type: str = "PHONE") -> list[tuple[str, str]]:
    page = client.list_cid_set_events(
        pb.ListCidSetEventsRequest(participant=client.participant, key_type=key_type)
    )
    return [(e.type, e.cid) for e in page.events]


def vsync(admin: AdminClient, participant: str = OURS, key_type: str = "PHONE") -> str:
    return admin.get_vsync(participant, key_type).vsync


def verify(client: DictClient, value: str, key_type: str = "PHONE") -> str:
    return client.create_sync_verification(
        pb.CreateSyncVerificationRequest(
            participant=client.participant, key_type=key_type, participant_sync_verifier=value
        )
    ).result


def entry_by_cid(client: DictClient, cid: str) -> pb.GetEntryByCidResponse:
    return client.get_entry_by_cid(pb.GetEntryByCidRequest(cid=cid))


def available_file(
    client: DictClient, admin: AdminClient, key_type: str = "PHONE"
) -> pb.CidSetFile:
    """A CID file requested now, polled once AVAILABLE."""
    file = client.create_cid_set_file(
        pb.CreateCidSetFileRequest(participant=client.participant, key_type=key_type)
    )
    admin.advance_clock(admin.get_config().cid_file_processing_seconds)
    ready = client.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))
    assert ready.status == "AVAILABLE"
    return ready


def download(client: DictClient, file_id: int) -> bytes:
    """The bytes as delivered, unchecked."""
    return b"".join(client.download_cid_set_file(pb.DownloadCidSetFileRequest(id=file_id)))


def file_cids(client: DictClient, admin: AdminClient) -> set[str]:
    ready = available_file(client, admin)
    return set(client.download_cid_set_file_verified(ready.id, ready.sha256).decode().split())


# ------------------------------------------------------------ CID files


def test_a_cid_file_goes_requested_processing_available(
    ours: DictClient, admin: AdminClient
) -> None:
    cids = {make(ours, n)[1] for n in range(3)}
    file = ours.create_cid_set_file(pb.CreateCidSetFileRequest(participant=OURS, key_type="PHONE"))
    assert file.status == "REQUESTED" and file.participant == OURS and file.key_type == "PHONE"
    polled = ours.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))
    assert polled.status == "PROCESSING"
    assert not (polled.url or polled.sha256 or polled.bytes or polled.HasField("creation_time"))
    with pytest.raises(problems.BadRequest):
        download(ours, file.id)
    processing = admin.get_config().cid_file_processing_seconds
    admin.advance_clock(processing)
    ready = ours.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))
    assert ready.status == "AVAILABLE" and ready.url and ready.bytes == 3 * 65
    assert ready.creation_time.ToMicroseconds() == (
        file.request_time.ToMicroseconds() + round(processing * 1_000_000)
    )
    data = ours.download_cid_set_file_verified(ready.id, ready.sha256)
    assert set(data.decode().split("\n")[:-1]) == cids
    # The preparation time is the one in force at the request: AVAILABLE stays AVAILABLE.
    admin.set_config(cid_file_processing_seconds=processing + 3600)
    again = ours.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id))
    assert again.status == "AVAILABLE" and again.sha256 == ready.sha256
    assert download(ours, file.id) == data


def test_corrupt_cid_files_is_off_by_default_and_the_download_matches(
    ours: DictClient, admin: AdminClient
) -> None:
    assert admin.get_config().corrupt_cid_files is False
    for n in range(3):
        make(ours, n)
    ready = available_file(ours, admin)
    data = download(ours, ready.id)
    assert len(data) == ready.bytes and hashlib.sha256(data).hexdigest() == ready.sha256


def test_a_corrupted_transfer_keeps_the_size_but_not_the_sha256(
    ours: DictClient, admin: AdminClient
) -> None:
    cids = {make(ours, n)[1] for n in range(3)}
    assert admin.set_config(corrupt_cid_files=True).corrupt_cid_files
    ready = available_file(ours, admin)
    data = download(ours, ready.id)
    assert len(data) == ready.bytes == 3 * 65
    assert hashlib.sha256(data).hexdigest() != ready.sha256
    lines = data.decode().split("\n")
    assert lines[-1] == "" and all(len(line) == 64 for line in lines[:-1])
    assert len(set(lines[:-1]) - cids) == 1  # one CID line altered, the others intact
    with pytest.raises(CidSetFileCorrupt):
        ours.download_cid_set_file_verified(ready.id, ready.sha256)
    # The knob acts on downloads, not files: the same file downloads intact once off.
    admin.set_config(corrupt_cid_files=False)
    assert hashlib.sha256(download(ours, ready.id)).hexdigest() == ready.sha256


# ------------------------------------------------------------ divergences planted by the admin


def test_put_entry_changing_the_account_is_removed_old_then_added_new(
    ours: DictClient, admin: AdminClient
) -> None:
    made, old_cid, request_id = make(ours, 1)
    _, other_cid, _ = make(ours, 2)
    before = vsync(admin)
    assert before == compute_vsync([old_cid, other_cid])
    changed = pb.Entry()
    changed.CopyFrom(made)
    changed.account.CopyFrom(account(number="424242"))
    admin.put_entry(changed)
    # As an UpdateEntry: the new CID is keyed by the creating RequestId (DICT.md §3).
    new_cid = cid_of(changed, request_id)
    assert new_cid != old_cid
    assert events(ours)[-2:] == [("REMOVED", old_cid), ("ADDED", new_cid)]
    after = vsync(admin)
    assert after != before and after == compute_vsync([new_cid, other_cid])
    assert verify(ours, before) == "NOK" and verify(ours, after) == "OK"
    assert file_cids(ours, admin) == {new_cid, other_cid}
    with pytest.raises(problems.NotFound):
        entry_by_cid(ours, old_cid)
    found = entry_by_cid(ours, new_cid)
    assert found.request_id == request_id
    assert found.entry.entry.account.account_number == "424242"
    # The DICT's own update back to the old account lands on the old CID again.
    ours.update_entry(
        pb.UpdateEntryRequest(
            key=made.key, account=made.account, name=made.owner.name, reason="USER_REQUESTED"
        )
    )
    assert events(ours)[-2:] == [("REMOVED", new_cid), ("ADDED", old_cid)]
    assert vsync(admin) == before


def test_put_entry_with_the_same_data_changes_nothing(ours: DictClient, admin: AdminClient) -> None:
    made, cid, _ = make(ours, 1)
    seen, before = events(ours), vsync(admin)
    admin.put_entry(made)
    assert events(ours) == seen and vsync(admin) == before == cid


def test_put_entry_for_another_holder_moves_the_cid_between_participants(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    made, cid, _ = make(ours, 1)
    planted = entry("PHONE", 1, participant=OTHER, owner=person(9))
    request_id = "6f1c2a8e-1b7d-4c3e-9a55-0d2f4b6e8c10"
    admin.put_entry(planted, request_id)
    new_cid = cid_of(planted, request_id)
    assert events(ours)[-1] == ("REMOVED", cid) and vsync(admin) == EMPTY_VSYNC
    assert events(theirs) == [("ADDED", new_cid)] and vsync(admin, OTHER) == new_cid
    with pytest.raises(problems.NotFound):
        entry_by_cid(ours, cid)
    assert entry_by_cid(theirs, new_cid).entry.entry.key == made.key


def test_remove_entry_is_removed_and_its_cid_is_no_longer_found(
    ours: DictClient, admin: AdminClient
) -> None:
    made, cid, request_id = make(ours, 1)
    _, other_cid, _ = make(ours, 2)
    assert entry_by_cid(ours, cid).request_id == request_id
    assert admin.remove_entry(made.key)
    assert events(ours)[-1] == ("REMOVED", cid)
    assert vsync(admin) == other_cid and verify(ours, other_cid) == "OK"
    with pytest.raises(problems.NotFound):
        entry_by_cid(ours, cid)
    assert file_cids(ours, admin) == {other_cid}
    seen = events(ours)
    assert not admin.remove_entry(made.key) and events(ours) == seen
