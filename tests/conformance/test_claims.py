"""The simulator against the DICT's claim rules as the spec states them (DICT.md §2).

Every row of ``spec_tables`` is one call on a claim brought to a status and instant, over
gRPC through the real clients; the answer must be the spec's: accepted, or the DICT's own
problem type. The effects and repeats the spec describes follow the tables.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from simulator.admin_client import AdminClient
from tests.conformance.claim_driver import answer, claim_for, outcome
from tests.conformance.spec_tables import (
    ACCEPTED,
    CLAIM_CALLS,
    CLAIMABLE,
    CREATE_CLAIM,
    DAY,
    OWNERSHIP,
    PORTABILITY,
    Claimable,
    ClaimCall,
    CreateClaim,
)
from tests.integration.bridge.builders import (
    OTHER,
    OURS,
    account,
    company,
    create,
    entry,
    lookup,
    person,
    rid,
)
from tests.integration.bridge.claim_steps import (
    ack,
    cancel,
    claim_request,
    complete,
    confirm,
    open_claim,
)

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CLAIM_CALLS])
def test_a_claim_call_is_answered_as_the_spec_says(
    case: ClaimCall, ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claim = claim_for(case, ours, theirs, admin)
    assert outcome(case, claim, ours, theirs) == case.expected


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CLAIMABLE])
def test_only_the_spec_s_key_types_may_be_claimed(
    case: Claimable, ours: DictClient, theirs: DictClient
) -> None:
    held = entry(case.key_type)
    key = ours.create_entry(create(held)).entry.entry.key
    claimer = held.owner if case.claim_type == PORTABILITY else _stranger(held.owner)
    request = pb.CreateClaimRequest(
        type=case.claim_type,
        key=key,
        key_type=case.key_type,
        claimer_account=account(OTHER, "9000"),
        claimer=claimer,
    )
    outcome, fields, _ = answer(lambda: theirs.create_claim(request))
    assert outcome == case.expected
    assert fields == (set() if outcome == ACCEPTED else {"key_type"})


def _stranger(owner: pb.Owner) -> pb.Owner:
    """Another person of the owner's kind."""
    return company(50) if owner.type == "LEGAL_PERSON" else person(50)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CREATE_CLAIM])
def test_a_claim_is_created_as_the_spec_says(
    case: CreateClaim, ours: DictClient, theirs: DictClient
) -> None:
    request = claim_request("PHONE", case.claim_type)
    client = _arrange(case.scenario, request, ours, theirs)
    outcome, fields, _ = answer(lambda: client.create_claim(request))
    assert outcome == case.expected
    assert fields == set(case.fields)


def _arrange(
    scenario: str, request: pb.CreateClaimRequest, ours: DictClient, theirs: DictClient
) -> DictClient:
    """Make the DICT and ``request`` what ``scenario`` says; the client that sends it."""
    if scenario != "the key has no entry":
        ours.create_entry(create(entry("PHONE")))
    if scenario in ("a claim is in progress", "the last claim was cancelled"):
        first = theirs.create_claim(claim_request("PHONE", "OWNERSHIP", claimer_n=300)).claim
        if scenario == "the last claim was cancelled":
            cancel(theirs, first, "USER_REQUESTED")
    edits: dict[str, Callable[[], None]] = {
        "the claimer owns the key": lambda: request.claimer.CopyFrom(entry("PHONE").owner),
        "the claimer is not the owner": lambda: request.claimer.CopyFrom(person(60)),
        "the claimer account is at another participant": lambda: request.claimer_account.CopyFrom(
            account(OURS, "9000")
        ),
        "the claimer's branch has 5 digits": lambda: setattr(
            request.claimer_account, "branch", "12345"
        ),
        "the claimer's name has digits": lambda: setattr(request.claimer, "name", "Joana 2"),
        "the KeyType does not fit the key": lambda: setattr(request, "key_type", "EMAIL"),
    }
    if scenario in edits:
        edits[scenario]()
        return theirs
    if scenario in (
        "the claimer's participant holds the key",
        "donor and claimer are one participant",
    ):
        request.claimer_account.CopyFrom(account(OURS, "9000"))
        return ours
    return theirs


# --- what a claim is, and what its calls do ----------------------------------------------


