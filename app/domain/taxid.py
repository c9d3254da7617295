"""CPF and CNPJ check digits (DICT.md §1 "Check digits").

The DICT checks only the shape of a tax id; the mod-11 check digits are the PSP's
job, so an entry with a mistyped CPF never leaves us. Numeric CNPJ only: DICT
v2.6.1 has no alphanumeric CNPJ yet (July 2026).
"""

from __future__ import annotations

import re

CPF_PATTERN = re.compile(r"[0-9]{11}", re.ASCII)
CNPJ_PATTERN = re.compile(r"[0-9]{14}", re.ASCII)

_CPF_WEIGHTS = (range(10, 1, -1), range(11, 1, -1))
_CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


def cpf_check_digits(base: str) -> str:
    """The two check digits of a 9-digit CPF base: (Σ d·w)·10 mod 11 mod 10."""
    digits = [int(c) for c in base]
    for weights in _CPF_WEIGHTS:
        total = sum(d * w for d, w in zip(digits, weights, strict=False))
        digits.append(total * 10 % 11 % 10)
    return f"{digits[-2]}{digits[-1]}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of a 12-digit CNPJ base: r = Σ d·w mod 11; 0 if r < 2 else 11 − r."""
    digits = [int(c) for c in base]
    for weights in _CNPJ_WEIGHTS:
        r = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        digits.append(0 if r < 2 else 11 - r)
    return f"{digits[-2]}{digits[-1]}"


def is_repeated(value: str) -> bool:
    """One digit repeated (``11111111111``): passes mod 11 but is never issued."""
    return len(set(value)) == 1


def is_valid_cpf(value: str) -> bool:
    """Eleven ASCII digits, not all equal, whose last two are the check digits."""
    return (
        CPF_PATTERN.fullmatch(value) is not None
        and not is_repeated(value)
        and cpf_check_digits(value[:9]) == value[9:]
    )


def is_valid_cnpj(value: str) -> bool:
    """Fourteen ASCII digits, not all equal, whose last two are the check digits."""
    return (
        CNPJ_PATTERN.fullmatch(value) is not None
        and not is_repeated(value)
        and cnpj_check_digits(value[:12]) == value[12:]
    )
