"""Claims on the simulated DICT: every status rule, role and period (DICT.md §2)."""

from __future__ import annotations

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from simulator.admin_client import AdminClient
from tests.integration.bridge.builders import OTHER, OURS, create, entry, lookup, person, rid
from tests.integration.bridge.claim_steps import (
    DAY,
    ack,
    cancel,
    claim_request,
    complete,
    confirm,
    open_claim,
)


def test_a_portability_moves_the_key_to_the_claimer(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY", "CPF")
    assert claim.status == "OPEN" and claim.donor_participant == OURS
    assert "creation_date" not in pb.Claim.DESCRIPTOR.fields_by_name  # the DICT sends none
    assert claim.resolution_period_end.seconds - claim.last_modified.seconds == 7 * DAY
    assert not claim.HasField("completion_period_end")
    assert ack(ours, claim).status == "WAITING_RESOLUTION"
    assert confirm(ours, claim).status == "CONFIRMED"
    with pytest.raises(problems.NotFound):  # gone from the donor until completed
        theirs.get_entry(lookup(claim.key))
    request_id = rid()
    assert complete(theirs, claim, request_id).status == "COMPLETED"
    moved = ours.get_entry(lookup(claim.key, OURS)).entry
    assert moved.entry.account.participant == OTHER
    assert admin.get_call_counts(request_id).entries_created == 1


def test_an_ownership_claim_runs_on_the_clock(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claim = open_claim(ours, theirs)
    created = claim.resolution_period_end.seconds - 7 * DAY  # the DICT sends no creation date
    assert claim.completion_period_end.seconds - created == 14 * DAY
    ack(ours, claim)
    held = theirs.get_entry(lookup(claim.key)).entry
    assert held.entry.account.participant == OURS  # days 1-7: the donor's account
    assert held.open_claim_creation_date.seconds == created
    with pytest.raises(problems.ClaimResolutionPeriodNotEnded):
        confirm(ours, claim, "DEFAULT_OPERATION")
    admin.advance_clock(7 * DAY)
    confirmed = confirm(ours, claim, "DEFAULT_OPERATION")
    assert confirmed.completion_period_end == claim.completion_period_end
    with pytest.raises(problems.ClaimCompletionPeriodNotEnded):
        complete(theirs, claim, rid())
    admin.advance_clock(7 * DAY)
    done = complete(theirs, claim, rid())
    assert done.status == "COMPLETED"
    now = ours.get_entry(lookup(claim.key, OURS)).entry
    assert now.entry.owner.tax_id_number == claim.claimer.tax_id_number
    assert now.key_ownership_date.seconds >= created + 14 * DAY


def test_a_user_requested_ownership_confirm_brings_completion_forward(
    ours: DictClient, theirs: DictClient
) -> None:
    claim = open_claim(ours, theirs)
    ack(ours, claim)
    confirmed = confirm(ours, claim, "USER_REQUESTED")
    assert confirmed.completion_period_end.seconds <= confirmed.last_modified.seconds + 1
    assert complete(theirs, claim, rid()).status == "COMPLETED"


def test_a_claim_needs_an_active_key(theirs: DictClient) -> None:
    with pytest.raises(problems.ClaimKeyNotFound):
        theirs.create_claim(claim_request())


def test_portability_needs_the_same_owner(ours: DictClient, theirs: DictClient) -> None:
    ours.create_entry(create(entry("EMAIL")))
    request = claim_request("EMAIL", "PORTABILITY")
    request.claimer.CopyFrom(person(50))
    with pytest.raises(problems.ClaimTypeInconsistent):
        theirs.create_claim(request)


def test_ownership_needs_a_different_owner(ours: DictClient, theirs: DictClient) -> None:
    ours.create_entry(create(entry("PHONE")))
    request = claim_request("PHONE", "OWNERSHIP")
    request.claimer.CopyFrom(entry("PHONE").owner)
    with pytest.raises(problems.ClaimTypeInconsistent):
        theirs.create_claim(request)


def test_v2_6_1_allows_ownership_of_phone_keys_only(ours: DictClient, theirs: DictClient) -> None:
    ours.create_entry(create(entry("EMAIL")))
    with pytest.raises(problems.ClaimInvalid) as caught:  # [inferred] type: see claim_rules
        theirs.create_claim(claim_request("EMAIL", "OWNERSHIP"))
    assert caught.value.violations == [("key_type", "not_claimable")]


def test_evp_keys_are_never_claimable(ours: DictClient, theirs: DictClient) -> None:
    key = ours.create_entry(create(entry("EVP"))).entry.entry.key
    request = claim_request("EVP", "PORTABILITY")
    request.key = key
    with pytest.raises(problems.ClaimInvalid):
        theirs.create_claim(request)


def test_one_claim_per_key(ours: DictClient, theirs: DictClient) -> None:
    open_claim(ours, theirs)
    with pytest.raises(problems.ClaimAlreadyExistsForKey):
        theirs.create_claim(claim_request(claimer_n=200))


def test_a_claimed_key_is_locked_for_create_and_delete_not_update(
    ours: DictClient, theirs: DictClient
) -> None:
    claim = open_claim(ours, theirs)
    with pytest.raises(problems.EntryLockedByClaim):
        ours.delete_entry(
            pb.DeleteEntryRequest(key=claim.key, participant=OURS, reason="USER_REQUESTED")
        )
    with pytest.raises(problems.EntryLockedByClaim):
        theirs.create_entry(create(entry("PHONE", participant=OTHER, owner=claim.claimer)))
    held = entry("PHONE")
    ours.update_entry(
        pb.UpdateEntryRequest(
            key=claim.key, account=held.account, name="Maria Souza", reason="USER_REQUESTED"
        )
    )


def test_only_the_donor_acknowledges_and_confirms(ours: DictClient, theirs: DictClient) -> None:
    claim = open_claim(ours, theirs)
    with pytest.raises(problems.Forbidden):
        theirs.acknowledge_claim(pb.AcknowledgeClaimRequest(claim_id=claim.id, participant=OTHER))
    ack(ours, claim)
    with pytest.raises(problems.Forbidden):
        theirs.confirm_claim(
            pb.ConfirmClaimRequest(claim_id=claim.id, participant=OTHER, reason="USER_REQUESTED")
        )


def test_only_the_claimer_completes(ours: DictClient, theirs: DictClient) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY")
    ack(ours, claim)
    confirm(ours, claim)
    with pytest.raises(problems.Forbidden):
        ours.complete_claim(
            pb.CompleteClaimRequest(claim_id=claim.id, participant=OURS, request_id=rid())
        )


def test_completing_an_unconfirmed_claim_is_an_invalid_operation(
    ours: DictClient, theirs: DictClient
) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY")
    with pytest.raises(problems.ClaimOperationInvalid):
        complete(theirs, claim, rid())


def test_each_role_cancels_with_its_own_reasons(ours: DictClient, theirs: DictClient) -> None:
    claim = open_claim(ours, theirs)
    ack(ours, claim)
    with pytest.raises(problems.InvalidReason):
        cancel(ours, claim, "USER_REQUESTED")  # an ownership donor cancels for FRAUD only
    cancelled = cancel(ours, claim, "FRAUD")
    assert (cancelled.status, cancelled.cancelled_by) == ("CANCELLED", "DONOR")
    assert cancel(ours, claim, "FRAUD") == cancelled  # idempotent
    with pytest.raises(problems.ClaimOperationInvalid):
        cancel(theirs, claim, "USER_REQUESTED")
    ours.delete_entry(
        pb.DeleteEntryRequest(key=claim.key, participant=OURS, reason="USER_REQUESTED")
    )  # unlocked


def test_a_portability_donor_cancels_by_default_only_after_the_period(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY")
    ack(ours, claim)
    with pytest.raises(problems.ClaimResolutionPeriodNotEnded):
        cancel(ours, claim, "DEFAULT_OPERATION")
    admin.advance_clock(7 * DAY)
    assert cancel(ours, claim, "DEFAULT_OPERATION").cancel_reason == "DEFAULT_OPERATION"


def test_the_claimer_may_cancel_an_open_claim(ours: DictClient, theirs: DictClient) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY")
    assert cancel(theirs, claim, "USER_REQUESTED").cancelled_by == "CLAIMER"


def test_acknowledge_and_confirm_repeat_with_the_same_answer(
    ours: DictClient, theirs: DictClient
) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY")
    assert ack(ours, claim) == ack(ours, claim)
    first = confirm(ours, claim, "ACCOUNT_CLOSURE")
    assert confirm(ours, claim, "ACCOUNT_CLOSURE") == first
    with pytest.raises(problems.ClaimOperationInvalid):
        confirm(ours, claim, "USER_REQUESTED")
    request_id = rid()
    assert complete(theirs, claim, request_id) == complete(theirs, claim, request_id)


def test_a_claim_is_read_by_its_parties_only(
    sim: object, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claim = open_claim(ours, theirs)
    assert theirs.get_claim(pb.GetClaimRequest(claim_id=claim.id)).claim == claim
    admin.add_participant("11223344", "A")
    with DictClient(admin.address, "11223344") as third, pytest.raises(problems.Forbidden):
        third.get_claim(pb.GetClaimRequest(claim_id=claim.id))
    with pytest.raises(problems.NotFound):
        ours.get_claim(pb.GetClaimRequest(claim_id="nope"))


def test_completing_onto_a_key_taken_meanwhile_fails(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claim = open_claim(ours, theirs, "PORTABILITY")
    ack(ours, claim)
    confirm(ours, claim)
    admin.put_entry(entry("PHONE", owner=person(77)))  # a divergence planted on the DICT
    with pytest.raises(problems.ClaimResultingEntryAlreadyExists):
        complete(theirs, claim, rid())