def test_a_claim_has_a_7_day_resolution_period_and_no_creation_date(
    ours: DictClient, theirs: DictClient
) -> None:
    """ExtendedClaim: ResolutionPeriodEnd (required) 7 days after creation; CompletionPeriodEnd
    for OWNERSHIP only, 7 days later; no creation date (DICT.md §2)."""
    portability = open_claim(ours, theirs, PORTABILITY, "EMAIL")
    ownership = open_claim(ours, theirs, OWNERSHIP, "PHONE", n=2)
    assert "creation_date" not in pb.Claim.DESCRIPTOR.fields_by_name
    for claim in (portability, ownership):
        assert claim.resolution_period_end.seconds - claim.last_modified.seconds == 7 * DAY
    assert not portability.HasField("completion_period_end")
    gap = ownership.completion_period_end.seconds - ownership.resolution_period_end.seconds
    assert gap == 7 * DAY


def test_a_user_requested_ownership_confirm_lets_the_claimer_complete_at_once(
    ours: DictClient, theirs: DictClient
) -> None:
    """confirmClaim: with USER_REQUESTED, CompletionPeriodEnd is brought forward."""
    claim = open_claim(ours, theirs, OWNERSHIP)
    ack(ours, claim)
    confirmed = confirm(ours, claim, "USER_REQUESTED")
    assert confirmed.completion_period_end.seconds <= confirmed.last_modified.seconds + 1
    assert complete(theirs, claim, rid()).status == "COMPLETED"


def test_a_repeated_call_with_the_same_parameters_gets_the_same_answer(
    ours: DictClient, theirs: DictClient
) -> None:
    """acknowledge, confirm, cancel, complete are idempotent (each operation's text);
    with other parameters the status no longer allows the call."""
    claim = open_claim(ours, theirs, PORTABILITY)
    assert ack(ours, claim) == ack(ours, claim)
    confirmed = confirm(ours, claim, "ACCOUNT_CLOSURE")
    assert confirm(ours, claim, "ACCOUNT_CLOSURE") == confirmed
    with pytest.raises(problems.ClaimOperationInvalid):
        confirm(ours, claim, "USER_REQUESTED")
    request_id = rid()
    assert complete(theirs, claim, request_id) == complete(theirs, claim, request_id)
    other = open_claim(ours, theirs, OWNERSHIP, n=2)
    cancelled = cancel(ours, other, "FRAUD")
    assert cancel(ours, other, "FRAUD") == cancelled
    with pytest.raises(problems.ClaimOperationInvalid):
        cancel(theirs, other, "USER_REQUESTED")


def test_confirm_takes_the_key_from_the_donor_and_complete_gives_it_to_the_claimer(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """confirmClaim: the donor's entry is removed; completeClaim: the claimer's is created.
    Manual §6: days 1-7 lookups answer the donor's account, once confirmed "inexistente"."""
    claim = open_claim(ours, theirs, OWNERSHIP)
    ack(ours, claim)
    payer_psp = "11223344"
    admin.add_participant(payer_psp, "A")
    with DictClient(admin.address, payer_psp) as payer:
        held = payer.get_entry(lookup(claim.key, payer_psp)).entry
        assert held.entry.account.participant == OURS and held.HasField("open_claim_creation_date")
        admin.advance_clock(7 * DAY + 1)
        confirm(ours, claim, "DEFAULT_OPERATION")
        with pytest.raises(problems.NotFound):
            payer.get_entry(lookup(claim.key, payer_psp, payer=2))
        admin.advance_clock(7 * DAY)
        complete(theirs, claim, rid())
        now = payer.get_entry(lookup(claim.key, payer_psp, payer=3)).entry
    assert now.entry.account.participant == OTHER
    assert now.entry.owner.tax_id_number == claim.claimer.tax_id_number


def test_a_claim_in_progress_locks_the_key_against_create_and_delete_not_update(
    ours: DictClient, theirs: DictClient
) -> None:
    """Manual §5-6: from OPEN until the claim ends the key cannot be registered or
    deleted (EntryLockedByClaim); footnotes 4-5: the donor may update the account data."""
    claim = open_claim(ours, theirs, PORTABILITY)
    with pytest.raises(problems.EntryLockedByClaim):
        ours.delete_entry(
            pb.DeleteEntryRequest(key=claim.key, participant=OURS, reason="USER_REQUESTED")
        )
    held = entry("PHONE")
    ours.update_entry(
        pb.UpdateEntryRequest(
            key=claim.key, account=held.account, name="Maria Souza", reason="USER_REQUESTED"
        )
    )
    ack(ours, claim)
    confirm(ours, claim)
    with pytest.raises(problems.EntryLockedByClaim):  # CONFIRMED: no entry, still locked
        ours.create_entry(create(held))
