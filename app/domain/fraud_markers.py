"""Fraud markers as the DICT accepts them (DICT.md §5, v2: CreateFraudMarkerRequest
{Participant, FraudMarker{TaxIdNumber, Key?, FraudType}, RequestId}).

A PSP marks its own customers: the marked person's CPF or CNPJ, optionally one of
their keys, and the fraud type. The DICT checks the shapes; the check digits, and that
a CPF/CNPJ key is the marked person's own document, are ours to check, so a mistyped
tax id never leaves us. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.infractions import FraudType
from app.domain.keys import KeyType, ValidationError, Violation, normalize_key
from app.domain.lookups import key_type_of
from app.domain.taxid import (
    CNPJ_PATTERN,
    CPF_PATTERN,
    cnpj_check_digits,
    cpf_check_digits,
    is_repeated,
)

__all__ = ["MarkerRequest", "marker_violations", "tax_id_violations"]


@dataclass(frozen=True, slots=True)
class MarkerRequest:
    tax_id_number: str
    fraud_type: str
    key: str | None = None


def tax_id_violations(field: str, value: str) -> list[Violation]:
    """A CPF (11 digits) or a CNPJ (14 digits): shape, then repeated digits, then the
    check digits. The first rule broken is named."""
    if CPF_PATTERN.fullmatch(value):
        label, check = "cpf", cpf_check_digits
    elif CNPJ_PATTERN.fullmatch(value):
        label, check = "cnpj", cnpj_check_digits
    else:
        message = "a CPF (11 digits) or a CNPJ (14 digits), digits only"
        return [Violation(field, "pattern", message)]
    if is_repeated(value):
        message = f"a {label.upper()} cannot be a single digit repeated"
        return [Violation(field, f"{label}_repeated_digits", message)]
    if check(value[:-2]) != value[-2:]:
        message = f"the {label.upper()}'s check digits do not match"
        return [Violation(field, f"{label}_check_digits", message)]
    return []


def _key(key: str, tax_id_number: str) -> tuple[str | None, list[Violation]]:
    """The key as the DICT stores it, and what is wrong with it."""
    kind = key_type_of(key)
    if kind is None:
        message = "a CPF, CNPJ, +E.164 phone, e-mail or EVP (UUID) key"
        return None, [Violation("key", "key_shape", message)]
    try:
        normalised = normalize_key(kind, key)
    except ValidationError as exc:
        return None, exc.violations
    if kind in (KeyType.CPF, KeyType.CNPJ) and normalised != tax_id_number:
        message = f"a {kind} key must be the marked person's own {kind} (tax_id_number)"
        return normalised, [Violation("key", "key_matches_tax_id_number", message)]
    return normalised, []


def marker_violations(r: MarkerRequest) -> tuple[str | None, list[Violation]]:
    """The key normalised (None when there is none) and everything the DICT, or our own
    rules, would refuse in a new marker: every field named at once."""
    found = tax_id_violations("tax_id_number", r.tax_id_number)
    if r.fraud_type not in {m.value for m in FraudType}:
        message = f"one of {', '.join(m.value for m in FraudType)}"
        found.append(Violation("fraud_type", "one_of", message))
    key = None
    if r.key is not None:
        key, bad = _key(r.key, r.tax_id_number)
        found += bad
    return key, found
