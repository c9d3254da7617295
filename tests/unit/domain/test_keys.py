"""Keys, accounts and owners: every rule with a passing and a failing case (DICT.md §1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain import keys
from app.domain.claims import ClaimType
from app.domain.keys import (
    Account,
    KeyType,
    Owner,
    ValidationError,
    Violation,
    claimable,
    normalize_key,
    validate_account,
    validate_entry,
    validate_owner,
)

CPF = "52998224725"
CNPJ = "11222333000181"
OPENING = datetime(2020, 3, 1, 3, tzinfo=UTC)
ACCOUNT = Account("12345678", "1", "123456", "CACC", OPENING)
PERSON = Owner("NATURAL_PERSON", CPF, "Maria da Silva")
COMPANY = Owner("LEGAL_PERSON", CNPJ, "Padaria Central Ltda", "Padaria Central")


def broken(excinfo: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(v.field, v.rule) for v in excinfo.value.violations]


# --- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "given", "stored"),
    [
        (KeyType.CPF, "529.982.247-25", CPF),
        (KeyType.CPF, " 52998224725 ", CPF),
        (KeyType.CNPJ, "11.222.333/0001-81", CNPJ),
        (KeyType.PHONE, "+55 61 98888 0000", "+5561988880000"),
        (KeyType.PHONE, "+5561988880000", "+5561988880000"),
        (KeyType.EMAIL, "Maria.Silva@Example.COM", "maria.silva@example.com"),
        (KeyType.EMAIL, "  maria@example.com ", "maria@example.com"),
        (
            KeyType.EVP,
            "123E4567-E89B-12D3-A456-426614174000",
            "123e4567-e89b-12d3-a456-426614174000",
        ),
    ],
)
def test_keys_are_normalised_as_the_dict_stores_them(key_type, given, stored) -> None:
    assert normalize_key(key_type, given) == stored


@pytest.mark.parametrize(
    ("key_type", "key"),
    [
        (KeyType.CPF, "12345678909"),
        (KeyType.CNPJ, "60701190000104"),
        (KeyType.PHONE, "+12"),  # shortest E.164 the v2.6.1 pattern allows
        (KeyType.PHONE, "+123456789012345"),  # 15 digits, the E.164 maximum
        (KeyType.EMAIL, "o'neil+pix@mail.example.com.br"),
        (KeyType.EMAIL, "a.b!#$*/=?^_`{|}~-@example.com"),
        (KeyType.EMAIL, "user@x-y.example"),
        (KeyType.EMAIL, "a" * 65 + "@example.com"),  # exactly 77 characters
        (KeyType.EVP, "123e4567-e89b-12d3-a456-426614174000"),
    ],
)
def test_valid_keys_pass_unchanged(key_type, key) -> None:
    assert normalize_key(key_type, key) == key


@pytest.mark.parametrize(
    ("key_type", "key", "rule"),
    [
        (KeyType.CPF, "52998224724", "cpf_check_digits"),
        (KeyType.CPF, "11122233300", "cpf_check_digits"),  # the spec's example tax id
        (KeyType.CPF, "111.111.111-11", "cpf_repeated_digits"),
        (KeyType.CPF, "5299822472", "pattern"),
        (KeyType.CPF, "529982247250", "pattern"),
        (KeyType.CPF, "5299822472a", "pattern"),
        (KeyType.CPF, "529 982 247 25", "pattern"),  # only . - / are stripped
        (KeyType.CPF, "５２９９８２２４７２５", "pattern"),  # full-width digits
        (KeyType.CNPJ, "11222333000180", "cnpj_check_digits"),
        (KeyType.CNPJ, "00.000.000/0000-00", "cnpj_repeated_digits"),
        (KeyType.CNPJ, "1122233300018", "pattern"),
        (KeyType.CNPJ, "12ABC34501DE35", "pattern"),  # alphanumeric: not in v2.6.1
        (KeyType.PHONE, "5561988880000", "pattern"),  # no +
        (KeyType.PHONE, "+0561988880000", "pattern"),  # a country code never starts with 0
        (KeyType.PHONE, "+5", "pattern"),
        (KeyType.PHONE, "+1234567890123456", "pattern"),  # 16 digits
        (KeyType.PHONE, "+55(61)98888-0000", "pattern"),
        (KeyType.PHONE, "+٥٥61988880000", "pattern"),  # Arabic-Indic digits
        (KeyType.EMAIL, "maria&joao@example.com", "pattern"),  # & dropped in v2.6.1
        (KeyType.EMAIL, "maria%joao@example.com", "pattern"),  # % banned since 1.7.2
        (KeyType.EMAIL, "maria@", "pattern"),
        (KeyType.EMAIL, "@example.com", "pattern"),
        (KeyType.EMAIL, "maria@example.com@x", "pattern"),
        (KeyType.EMAIL, "maria@-example.com", "pattern"),
        (KeyType.EMAIL, "maria@example-.com", "pattern"),
        (KeyType.EMAIL, "maria@exa_mple.com", "pattern"),
        (KeyType.EMAIL, "maria@example..com", "pattern"),
        (KeyType.EMAIL, "maria@" + "a" * 64 + ".com", "pattern"),  # a label has at most 63
        (KeyType.EMAIL, "joão@example.com", "pattern"),
        (KeyType.EMAIL, "maria silva@example.com", "pattern"),
        (KeyType.EVP, "123e4567e89b12d3a456426614174000", "pattern"),
        (KeyType.EVP, "123e4567-e89b-12d3-a456-42661417400g", "pattern"),
        (KeyType.EVP, "{123e4567-e89b-12d3-a456-426614174000}", "pattern"),
    ],
)
def test_invalid_keys_name_the_rule(key_type, key, rule) -> None:
    with pytest.raises(ValidationError) as excinfo:
        normalize_key(key_type, key)
    assert broken(excinfo) == [("key", rule)]


def test_a_long_email_breaks_the_length_rule_however_well_formed() -> None:
    key = "a" * 66 + "@example.com"  # 78 characters
    with pytest.raises(ValidationError) as excinfo:
        normalize_key(KeyType.EMAIL, key)
    assert broken(excinfo) == [("key", "max_length")]


def test_a_long_malformed_email_breaks_both_rules() -> None:
    with pytest.raises(ValidationError) as excinfo:
        normalize_key(KeyType.EMAIL, "a&" * 40 + "@example.com")
    assert broken(excinfo) == [("key", "max_length"), ("key", "pattern")]


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_key_is_required(key) -> None:
    with pytest.raises(ValidationError) as excinfo:
        normalize_key(KeyType.PHONE, key)
    assert broken(excinfo) == [("key", "required")]


def test_an_unknown_key_type_is_refused() -> None:
    with pytest.raises(ValidationError) as excinfo:
        normalize_key("IBAN", "DE89370400440532013000")
    assert broken(excinfo) == [("key_type", "one_of")]


def test_messages_never_echo_the_key() -> None:
    with pytest.raises(ValidationError) as excinfo:
        normalize_key(KeyType.CPF, "52998224724")
    assert "52998224724" not in str(excinfo.value)
    assert all("52998224724" not in v.message for v in excinfo.value.violations)


def test_the_v1_8_0_email_pattern_can_be_restored(monkeypatch) -> None:
    monkeypatch.setattr(keys, "EMAIL_PATTERN", keys.EMAIL_PATTERN_V1_8_0)
    assert normalize_key(KeyType.EMAIL, "maria&joao@example.com") == "maria&joao@example.com"


# --- accounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"branch": None},  # optional
        {"branch": "0001"},
        {"participant": "00000000"},
        {"account_number": "1" * 20},
        {"account_number": "0"},
        {"account_type": "SVGS"},
        {"account_type": "SLRY"},
        {"account_type": "TRAN"},
        {"opening_date": datetime(2020, 3, 1, tzinfo=timezone(timedelta(hours=-3)))},
    ],
)
def test_valid_accounts_pass(changes) -> None:
    validate_account(replace(ACCOUNT, **changes))


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"participant": ""}, "account.participant", "required"),
        ({"participant": "1234567"}, "account.participant", "pattern"),
        ({"participant": "123456789"}, "account.participant", "pattern"),
        ({"participant": "1234567A"}, "account.participant", "pattern"),
        ({"participant": "12345678\n"}, "account.participant", "pattern"),
        ({"branch": "12345"}, "account.branch", "pattern"),
        ({"branch": "1-2"}, "account.branch", "pattern"),
        ({"branch": ""}, "account.branch", "pattern"),
        ({"account_number": ""}, "account.account_number", "required"),
        ({"account_number": "1" * 21}, "account.account_number", "pattern"),
        ({"account_number": "12345-6"}, "account.account_number", "pattern"),
        ({"account_number": "1234X"}, "account.account_number", "pattern"),
        ({"account_type": "CHECKING"}, "account.account_type", "one_of"),
        ({"account_type": "cacc"}, "account.account_type", "one_of"),
        ({"opening_date": None}, "account.opening_date", "required"),
        ({"opening_date": datetime(2020, 3, 1)}, "account.opening_date", "timezone"),  # noqa: DTZ001
    ],
)
def test_invalid_accounts_name_the_field_and_rule(changes, field, rule) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_account(replace(ACCOUNT, **changes))
    assert broken(excinfo) == [(field, rule)]


# --- owners -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "owner",
    [
        PERSON,
        replace(PERSON, name="João D'Ávila-Souza"),
        replace(PERSON, name="Ø" * 150),  # v2.6.1 allows 150
        replace(PERSON, trade_name=""),  # empty means none
        COMPANY,
        replace(COMPANY, trade_name=None),  # an MEI leaves it empty
        replace(COMPANY, name="Padaria & Cia. 2 Ltda"),  # the PF name pattern is for PF only
        replace(COMPANY, trade_name="x" * 100),
    ],
)
def test_valid_owners_pass(owner) -> None:
    validate_owner(owner)


@pytest.mark.parametrize(
    ("owner", "field", "rule"),
    [
        (replace(PERSON, type="PF"), "owner.type", "one_of"),
        (replace(PERSON, tax_id=""), "owner.tax_id", "required"),
        (replace(PERSON, tax_id="52998224724"), "owner.tax_id", "cpf_check_digits"),
        (replace(PERSON, tax_id="22222222222"), "owner.tax_id", "cpf_repeated_digits"),
        (replace(PERSON, tax_id=CNPJ), "owner.tax_id", "pattern"),
        (replace(PERSON, tax_id="529.982.247-25"), "owner.tax_id", "pattern"),
        (replace(COMPANY, tax_id=CPF), "owner.tax_id", "pattern"),
        (replace(COMPANY, tax_id="11222333000180"), "owner.tax_id", "cnpj_check_digits"),
        (replace(PERSON, name=""), "owner.name", "required"),
        (replace(PERSON, name="   "), "owner.name", "required"),
        (replace(PERSON, name="Ø" * 151), "owner.name", "max_length"),
        (replace(COMPANY, name="x" * 151), "owner.name", "max_length"),
        (replace(PERSON, name="Maria da Silva 2"), "owner.name", "pattern"),
        (replace(PERSON, name="Maria S. Silva"), "owner.name", "pattern"),
        (
            replace(PERSON, trade_name="Maria"),
            "owner.trade_name",
            "trade_name_only_for_legal_person",
        ),
        (replace(COMPANY, trade_name="x" * 101), "owner.trade_name", "max_length"),
    ],
)
def test_invalid_owners_name_the_field_and_rule(owner, field, rule) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_owner(owner)
    assert broken(excinfo) == [(field, rule)]


def test_the_v1_8_0_name_limit_can_be_restored(monkeypatch) -> None:
    monkeypatch.setattr(keys, "NAME_MAX_LENGTH", 120)
    validate_owner(replace(PERSON, name="a" * 120))
    with pytest.raises(ValidationError) as excinfo:
        validate_owner(replace(PERSON, name="a" * 121))
    assert broken(excinfo) == [("owner.name", "max_length")]


# --- entries ----------------------------------------------------------------------------


def test_an_entry_returns_its_normalised_key() -> None:
    assert validate_entry("CPF", "529.982.247-25", ACCOUNT, PERSON) == CPF
    assert validate_entry("CNPJ", "11.222.333/0001-81", ACCOUNT, COMPANY) == CNPJ
    assert validate_entry("EMAIL", "Maria@Example.com", ACCOUNT, PERSON) == "maria@example.com"
    assert validate_entry("PHONE", "+55 61 98888 0000", ACCOUNT, COMPANY) == "+5561988880000"


@pytest.mark.parametrize(
    ("key_type", "key", "owner"),
    [
        ("CPF", "12345678909", PERSON),  # somebody else's CPF
        ("CPF", CPF, COMPANY),  # a company cannot hold a CPF key
        ("CNPJ", "60701190000104", COMPANY),
        ("CNPJ", CNPJ, PERSON),
    ],
)
def test_a_cpf_or_cnpj_key_must_be_the_owners_own_document(key_type, key, owner) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_entry(key_type, key, ACCOUNT, owner)
    assert broken(excinfo) == [("key", "key_matches_owner_tax_id")]


def test_an_evp_is_created_without_a_key() -> None:
    assert validate_entry("EVP", None, ACCOUNT, PERSON) is None
    assert validate_entry("EVP", "", ACCOUNT, PERSON) is None
    with pytest.raises(ValidationError) as excinfo:
        validate_entry("EVP", "123e4567-e89b-12d3-a456-426614174000", ACCOUNT, PERSON)
    assert broken(excinfo) == [("key", "absent_for_evp")]


def test_an_existing_evp_entry_keeps_its_generated_key() -> None:
    evp = "123e4567-e89b-12d3-a456-426614174000"
    assert validate_entry("EVP", evp, ACCOUNT, PERSON, creating=False) == evp
    with pytest.raises(ValidationError) as excinfo:
        validate_entry("EVP", None, ACCOUNT, PERSON, creating=False)
    assert broken(excinfo) == [("key", "required")]


@pytest.mark.parametrize("key_type", ["CPF", "CNPJ", "PHONE", "EMAIL"])
def test_other_key_types_need_their_key(key_type) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_entry(key_type, None, ACCOUNT, PERSON)
    assert broken(excinfo) == [("key", "required")]


def test_an_entry_reports_every_violation_at_once() -> None:
    account = replace(ACCOUNT, branch="12345", account_type="CHECKING")
    owner = replace(PERSON, name="Maria 2", trade_name="Maria")
    with pytest.raises(ValidationError) as excinfo:
        validate_entry("PHONE", "5561988880000", account, owner)
    assert broken(excinfo) == [
        ("key", "pattern"),
        ("account.branch", "pattern"),
        ("account.account_type", "one_of"),
        ("owner.name", "pattern"),
        ("owner.trade_name", "trade_name_only_for_legal_person"),
    ]


def test_an_unknown_key_type_is_reported_with_the_rest() -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_entry("IBAN", "x", replace(ACCOUNT, participant="1"), PERSON)
    assert broken(excinfo) == [("key_type", "one_of"), ("account.participant", "pattern")]


def test_violations_are_plain_values() -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_entry("CPF", "52998224724", ACCOUNT, PERSON)
    assert excinfo.value.violations == [
        Violation("key", "cpf_check_digits", "the CPF's check digits do not match")
    ]
    assert str(excinfo.value) == "key: cpf_check_digits"


# --- claimable --------------------------------------------------------------------------

CLAIMABLE = {
    ("PORTABILITY", "CPF"),
    ("PORTABILITY", "CNPJ"),
    ("PORTABILITY", "PHONE"),
    ("PORTABILITY", "EMAIL"),
    ("OWNERSHIP", "PHONE"),  # v2.6.1: PHONE only
}


@pytest.mark.parametrize("claim_type", list(ClaimType))
@pytest.mark.parametrize("key_type", list(KeyType))
def test_which_keys_may_be_claimed(claim_type, key_type) -> None:
    assert claimable(key_type, claim_type) is ((claim_type, key_type) in CLAIMABLE)


def test_the_v1_8_0_ownership_of_email_keys_can_be_restored(monkeypatch) -> None:
    monkeypatch.setattr(keys, "OWNERSHIP_CLAIMABLE_EMAIL", True)
    assert claimable("EMAIL", "OWNERSHIP") is True
    assert claimable("EVP", "OWNERSHIP") is False
    assert claimable("CPF", "OWNERSHIP") is False
