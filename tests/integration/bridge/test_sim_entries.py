"""Entries on the simulated DICT: one owner per key, the DICT's errors, idempotency."""

from __future__ import annotations

import uuid

import grpc
import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge import dict_bridge_pb2_grpc as pb_grpc
from app.bridge.client import DictClient
from app.bridge.status import from_rpc_error
from app.domain import problems
from app.domain.cid import compute_cid
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.integration.bridge.builders import (
    KEY_TYPES,
    OTHER,
    OURS,
    account,
    create,
    entry,
    lookup,
    person,
    rid,
)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_a_created_key_of_each_type_is_found_with_its_dates(
    ours: DictClient, theirs: DictClient, admin: AdminClient, key_type: str
) -> None:
    created = ours.create_entry(create(entry(key_type))).entry
    found = theirs.get_entry(lookup(created.entry.key)).entry
    assert found.entry == created.entry
    assert found.creation_date == found.key_ownership_date == created.creation_date
    assert abs(found.creation_date.seconds - admin.get_clock().now.seconds) <= 1
    assert not found.HasField("open_claim_creation_date")


def test_the_dict_generates_evp_keys_as_lowercase_uuid4(ours: DictClient) -> None:
    keys = {ours.create_entry(create(entry("EVP", n))).entry.entry.key for n in range(3)}
    assert len(keys) == 3
    assert all(uuid.UUID(k).version == 4 and k == k.lower() for k in keys)


def test_an_invalid_entry_names_every_broken_field(ours: DictClient) -> None:
    bad = entry("CPF")
    bad.key = "529.982.247-25"  # the DICT takes a CPF key as 11 digits, unpunctuated
    bad.account.account_number = "12-3"
    bad.owner.name = "Maria 2"  # a person's name has no digits
    with pytest.raises(problems.EntryInvalid) as caught:
        ours.create_entry(create(bad))
    fields = {f for f, _rule in caught.value.violations}
    assert {"key", "account.account_number", "owner.name"} <= fields


def test_the_dict_checks_patterns_not_check_digits(ours: DictClient) -> None:
    spec_example = entry("CPF", owner=person(1))
    spec_example.owner.tax_id_number = spec_example.key = "11122233300"  # a wrong check digit
    assert ours.create_entry(create(spec_example)).entry.entry.key == "11122233300"


def test_a_cpf_key_is_its_owners_own_cpf(ours: DictClient) -> None:
    bad = entry("CPF")
    bad.key = "52998224725"  # well formed, but another person's CPF
    with pytest.raises(problems.EntryTaxIdNumberByDifferentOwner):
        ours.create_entry(create(bad))


def test_an_evp_key_given_on_create_is_invalid(ours: DictClient) -> None:
    bad = entry("EVP")
    bad.key = str(uuid.uuid4())
    with pytest.raises(problems.EntryInvalid):
        ours.create_entry(create(bad))


def test_the_same_key_same_owner_same_psp_already_exists(ours: DictClient) -> None:
    ours.create_entry(create(entry("PHONE")))
    with pytest.raises(problems.EntryAlreadyExists):
        ours.create_entry(create(entry("PHONE")))


def test_a_key_of_another_person_is_owned_by_a_different_person(
    ours: DictClient, theirs: DictClient
) -> None:
    theirs.create_entry(create(entry("EMAIL", participant=OTHER)))
    stolen = entry("EMAIL", owner=person(2))
    with pytest.raises(problems.EntryKeyOwnedByDifferentPerson):
        ours.create_entry(create(stolen))


def test_the_owners_key_at_another_psp_is_in_its_custody(
    ours: DictClient, theirs: DictClient
) -> None:
    theirs.create_entry(create(entry("PHONE", participant=OTHER)))
    with pytest.raises(problems.EntryKeyInCustodyOfDifferentParticipant):
        ours.create_entry(create(entry("PHONE")))


def test_repeating_a_create_gives_the_same_answer_and_one_entry(
    ours: DictClient, admin: AdminClient
) -> None:
    request = create(entry("EVP"))
    first = ours.create_entry(request)
    second = ours.create_entry(request)
    assert second.entry == first.entry
    counts = admin.get_call_counts(request.request_id)
    assert counts.by_method["CreateEntry"] == 2 and counts.entries_created == 1


def test_a_request_id_reused_for_other_data_is_refused(ours: DictClient) -> None:
    request_id = rid()
    ours.create_entry(create(entry("PHONE", 1), request_id))
    with pytest.raises(problems.RequestIdAlreadyUsed):
        ours.create_entry(create(entry("PHONE", 2), request_id))


@pytest.mark.parametrize(("owner_kind", "limit"), [("CPF", 5), ("CNPJ", 20)])
def test_an_account_holds_5_keys_for_a_person_and_20_for_a_company(
    ours: DictClient, owner_kind: str, limit: int
) -> None:
    first = entry(owner_kind, 1, number="777")
    for n in range(limit):
        e = pb.Entry(key_type="EVP", owner=first.owner, account=first.account)
        ours.create_entry(create(e if n else first))
    with pytest.raises(problems.EntryLimitExceeded):
        ours.create_entry(
            create(pb.Entry(key_type="EVP", owner=first.owner, account=first.account))
        )
    other_branch = pb.Entry(
        key_type="EVP", owner=first.owner, account=account(number="777", branch="2")
    )
    ours.create_entry(create(other_branch))  # counted per branch+number+type


