"""The simulator's checkKeys against the spec (OpenAPI v2.6.1 ``/keys/check``, DICT.md §1
and §4): which of 1 to 200 keys an entry holds in the whole directory, whoever holds it;
a request outside the schema refused as ``BadRequest`` naming the field; every answered
call charged to the participant's KEYS_CHECK bucket (70 tokens, 70 a minute).

Written from the spec text alone, like ``spec_entry_tables``: nothing here is imported
from ``app.domain``'s key rules or from the simulator's ``entry_rules``.
"""

from __future__ import annotations

import time
import types

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.bridge.status import BridgeUnavailable
from app.domain import problems
from simulator import clock
from simulator.admin_client import AdminClient
from tests.conformance.claim_driver import answer
from tests.integration.bridge.builders import OTHER, create, entry

pytestmark = pytest.mark.conformance

BAD_REQUEST = "BadRequest"  # error table: "Requisição com formato inválido"
MISSING_PHONE = "+5511999999999"
MISSING_EVP = "123e4567-e89b-12d3-a456-426655440000"
EMAIL_77 = "a" * 65 + "@example.com"


def check(client: DictClient, *keys: str) -> list[tuple[str, bool]]:
    answered = client.check_keys(pb.CheckKeysRequest(keys=keys))
    return [(k.key, k.has_entry) for k in answered.keys]


def phones(count: int) -> list[str]:
    return [f"+55119{n:08d}" for n in range(1, count + 1)]  # entry("PHONE", n)'s keys


def test_the_answer_says_which_keys_exist_at_any_participant(
    ours: DictClient, theirs: DictClient
) -> None:
    our_phone = ours.create_entry(create(entry("PHONE", 1))).entry.entry.key
    their_email = theirs.create_entry(create(entry("EMAIL", 2, OTHER))).entry.entry.key
    our_evp = ours.create_entry(create(entry("EVP", 3))).entry.entry.key
    asked = [MISSING_PHONE, our_phone, their_email, MISSING_EVP, our_evp, "52998224725"]

    expected = [(MISSING_PHONE, False), (our_phone, True), (their_email, True)]
    expected += [(MISSING_EVP, False), (our_evp, True), ("52998224725", False)]
    assert check(ours, *asked) == expected  # the caller's own keys too: no book transfer
    assert check(theirs, *asked) == expected


def test_a_deleted_key_no_longer_exists(ours: DictClient) -> None:
    key = ours.create_entry(create(entry("PHONE", 1))).entry.entry.key
    ours.delete_entry(
        pb.DeleteEntryRequest(key=key, participant=ours.participant, reason="USER_REQUESTED")
    )

    assert check(ours, key) == [(key, False)]


def test_each_key_is_answered_as_sent_in_the_request_s_order(ours: DictClient) -> None:
    key = ours.create_entry(create(entry("EMAIL", 1))).entry.entry.key

    assert check(ours, MISSING_PHONE, key, MISSING_PHONE) == [
        (MISSING_PHONE, False),
        (key, True),
        (MISSING_PHONE, False),
    ]


def test_two_hundred_keys_are_checked_in_one_call(ours: DictClient) -> None:
    held = ours.create_entry(create(entry("PHONE", 150))).entry.entry.key
    keys = phones(200)

    answered = check(ours, *keys)

    assert [k for k, _ in answered] == keys
    assert [k for k, has in answered if has] == [held]


@pytest.mark.parametrize(
    ("count", "reason"), [(201, "more than 200 (maxItems)"), (0, "none (minItems 1)")]
)
def test_a_count_outside_1_to_200_is_refused_naming_keys(
    count: int, reason: str, ours: DictClient
) -> None:
    outcome, fields, _ = answer(lambda: ours.check_keys(pb.CheckKeysRequest(keys=phones(count))))

    assert (outcome, fields) == (BAD_REQUEST, {"keys"})


