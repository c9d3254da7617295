"""Key lookups before a payment (getEntry): what is asked, what it costs, what may be kept.

A lookup names the key, the payer (PI-PayerId) and the payment to follow
(PI-EndToEndId); both are mandatory at the DICT (DICT.md §1 "Operations"). It draws on
two anti-scan buckets (DICT.md §4 "getEntry counting"): the payer's, sized by the
payer's kind, and the participant's, sized by our category. A found key costs 1 in
each, a miss 20 from the payer and 3 from us, and the payment that follows gives some
back. Caching (DICT.md "Caching", manual §12 and §16): a legal person's key may be
kept up to 180 s as the DICT's Cache-Control says; whether a key exists may be kept
as its SHA-256 for up to 30 days.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from app.domain.buckets import Policy, policy, user_antiscan_policy_name
from app.domain.keys import (
    EVP_PATTERN,
    KeyType,
    PersonType,
    ValidationError,
    Violation,
    is_valid_cnpj,
    is_valid_cpf,
    normalize_key,
)

__all__ = [
    "ANSWER_CACHE_MAX_S",
    "EXISTENCE_CACHE_MAX_S",
    "Charge",
    "LookupRequest",
    "answer_cache_seconds",
    "charges",
    "key_digest",
    "key_type_of",
    "parse_lookup",
]

ANSWER_CACHE_MAX_S = 180  # manual §12: a legal person's key, at most 180 s
EXISTENCE_CACHE_MAX_S = 30 * 86_400  # manual §16: SHA-256 of the key, at most 30 days

# The pacs.008 EndToEndId: E (or D), the payer's ISPB, yyyyMMddHHmm and 11 characters.
# The DICT only requires the header; the shape is our API's rule, so that a typo never
# reaches the DICT and a payment credit can find its lookup.
E2E_PATTERN = re.compile(
    r"[ED][0-9]{8}[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9]"
    r"[A-Za-z0-9]{11}"
)
_DIGITS = re.compile(r"[0-9]+")


def key_type_of(key: str) -> KeyType | None:
    """A key's type by its shape: a lookup names only the key. CPF and CNPJ are all
    digits (11 and 14), a phone starts with +, an e-mail has an @, an EVP is a UUID."""
    key = key.strip()
    if key.startswith("+"):
        return KeyType.PHONE
    if "@" in key:
        return KeyType.EMAIL
    if EVP_PATTERN.fullmatch(key.lower()):
        return KeyType.EVP
    digits = key.translate(str.maketrans("", "", ".-/"))
    if _DIGITS.fullmatch(digits):
        return {11: KeyType.CPF, 14: KeyType.CNPJ}.get(len(digits))
    return None


def key_digest(key: str) -> bytes:
    """SHA-256 of a normalised key: all our Redis copies hold, never the key itself."""
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True, slots=True)
class LookupRequest:
    key: str  # normalised as the DICT stores it
    key_type: KeyType
    payer_id: str
    payer_type: PersonType
    end_to_end_id: str


def _payer_violations(payer_id: str) -> list[Violation]:
    if len(payer_id) == 11 and is_valid_cpf(payer_id):
        return []
    if len(payer_id) == 14 and is_valid_cnpj(payer_id):
        return []
    message = "the payer's CPF (11 digits) or CNPJ (14 digits), check digits included"
    return [Violation("payer_id", "cpf_or_cnpj", message)]


def parse_lookup(key: str, payer_id: str, end_to_end_id: str) -> LookupRequest:
    """The lookup as the DICT will be asked, or ValidationError naming every bad field."""
    found: list[Violation] = []
    key_type = key_type_of(key)
    normalised = ""
    if key_type is None:
        message = "a CPF, CNPJ, +E.164 phone, e-mail or EVP (UUID) key"
        found.append(Violation("key", "key_shape", message))
    else:
        try:
            normalised = normalize_key(key_type, key)
        except ValidationError as exc:
            found.extend(exc.violations)
    found.extend(_payer_violations(payer_id))
    if not E2E_PATTERN.fullmatch(end_to_end_id):
        message = "the pacs.008 EndToEndId: E, ISPB, yyyyMMddHHmm and 11 letters or digits"
        found.append(Violation("end_to_end_id", "end_to_end_id", message))
    if found or key_type is None:
        raise ValidationError(found)
    payer_type = PersonType.NATURAL_PERSON if len(payer_id) == 11 else PersonType.LEGAL_PERSON
    return LookupRequest(normalised, key_type, payer_id, payer_type, end_to_end_id)


@dataclass(frozen=True, slots=True)
class Charge:
    """One bucket a lookup draws on: what a found key and a miss cost, and what the
    payment that follows gives back."""

    policy: Policy
    found: int
    missing: int
    credit: int


def charges(request: LookupRequest, category: str) -> tuple[Charge, Charge]:
    """The payer's bucket and ours, in that order."""
    user = policy(user_antiscan_policy_name(request.key_type), person_type=request.payer_type)
    ours = policy("ENTRIES_READ_PARTICIPANT_ANTISCAN", category)
    return tuple(  # type: ignore[return-value]
        Charge(p, p.costs.success, p.costs.not_found, p.costs.payment_credit) for p in (user, ours)
    )


def answer_cache_seconds(owner_type: str, max_age_s: int) -> int:
    """How long an answer may be kept: a legal person's key, as long as the DICT's
    Cache-Control allows and never over 180 s; a natural person's, not at all."""
    if owner_type != PersonType.LEGAL_PERSON:
        return 0
    return max(0, min(ANSWER_CACHE_MAX_S, max_age_s))