def test_a_create_reason_must_be_a_create_reason(ours: DictClient) -> None:
    with pytest.raises(problems.InvalidReason):
        ours.create_entry(create(entry(), reason="FRAUD"))


def test_an_entry_at_another_participants_account_is_forbidden(ours: DictClient) -> None:
    with pytest.raises(problems.Forbidden):
        ours.create_entry(create(entry(participant=OTHER)))


def test_an_unknown_participant_is_invalid(sim: SimulatorHandle) -> None:
    with (
        DictClient(sim.address, "99999999") as stranger,
        pytest.raises(problems.ParticipantInvalid),
    ):
        stranger.get_entry(lookup("+5511900000001", "99999999"))


def test_a_call_without_the_participant_metadata_is_forbidden(sim: SimulatorHandle) -> None:
    with grpc.insecure_channel(sim.address) as channel:
        stub = pb_grpc.DictBridgeStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetEntry(lookup("+5511900000001"), timeout=5)
    assert isinstance(from_rpc_error(caught.value), problems.Forbidden)


def test_an_unknown_key_is_not_found(ours: DictClient) -> None:
    with pytest.raises(problems.NotFound):
        ours.get_entry(lookup("+5511999999999", OURS))


def test_an_update_changes_account_and_name_and_recomputes_the_cid(
    ours: DictClient, admin: AdminClient
) -> None:
    request = create(entry("PHONE"))
    created = ours.create_entry(request).entry
    moved = account(number="555", branch="42")
    updated = ours.update_entry(
        pb.UpdateEntryRequest(
            key=created.entry.key, account=moved, name="Maria Souza", reason="BRANCH_TRANSFER"
        )
    ).entry
    assert updated.entry.account == moved and updated.entry.owner.name == "Maria Souza"
    assert updated.creation_date == created.creation_date
    e = updated.entry
    cid = compute_cid(
        request.request_id,
        e.key_type,
        e.key,
        e.owner.tax_id_number,
        e.owner.name,
        "",
        OURS,
        "42",
        "555",
        "CACC",
    )  # keyed by the creating RequestId
    assert admin.get_vsync(OURS, "PHONE").vsync == cid
    assert ours.get_entry_by_cid(pb.GetEntryByCidRequest(cid=cid)).entry.entry == e


def test_only_the_holding_participant_updates(ours: DictClient, theirs: DictClient) -> None:
    key = ours.create_entry(create(entry("EMAIL"))).entry.entry.key
    with pytest.raises(problems.Forbidden):
        theirs.update_entry(
            pb.UpdateEntryRequest(
                key=key, account=account(OTHER), name="Maria da Silva", reason="USER_REQUESTED"
            )
        )


def test_an_update_of_an_unknown_key_is_not_found(ours: DictClient) -> None:
    with pytest.raises(problems.NotFound):
        ours.update_entry(
            pb.UpdateEntryRequest(
                key="+5511999999999", account=account(), name="Maria", reason="USER_REQUESTED"
            )
        )


def test_a_deleted_key_is_gone_and_free(ours: DictClient, theirs: DictClient) -> None:
    key = ours.create_entry(create(entry("PHONE"))).entry.entry.key
    ours.delete_entry(pb.DeleteEntryRequest(key=key, participant=OURS, reason="USER_REQUESTED"))
    with pytest.raises(problems.NotFound):
        theirs.get_entry(lookup(key))
    theirs.create_entry(create(entry("PHONE", participant=OTHER, owner=person(9))))


def test_a_delete_needs_a_delete_reason_and_the_holder(
    ours: DictClient, theirs: DictClient
) -> None:
    key = ours.create_entry(create(entry("PHONE"))).entry.entry.key
    with pytest.raises(problems.InvalidReason):
        ours.delete_entry(
            pb.DeleteEntryRequest(key=key, participant=OURS, reason="BRANCH_TRANSFER")
        )
    with pytest.raises(problems.Forbidden):
        theirs.delete_entry(
            pb.DeleteEntryRequest(key=key, participant=OTHER, reason="USER_REQUESTED")
        )
    with pytest.raises(problems.NotFound):
        ours.delete_entry(
            pb.DeleteEntryRequest(key="+5511999999999", participant=OURS, reason="USER_REQUESTED")
        )


def test_a_request_id_must_be_a_uuid(ours: DictClient) -> None:
    with pytest.raises(problems.EntryInvalid) as caught:
        ours.create_entry(create(entry(), request_id="not-a-uuid"))
    assert caught.value.violations == [("request_id", "pattern")]


def test_a_create_without_request_id_is_invalid(ours: DictClient) -> None:
    with pytest.raises(problems.EntryInvalid):
        ours.create_entry(create(entry(), request_id=""))