# The Key tag's table of formats (v2.6.1) and schema Key (maxLength 77). A key of another
# shape is refused [inferred: schema Key states only the length; the table defines a key].
WELL_FORMED = [
    "52998224725",  # CPF: 11 digits (check digits are not the DICT's business)
    "11122233300",  # CPF: the spec's example, whose check digit is wrong
    "11222333000181",  # CNPJ: 14 digits
    "+5561988880000",  # PHONE: E.164
    "+123456789012345",  # PHONE: 15 digits
    "pix@bcb.gov.br",  # EMAIL: lowercase
    EMAIL_77,  # EMAIL: 77 characters
    MISSING_EVP,  # EVP: a lowercase UUID (a key the DICT generated)
]
MALFORMED = {
    "a CPF of 10 digits": "5299822472",
    "a CPF with punctuation": "529.982.247-25",
    "a phone without +": "5561988880000",
    "a phone of 16 digits": "+1234567890123456",
    "an e-mail with a capital": "Pix@bcb.gov.br",
    "an e-mail of 78 characters": "a" + EMAIL_77,
    "an e-mail with &": "a&b@example.com",
    "an upper-case EVP": MISSING_EVP.upper(),
    "an empty key": "",
    "a key of no known type": "abc",
}


def test_every_key_type_of_the_spec_s_table_is_taken(ours: DictClient) -> None:
    assert check(ours, *WELL_FORMED) == [(k, False) for k in WELL_FORMED]


@pytest.mark.parametrize("key", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_key_is_refused_naming_it(key: str, ours: DictClient) -> None:
    request = pb.CheckKeysRequest(keys=[MISSING_PHONE, key])

    outcome, fields, _ = answer(lambda: ours.check_keys(request))

    assert (outcome, fields) == (BAD_REQUEST, {"keys[1]"})


@pytest.fixture
def still(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's real time stands still (AdvanceClock still moves it): a token
    comes back every 6/7 s, so 70 calls must not refill one on a slow machine."""
    now_ns = time.time_ns()
    monkeypatch.setattr(clock, "time", types.SimpleNamespace(time_ns=lambda: now_ns))


def bucket(client: DictClient) -> pb.BucketState:
    return client.get_bucket_state(
        pb.GetBucketStateRequest(participant=client.participant, policy="KEYS_CHECK")
    ).policy


@pytest.mark.usefixtures("still")
def test_the_70th_call_empties_the_keys_check_bucket_until_it_refills(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    state = bucket(ours)
    assert (state.capacity, state.refill_tokens, state.refill_period_sec) == (70, 70, 60)
    for _ in range(70):  # 200 keys or 1, a call costs one token
        check(ours, *phones(200))
    with pytest.raises(problems.RateLimited) as caught:
        check(ours, MISSING_PHONE)
    assert caught.value.retry_after_s == pytest.approx(60 / 70)
    assert bucket(ours).available_tokens < 1
    assert check(theirs, MISSING_PHONE) == [(MISSING_PHONE, False)]  # a bucket per PSP
    admin.advance_clock(1)
    assert check(ours, MISSING_PHONE) == [(MISSING_PHONE, False)]


@pytest.mark.usefixtures("still")
def test_a_refused_call_costs_a_token_too(ours: DictClient) -> None:
    for _ in range(70):  # "status diferente de 500: subtrai 1"
        assert answer(lambda: check(ours, "abc"))[0] == BAD_REQUEST
    with pytest.raises(problems.RateLimited):
        check(ours, MISSING_PHONE)


def test_faults_apply_to_check_keys(ours: DictClient, admin: AdminClient) -> None:
    admin.set_faults(unavailable_ratio=1.0, methods=["CheckKeys"])
    with pytest.raises(BridgeUnavailable):
        check(ours, MISSING_PHONE)
    assert admin.get_call_counts().by_method["CheckKeys"] >= 2  # the client's retries
    admin.clear_faults()
    assert check(ours, MISSING_PHONE) == [(MISSING_PHONE, False)]
