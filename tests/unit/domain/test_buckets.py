"""Rate-limit policies as data and the token bucket they run on (DICT.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.buckets import (
    CATEGORIES,
    POLICY_NAMES,
    Policy,
    Scope,
    TokenBucket,
    policy,
    user_antiscan_policy_name,
)

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
PF, PJ = "NATURAL_PERSON", "LEGAL_PERSON"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- policies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "refill", "capacity"),
    [
        ("A", 25_000, 50_000),
        ("B", 20_000, 40_000),
        ("C", 15_000, 30_000),
        ("D", 8_000, 16_000),
        ("E", 2_500, 5_000),
        ("F", 250, 500),
        ("G", 25, 250),
        ("H", 2, 50),
    ],
)
def test_participant_antiscan_is_sized_by_category(category, refill, capacity) -> None:
    p = policy("ENTRIES_READ_PARTICIPANT_ANTISCAN", category=category)
    assert (p.scope, p.refill_tokens, p.refill_period_s, p.capacity) == (
        Scope.PSP,
        refill,
        60,
        capacity,
    )
    assert (p.cost(200), p.cost(404), p.costs.payment_credit) == (1, 3, 1)
    stats = policy("ENTRIES_STATISTICS_READ", category=category)
    assert (stats.refill_tokens, stats.capacity, stats.cost(404)) == (refill, capacity, 1)


@pytest.mark.parametrize("name", ["ENTRIES_READ_USER_ANTISCAN", "ENTRIES_READ_USER_ANTISCAN_V2"])
def test_user_antiscan_is_sized_by_person_type(name) -> None:
    pf, pj = policy(name, person_type=PF), policy(name, person_type=PJ)
    assert pf == Policy(name, Scope.USER, 2, 60, 100, pf.costs)
    assert pj == Policy(name, Scope.USER, 20, 60, 1_000, pj.costs)
    assert (pf.cost(200), pf.cost(404), pf.costs.payment_credit) == (1, 20, 1)
    assert (pj.cost(200), pj.cost(404), pj.costs.payment_credit) == (1, 20, 2)


@pytest.mark.parametrize(
    ("name", "refill", "period", "capacity"),
    [
        ("ENTRIES_WRITE", 1_200, 60, 36_000),  # the API's figures, not MO8's
        ("ENTRIES_UPDATE", 600, 60, 600),
        ("CLAIMS_READ", 600, 60, 18_000),
        ("CLAIMS_WRITE", 1_200, 60, 36_000),
        ("CLAIMS_LIST_WITH_ROLE", 40, 60, 200),
        ("CLAIMS_LIST_WITHOUT_ROLE", 10, 60, 50),
        ("SYNC_VERIFICATIONS_WRITE", 10, 60, 50),
        ("CIDS_FILES_WRITE", 40, 86_400, 200),  # per day
        ("CIDS_FILES_READ", 10, 60, 50),
        ("CIDS_EVENTS_LIST", 20, 60, 100),
        ("CIDS_ENTRIES_READ", 1_200, 60, 36_000),
        ("INFRACTION_REPORTS_READ", 600, 60, 18_000),
        ("INFRACTION_REPORTS_WRITE", 1_200, 60, 36_000),
        ("INFRACTION_REPORTS_LIST_WITH_ROLE", 40, 60, 200),
        ("INFRACTION_REPORTS_LIST_WITHOUT_ROLE", 10, 60, 50),
        ("REFUNDS_READ", 1_200, 60, 36_000),
        ("REFUNDS_WRITE", 2_400, 60, 72_000),
        ("REFUNDS_LIST_WITH_ROLE", 40, 60, 200),
        ("REFUNDS_LIST_WITHOUT_ROLE", 10, 60, 50),
        ("FRAUD_MARKERS_READ", 600, 60, 18_000),
        ("FRAUD_MARKERS_WRITE", 1_200, 60, 36_000),
        ("FRAUD_MARKERS_LIST", 600, 60, 18_000),
        ("PERSONS_STATISTICS_READ", 12_000, 60, 36_000),
        ("POLICIES_READ", 60, 60, 200),
        ("POLICIES_LIST", 6, 60, 20),
        ("KEYS_CHECK", 70, 60, 70),
    ],
)
def test_fixed_policies(name, refill, period, capacity) -> None:
    p = policy(name)
    assert (p.scope, p.refill_tokens, p.refill_period_s, p.capacity) == (
        Scope.PSP,
        refill,
        period,
        capacity,
    )
    assert (p.cost(200), p.cost(201), p.cost(400), p.cost(404)) == (1, 1, 1, 1)


def test_every_named_policy_resolves() -> None:
    assert len(POLICY_NAMES) == len(set(POLICY_NAMES)) == 30
    for name in POLICY_NAMES:
        assert policy(name, category="H", person_type=PF).name == name


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_refusals_cost_nothing(status) -> None:
    assert policy("ENTRIES_WRITE").cost(status) == 0
    assert policy("ENTRIES_READ_USER_ANTISCAN", person_type=PF).cost(status) == 0


@pytest.mark.parametrize(
    ("name", "category", "person_type"),
    [
        ("NO_SUCH_POLICY", None, None),
        ("ENTRIES_READ_PARTICIPANT_ANTISCAN", None, None),
        ("ENTRIES_READ_PARTICIPANT_ANTISCAN", "Z", None),
        ("ENTRIES_READ_USER_ANTISCAN", "A", None),
        ("ENTRIES_READ_USER_ANTISCAN_V2", None, "PF"),
    ],
)
def test_a_policy_without_what_sizes_it_is_refused(name, category, person_type) -> None:
    with pytest.raises(ValueError):
        policy(name, category=category, person_type=person_type)


def test_the_category_table_has_a_to_h() -> None:
    assert list(CATEGORIES) == list("ABCDEFGH")


@pytest.mark.parametrize(
    ("key_type", "name"),
    [
        ("PHONE", "ENTRIES_READ_USER_ANTISCAN"),
        ("EMAIL", "ENTRIES_READ_USER_ANTISCAN"),
        ("CPF", "ENTRIES_READ_USER_ANTISCAN_V2"),
        ("CNPJ", "ENTRIES_READ_USER_ANTISCAN_V2"),
        ("EVP", "ENTRIES_READ_USER_ANTISCAN_V2"),
    ],
)
def test_which_user_bucket_a_lookup_draws_on(key_type, name) -> None:
    assert user_antiscan_policy_name(key_type) == name


# --- the bucket -------------------------------------------------------------------------


def pf_bucket(tokens: float) -> TokenBucket:
    return TokenBucket(
        capacity=100, refill_tokens=2, refill_period_s=60, tokens=tokens, updated_at=T0
    )


def test_a_bucket_starts_full() -> None:
    bucket = TokenBucket.full(policy("ENTRIES_READ_USER_ANTISCAN", person_type=PJ), T0)
    assert (bucket.tokens, bucket.capacity, bucket.refill_tokens, bucket.refill_period_s) == (
        1_000,
        1_000,
        20,
        60,
    )


def test_a_miss_can_take_the_bucket_negative() -> None:
    """MO8 §13.1: a PF with 5 tokens that gets a 404 ends at −15 and waits 8 minutes."""
    bucket = pf_bucket(5)
    assert bucket.take(20, T0) is True
    assert bucket.tokens == -15
    assert bucket.seconds_until_available(T0) == pytest.approx(480)
    assert bucket.take(1, at(1)) is False
    assert bucket.seconds_until_available(at(1)) == pytest.approx(479)
    assert bucket.take(1, at(479)) is False
    assert bucket.take(1, at(480)) is True
    assert bucket.tokens == pytest.approx(0)


def test_a_request_needs_one_whole_token() -> None:
    bucket = pf_bucket(0.5)
    assert bucket.take(1, T0) is False
    assert bucket.tokens == 0.5  # a refusal takes nothing
    assert bucket.seconds_until_available(T0) == pytest.approx(15)
    assert bucket.take(1, at(15)) is True


def test_an_empty_bucket_refuses_and_a_last_token_is_spent() -> None:
    bucket = pf_bucket(1)
    assert bucket.take(1, T0) is True
    assert bucket.tokens == 0
    assert bucket.take(1, T0) is False
    assert bucket.tokens == 0


def test_refill_is_continuous_and_capped() -> None:
    bucket = pf_bucket(10)
    assert bucket.refill(at(30)) == pytest.approx(11)
    assert bucket.refill(at(30 + 3600)) == 100
    assert bucket.updated_at == at(3630)
    assert bucket.seconds_until_available(at(3630)) == 0


def test_a_clock_stepping_back_never_refills() -> None:
    bucket = pf_bucket(3)
    bucket.refill(at(60))
    assert bucket.tokens == pytest.approx(5)
    assert bucket.refill(at(0)) == pytest.approx(5)
    assert bucket.updated_at == at(60)


def test_available_does_not_change_the_bucket() -> None:
    bucket = pf_bucket(-15)
    assert bucket.available(at(240)) == pytest.approx(-7)
    assert (bucket.tokens, bucket.updated_at) == (-15, T0)


def test_a_payment_credits_tokens_back_up_to_capacity() -> None:
    p = policy("ENTRIES_READ_USER_ANTISCAN_V2", person_type=PF)
    bucket = TokenBucket.full(p, T0)
    bucket.take(p.cost(200), T0)
    assert bucket.tokens == 99
    bucket.credit(p.costs.payment_credit, T0)
    assert bucket.tokens == 100
    bucket.credit(p.costs.payment_credit, T0)
    assert bucket.tokens == 100


def test_a_cost_known_only_after_the_answer_is_charged_then() -> None:
    bucket = pf_bucket(5)
    assert bucket.take(1, T0) is True
    bucket.charge(19, T0)  # it was a 404
    assert bucket.tokens == -15


def test_a_daily_policy_refills_over_the_day() -> None:
    bucket = TokenBucket.full(policy("CIDS_FILES_WRITE"), T0)
    bucket.tokens = 0
    assert bucket.seconds_until_available(T0) == pytest.approx(86_400 / 40)
    assert bucket.refill(at(86_400)) == pytest.approx(40)
