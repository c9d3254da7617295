"""Valid tax ids made from a number, for tests, benchmarks and demos.

Deterministic, so a failing test can be replayed, and distinct for distinct seeds,
so a benchmark can load millions of owners without collisions.
"""

from __future__ import annotations

from app.domain.taxid import cnpj_check_digits, cpf_check_digits

__all__ = ["make_cnpj", "make_cpf"]

_CPF_BASES = 10**9
# Bases made of one repeated digit give CPFs like 11111111111, which are never valid.
_REPEATED_BASES = tuple(d * 111_111_111 for d in range(10))


def make_cpf(seed: int) -> str:
    """A valid CPF; seeds 0 … 999,999,989 give distinct ones (then they wrap around)."""
    n = seed % (_CPF_BASES - len(_REPEATED_BASES))
    for repeated in _REPEATED_BASES:  # skip them in order: a bijection onto the valid bases
        if n >= repeated:
            n += 1
    base = f"{n:09d}"
    return base + cpf_check_digits(base)


def make_cnpj(seed: int) -> str:
    """A valid CNPJ for head office 0001; seeds 0 … 99,999,999 give distinct ones."""
    base = f"{seed % 10**8:08d}0001"
    return base + cnpj_check_digits(base)
