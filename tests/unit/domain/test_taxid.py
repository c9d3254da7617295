"""CPF and CNPJ check digits, and the generators tests and benchmarks build owners from."""

from __future__ import annotations

import pytest

from app.domain.fixtures import make_cnpj, make_cpf
from app.domain.taxid import cnpj_check_digits, cpf_check_digits, is_valid_cnpj, is_valid_cpf


@pytest.mark.parametrize("cpf", ["52998224725", "12345678909", "11144477735", "00000000191"])
def test_published_valid_cpfs_pass(cpf: str) -> None:
    assert is_valid_cpf(cpf)


@pytest.mark.parametrize(
    "cpf",
    [
        "52998224724",  # last check digit off by one
        "52998224715",  # first check digit off by one
        "11122233300",  # the DICT spec's own example tax id (DICT.md §1)
        "11111111111",  # passes mod 11, but a repeated digit is never issued
        "00000000000",
        "5299822472",  # 10 digits
        "529.982.247-25",  # punctuation is a key normalisation, not a valid CPF
        "５２９９８２２４７２５",  # full-width digits are not ASCII digits
        "",
    ],
)
def test_invalid_cpfs_fail(cpf: str) -> None:
    assert not is_valid_cpf(cpf)


@pytest.mark.parametrize("cnpj", ["11222333000181", "00000000000191", "60701190000104"])
def test_published_valid_cnpjs_pass(cnpj: str) -> None:
    assert is_valid_cnpj(cnpj)


@pytest.mark.parametrize(
    "cnpj",
    [
        "11222333000180",  # last check digit off
        "11222333000171",  # first check digit off
        "00000000000000",
        "1122233300018",  # 13 digits
        "12ABC34501DE35",  # alphanumeric CNPJ: not in DICT v2.6.1
        "11.222.333/0001-81",
    ],
)
def test_invalid_cnpjs_fail(cnpj: str) -> None:
    assert not is_valid_cnpj(cnpj)


def test_check_digits_of_known_bases() -> None:
    assert cpf_check_digits("529982247") == "25"
    assert cnpj_check_digits("112223330001") == "81"


def test_generated_tax_ids_are_valid_and_deterministic() -> None:
    seeds = [0, 1, 2, 111_111_110, 111_111_111, 999_999_989, 10**12 + 7]
    for seed in seeds:
        assert is_valid_cpf(make_cpf(seed)), seed
        assert is_valid_cnpj(make_cnpj(seed)), seed
    assert make_cpf(42) == make_cpf(42)
    assert make_cpf(0) == "00000000191"
    assert make_cnpj(0) == "00000000000191"


def test_generated_tax_ids_are_distinct_for_distinct_seeds() -> None:
    # Around the skipped repeated-digit bases, where a naive generator collides.
    seeds = [*range(0, 50), *range(111_111_090, 111_111_130), *range(999_999_950, 999_999_990)]
    assert len({make_cpf(s) for s in seeds}) == len(seeds)
    assert len({make_cnpj(s) for s in range(5_000)}) == 5_000
