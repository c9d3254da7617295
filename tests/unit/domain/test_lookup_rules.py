"""What a lookup asks of its caller and what it costs (DICT.md §4, manual §12)."""

from __future__ import annotations

import pytest

from app.domain.fixtures import make_cnpj, make_cpf
from app.domain.keys import KeyType, PersonType, ValidationError
from app.domain.lookups import answer_cache_seconds, charges, key_type_of, parse_lookup

E2E = "E12345678202612031200abcdefghijk"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (make_cpf(1), KeyType.CPF),
        ("529.982.247-25", KeyType.CPF),
        (make_cnpj(1), KeyType.CNPJ),
        ("+5561988880000", KeyType.PHONE),
        ("Maria@Example.com", KeyType.EMAIL),
        ("123E4567-E89B-12D3-A456-426614174000", KeyType.EVP),
        ("12345", None),
        ("not a key", None),
    ],
)
def test_a_keys_type_follows_from_its_shape(key: str, expected: KeyType | None) -> None:
    assert key_type_of(key) is expected


def test_a_lookup_is_normalised_and_knows_its_payers_kind() -> None:
    pf = parse_lookup("Maria@Example.com", make_cpf(7), E2E)
    pj = parse_lookup("529.982.247-25", make_cnpj(7), E2E)
    assert (pf.key, pf.key_type, pf.payer_type) == (
        "maria@example.com",
        KeyType.EMAIL,
        PersonType.NATURAL_PERSON,
    )
    assert (pj.key, pj.payer_type) == ("52998224725", PersonType.LEGAL_PERSON)


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as bad:
        parse_lookup("+55 (61) x", make_cpf(1)[:-1] + "0", "E123")
    assert {(v.field, v.rule) for v in bad.value.violations} == {
        ("key", "pattern"),
        ("payer_id", "cpf_or_cnpj"),
        ("end_to_end_id", "end_to_end_id"),
    }
    with pytest.raises(ValidationError) as shapeless:
        parse_lookup("12345", make_cpf(1), E2E)
    assert [v.rule for v in shapeless.value.violations] == ["key_shape"]


def test_a_miss_costs_the_payer_20_and_us_3_and_a_payment_gives_back_by_payer_kind() -> None:
    pf_user, ours = charges(parse_lookup("+5561988880000", make_cpf(1), E2E), "C")
    pj_user, _ = charges(parse_lookup(make_cpf(2), make_cnpj(1), E2E), "C")
    assert pf_user.policy.name == "ENTRIES_READ_USER_ANTISCAN"  # phone and e-mail
    assert pj_user.policy.name == "ENTRIES_READ_USER_ANTISCAN_V2"  # CPF, CNPJ, EVP
    assert (pf_user.found, pf_user.missing, pf_user.credit) == (1, 20, 1)
    assert (pj_user.found, pj_user.missing, pj_user.credit) == (1, 20, 2)
    assert (pf_user.policy.capacity, pf_user.policy.refill_tokens) == (100, 2)
    assert (pj_user.policy.capacity, pj_user.policy.refill_tokens) == (1_000, 20)
    assert (ours.found, ours.missing, ours.credit) == (1, 3, 1)
    assert (ours.policy.capacity, ours.policy.refill_tokens) == (30_000, 15_000)  # category C


def test_only_a_legal_persons_answer_is_cached_and_never_over_180_s() -> None:
    assert answer_cache_seconds("LEGAL_PERSON", 180) == 180
    assert answer_cache_seconds("LEGAL_PERSON", 600) == 180
    assert answer_cache_seconds("LEGAL_PERSON", 30) == 30
    assert answer_cache_seconds("LEGAL_PERSON", 0) == 0
    assert answer_cache_seconds("NATURAL_PERSON", 180) == 0
