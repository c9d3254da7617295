"""SimulatorAdmin: clock, participants, configuration, faults, counters, bulk load, reset."""

from __future__ import annotations

import threading
import time
import types
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.bridge.status import BridgeUnavailable
from app.domain import problems
from app.domain.cid import EMPTY_VSYNC
from simulator import boundary
from simulator.admin_client import AdminClient
from tests.integration.bridge.builders import OTHER, OURS, create, entry, lookup


def test_the_clock_advances_and_is_set(admin: AdminClient) -> None:
    before = admin.get_clock()
    after = admin.advance_clock(3600)
    assert after.now.seconds - before.now.seconds >= 3600 and after.offset_seconds == 3600
    target = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert abs(admin.set_clock(target).now.seconds - int(target.timestamp())) <= 1


def test_participants_are_added_and_listed(admin: AdminClient) -> None:
    added = admin.add_participant("11223344", "h", "Banco Pequeno")
    assert (added.ispb, added.category) == ("11223344", "H")
    assert [p.ispb for p in admin.list_participants()] == sorted([OURS, OTHER, "11223344"])
    with pytest.raises(problems.BadRequest):
        admin.add_participant("123", "Z")


def test_config_changes_keep_the_other_settings(admin: AdminClient) -> None:
    config = admin.set_config(list_lag_seconds=5)
    assert config.list_lag_seconds == 5 and config.rate_limits_enabled
    assert config.key_limits_enabled


def test_key_limits_can_be_turned_off(ours: DictClient, admin: AdminClient) -> None:
    admin.set_config(key_limits_enabled=False)
    first = entry("CPF", 1, number="777")
    ours.create_entry(create(first))
    for _ in range(6):
        ours.create_entry(
            create(pb.Entry(key_type="EVP", owner=first.owner, account=first.account))
        )


def test_an_unavailable_dict_never_sees_the_request(ours: DictClient, admin: AdminClient) -> None:
    admin.set_faults(unavailable_ratio=1.0, methods=["CreateEntry"])
    request = create(entry("PHONE"))
    with pytest.raises(BridgeUnavailable):
        ours.create_entry(request)
    counts = admin.get_call_counts(request.request_id)
    assert counts.by_method["CreateEntry"] >= 2  # the client's own retries arrived
    assert counts.entries_created == 0
    admin.clear_faults()
    assert ours.create_entry(request).entry.entry.key == request.entry.key


def test_a_dropped_answer_was_acted_on_and_the_retry_is_a_repeat(
    ours: DictClient, admin: AdminClient
) -> None:
    admin.set_faults(drop_ratio=1.0, methods=["CreateEntry"])
    request = create(entry("EVP"))
    with pytest.raises(BridgeUnavailable):
        ours.create_entry(request)
    admin.clear_faults()
    again = ours.create_entry(request)  # the DICT recognises the RequestId
    counts = admin.get_call_counts(request.request_id)
    assert counts.entries_created == 1 and counts.by_method["CreateEntry"] >= 3
    assert admin.get_stats().entries == 1 and again.entry.entry.key


