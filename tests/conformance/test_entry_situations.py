"""The simulator against the DICT's entry rules that depend on what the DICT holds
(DICT.md §1): conflicts, limits, RequestIds, lookups, who updates and deletes. Each row of
``spec_entry_tables.SITUATIONS`` names a situation; ``SET_UP`` below builds it and
returns the call whose answer the row states."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.domain.fixtures import make_cnpj, make_cpf
from tests.conformance.claim_driver import answer
from tests.conformance.spec_entry_tables import SITUATIONS, Situation
from tests.integration.bridge.builders import (
    OTHER,
    OURS,
    account,
    company,
    create,
    e2e_id,
    entry,
    lookup,
    person,
    rid,
)
from tests.integration.bridge.claim_steps import ack, cancel, claim_request

pytestmark = pytest.mark.conformance

Call = Callable[[], object]
SetUp = Callable[[DictClient, DictClient], Call]


def _create_twice(first: pb.Entry, second: pb.Entry, by: DictClient | None = None) -> SetUp:
    """``first`` exists (created by its account's participant); then ``second``."""

    def set_up(ours: DictClient, theirs: DictClient) -> Call:
        (theirs if first.account.participant == OTHER else ours).create_entry(create(first))
        return lambda: ours.create_entry(create(second))

    return set_up


def _with_key(key_type: str, key: str) -> pb.Entry:
    e = entry(key_type)
    e.key = key
    return e


def _fill_account(owner: pb.Owner, keys: int, branch: str = "1") -> SetUp:
    """``keys`` EVP keys on one account of ``owner``; then one more on branch ``branch``."""

    def set_up(ours: DictClient, theirs: DictClient) -> Call:
        for _ in range(keys):
            ours.create_entry(create(pb.Entry(key_type="EVP", owner=owner, account=account())))
        last = pb.Entry(key_type="EVP", owner=owner, account=account(branch=branch))
        return lambda: ours.create_entry(create(last))

    return set_up


def _repeat(same_entry: bool) -> SetUp:
    def set_up(ours: DictClient, theirs: DictClient) -> Call:
        request_id = rid()
        first = ours.create_entry(create(entry("PHONE", 1), request_id))
        again = create(entry("PHONE", 1 if same_entry else 2), request_id)
        return lambda: _same(ours.create_entry(again), first)

    return set_up


def _same(response: pb.CreateEntryResponse, first: pb.CreateEntryResponse) -> None:
    assert response.entry == first.entry


def _held_by(participant: str, request: pb.GetEntryRequest, by_ours: bool) -> SetUp:
    def set_up(ours: DictClient, theirs: DictClient) -> Call:
        client = ours if participant == OURS else theirs
        client.create_entry(create(entry("PHONE", participant=participant)))
        return lambda: (ours if by_ours else theirs).get_entry(request)

    return set_up


def _looked_up(**headers: str) -> SetUp:
    request = pb.GetEntryRequest(key=entry("PHONE").key, **headers)
    return _held_by(OURS, request, by_ours=False)


def _payer_drained_elsewhere(ours: DictClient, theirs: DictClient) -> Call:
    """A person's bucket holds 100 tokens and a miss costs 20 (DICT.md §4)."""
    payer = make_cpf(77)
    for _ in range(5):
        with pytest.raises(problems.NotFound):
            ours.get_entry(_miss(payer, OURS))
    with pytest.raises(problems.RateLimited):
        ours.get_entry(_miss(payer, OURS))
    return lambda: theirs.get_entry(_miss(payer, OTHER))


def _miss(payer: str, psp: str) -> pb.GetEntryRequest:
    return pb.GetEntryRequest(key="+5511999999999", payer_id=payer, end_to_end_id=e2e_id(psp))


def _update(by_theirs: bool = False, **changes: object) -> SetUp:
    def set_up(ours: DictClient, theirs: DictClient) -> Call:
        key = ours.create_entry(create(entry("PHONE"))).entry.entry.key
        fields: dict[str, object] = {
            "key": key,
            "account": account(),
            "name": "Maria Souza",
            "reason": "USER_REQUESTED",
        }
        fields.update(changes)
        request = pb.UpdateEntryRequest(**fields)  # type: ignore[arg-type]
        return lambda: (theirs if by_theirs else ours).update_entry(request)

    return set_up


def _during_claim(call: str, status: str) -> SetUp:
    """Our PHONE key under the other participant's OWNERSHIP claim in ``status``."""

    def set_up(ours: DictClient, theirs: DictClient) -> Call:
        ours.create_entry(create(entry("PHONE")))
        claim = theirs.create_claim(claim_request()).claim
        if status == "WAITING_RESOLUTION":
            ack(ours, claim)
        if status == "CANCELLED":
            cancel(theirs, claim, "USER_REQUESTED")
        if call == "update":
            held = entry("PHONE")
            request = pb.UpdateEntryRequest(
                key=claim.key, account=held.account, name="Maria Souza", reason="USER_REQUESTED"
            )
            return lambda: ours.update_entry(request)
        return lambda: ours.delete_entry(_deleting(claim.key))

    return set_up


def _deleting(key: str, participant: str = OURS) -> pb.DeleteEntryRequest:
    return pb.DeleteEntryRequest(key=key, participant=participant, reason="USER_REQUESTED")


def _delete(by_theirs: bool = False, participant: str = OURS, exists: bool = True) -> SetUp:
    def set_up(ours: DictClient, theirs: DictClient) -> Call:
        key = entry("PHONE").key
        if exists:
            ours.create_entry(create(entry("PHONE")))
        return lambda: (theirs if by_theirs else ours).delete_entry(_deleting(key, participant))

    return set_up


def _just(make: Callable[[DictClient], object]) -> SetUp:
    return lambda ours, theirs: lambda: make(ours)


PHONE, STRANGER = entry("PHONE"), entry("PHONE", owner=person(2))
AT_OTHER = entry("PHONE", participant=OTHER)
SET_UP: dict[tuple[str, str], SetUp] = {
    ("create", "the key is the owner's at this participant"): _create_twice(PHONE, PHONE),
    ("create", "the owner holds the key at another participant"): _create_twice(AT_OTHER, PHONE),
    ("create", "another person holds the key here"): _create_twice(PHONE, STRANGER),
    ("create", "another person holds the key elsewhere"): _create_twice(AT_OTHER, STRANGER),
    ("create", "a CPF key that is not the owner's CPF"): _just(
        lambda ours: ours.create_entry(create(_with_key("CPF", make_cpf(2))))
    ),
    ("create", "a CNPJ key that is not the owner's CNPJ"): _just(
        lambda ours: ours.create_entry(create(_with_key("CNPJ", make_cnpj(2))))
    ),
    ("create", "the account is at another participant"): _just(
        lambda ours: ours.create_entry(create(AT_OTHER))
    ),
    ("create", "a person's account holds 4 keys"): _fill_account(person(1), 4),
    ("create", "a person's account holds 5 keys"): _fill_account(person(1), 5),
    ("create", "a company's account holds 19 keys"): _fill_account(company(1), 19),
    ("create", "a company's account holds 20 keys"): _fill_account(company(1), 20),
    ("create", "5 keys on the same number at another branch"): _fill_account(person(1), 5, "2"),
    ("create", "the same RequestId and entry again"): _repeat(same_entry=True),
    ("create", "the same RequestId for another entry"): _repeat(same_entry=False),
    ("create", "a RequestId that is not a UUID"): _just(
        lambda ours: ours.create_entry(create(PHONE, request_id="not-a-uuid"))
    ),
    ("lookup", "another participant's key"): _held_by(OURS, lookup(PHONE.key), by_ours=False),
    ("lookup", "a payer with a CNPJ"): _looked_up(payer_id=make_cnpj(5), end_to_end_id=e2e_id()),
    ("lookup", "a key nobody holds"): _just(lambda ours: ours.get_entry(_miss(make_cpf(5), OURS))),
    ("lookup", "a key the requesting participant holds"): _held_by(
        OURS, lookup(PHONE.key, OURS), by_ours=True
    ),
    ("lookup", "no PI-PayerId"): _looked_up(end_to_end_id=e2e_id()),
    ("lookup", "a PI-PayerId of 13 digits"): _looked_up(payer_id="1" * 13, end_to_end_id=e2e_id()),
    ("lookup", "a punctuated PI-PayerId"): _looked_up(
        payer_id="529.982.247-25", end_to_end_id=e2e_id()
    ),
    ("lookup", "no PI-EndToEndId"): _looked_up(payer_id=make_cpf(5)),
    ("lookup", "neither header"): _looked_up(),
    ("lookup", "a payer whose misses emptied its bucket at another participant"): (
        _payer_drained_elsewhere
    ),
    ("update", "another participant's key"): _update(by_theirs=True, account=account(OTHER)),
    ("update", "a key nobody holds"): _just(
        lambda ours: ours.update_entry(
            pb.UpdateEntryRequest(
                key="+5511999999999", account=account(), name="Maria", reason="USER_REQUESTED"
            )
        )
    ),
    ("update", "moving the key to another participant"): _update(account=account(OTHER)),
    ("update", "an account number with a dash"): _update(account=account(number="12-3")),
    ("update", "a name of 151 characters"): _update(name="A" * 151),
    ("update", "by the donor while a claim waits"): _during_claim("update", "WAITING_RESOLUTION"),
    ("delete", "another participant's key"): _delete(by_theirs=True, participant=OTHER),
    ("delete", "a key nobody holds"): _delete(exists=False),
    ("delete", "a Participant that is not the caller"): _delete(participant=OTHER),
    ("delete", "a key with an OPEN claim"): _during_claim("delete", "OPEN"),
    ("delete", "a key whose claim waits"): _during_claim("delete", "WAITING_RESOLUTION"),
    ("delete", "a key whose claim was cancelled"): _during_claim("delete", "CANCELLED"),
}


def test_every_situation_has_a_set_up() -> None:
    assert {(s.operation, s.situation) for s in SITUATIONS} == set(SET_UP)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in SITUATIONS])
def test_an_entry_call_is_answered_as_the_spec_says(
    case: Situation, ours: DictClient, theirs: DictClient
) -> None:
    call = SET_UP[(case.operation, case.situation)](ours, theirs)
    outcome, fields, _ = answer(call)
    assert outcome == case.expected
    assert fields == set(case.fields)