def test_faults_apply_only_to_the_participants_named(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    admin.set_faults(unavailable_ratio=1.0, participants=[OURS])
    with pytest.raises(BridgeUnavailable):
        ours.create_entry(create(entry("PHONE")))
    assert theirs.create_entry(create(entry("EVP", participant=OTHER))).entry.entry.key
    assert admin.get_stats().entries == 1


def test_latency_applies_only_to_the_methods_named(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    admin.set_faults(latency_ms=300, methods=["GetEntry"])
    ours.create_entry(create(entry("PHONE")))  # not delayed
    with pytest.raises(BridgeUnavailable):  # the deadline passes first
        theirs.get_entry(lookup(entry("PHONE").key), timeout_s=0.1)
    # the server still finishes the call: let it, or the next test's counts see it
    deadline = time.monotonic() + 5
    while admin.get_call_counts().by_method.get("GetEntry", 0) < 1:
        assert time.monotonic() < deadline, "the delayed GetEntry never finished"
        time.sleep(0.02)


def test_call_counts_total_every_method(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    ours.create_entry(create(entry("PHONE")))
    theirs.get_entry(lookup(entry("PHONE").key))
    totals = admin.get_call_counts()
    assert totals.by_method["CreateEntry"] == 1 and totals.by_method["GetEntry"] == 1
    assert totals.entries_created == 1 and totals.total == 2
    assert dict(totals.refused) == {}


def test_call_counts_name_each_refusal_by_its_error_type(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    ours.create_entry(create(entry("PHONE")))
    with pytest.raises(problems.EntryAlreadyExists):
        ours.create_entry(create(entry("PHONE")))  # a new RequestId for the same key
    with pytest.raises(problems.NotFound):
        theirs.get_entry(lookup("+5511999990000"))
    assert dict(admin.get_call_counts().refused) == {"EntryAlreadyExists": 1, "NotFound": 1}


def test_loaded_entries_are_real_entries(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    loaded = admin.load_entries(OURS, 1000, "EVP", seed=1)
    assert loaded.loaded == 1000
    stats = admin.get_stats()
    assert stats.entries == 1000 and stats.rss_bytes > 0
    vsync = admin.get_vsync(OURS, "EVP")
    assert vsync.count == 1000 and vsync.vsync != EMPTY_VSYNC
    file = ours.create_cid_set_file(pb.CreateCidSetFileRequest(participant=OURS, key_type="EVP"))
    admin.advance_clock(admin.get_config().cid_file_processing_seconds)
    sha = ours.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id)).sha256
    cids = ours.download_cid_set_file_verified(file.id, sha).decode().split()
    assert len(cids) == 1000
    found = ours.get_entry_by_cid(pb.GetEntryByCidRequest(cid=cids[500]))
    key = found.entry.entry.key
    assert uuid.UUID(key).version == 4 and str(uuid.UUID(key)) == key
    assert theirs.get_entry(lookup(key)).entry == found.entry
    ours.delete_entry(pb.DeleteEntryRequest(key=key, participant=OURS, reason="USER_REQUESTED"))
    assert admin.get_vsync(OURS, "EVP").count == 999 and admin.get_stats().entries == 999


@pytest.mark.parametrize("key_type", ["CPF", "CNPJ", "PHONE", "EMAIL"])
def test_loaded_keys_of_every_type_validate_and_conflict(
    ours: DictClient, theirs: DictClient, admin: AdminClient, key_type: str
) -> None:
    admin.load_entries(OTHER, 50, key_type)
    file = theirs.create_cid_set_file(
        pb.CreateCidSetFileRequest(participant=OTHER, key_type=key_type)
    )
    admin.advance_clock(admin.get_config().cid_file_processing_seconds)
    sha = theirs.get_cid_set_file(pb.GetCidSetFileRequest(id=file.id)).sha256
    cid = theirs.download_cid_set_file_verified(file.id, sha).decode().split()[7]
    held = theirs.get_entry_by_cid(pb.GetEntryByCidRequest(cid=cid)).entry.entry
    with pytest.raises(problems.EntryKeyInCustodyOfDifferentParticipant):
        ours.create_entry(
            create(
                pb.Entry(
                    key_type=key_type,
                    key=held.key,
                    owner=held.owner,
                    account=entry(key_type).account,
                )
            )
        )


def test_reset_forgets_everything(ours: DictClient, admin: AdminClient) -> None:
    ours.create_entry(create(entry("PHONE")))
    admin.advance_clock(100)
    admin.reset()
    assert admin.get_stats().entries == 0 and admin.get_clock().offset_seconds == 0
    assert admin.get_call_counts().total == 0


def test_injected_latency_delays_calls_without_queueing_them(
    ours: DictClient, admin: AdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls waiting out injected latency wait side by side, not in the server's two
    narrow threads. The latency wait is replaced by a barrier for 8: it opens only if
    all 8 calls are in their latency wait at once (else it breaks after 5 s and the
    calls fail), so no duration is measured."""
    together = threading.Barrier(8, timeout=5)
    waits: list[float] = []

    def latency(seconds: float) -> None:
        waits.append(seconds)
        together.wait()

    monkeypatch.setattr(boundary, "time", types.SimpleNamespace(sleep=latency))
    admin.set_faults(latency_ms=300, methods=["GetEntry"])
    with ThreadPoolExecutor(8) as pool:
        misses = list(pool.map(lambda n: _miss(ours, n), range(8)))
    assert misses == [True] * 8
    assert waits == [0.3] * 8  # each call waited its injected latency


def _miss(client: DictClient, payer: int) -> bool:
    try:  # each payer its own: 8 misses of one would drain its anti-scan bucket
        client.get_entry(lookup("+5511999999999", OURS, payer))
    except problems.NotFound:
        return True
    return False
