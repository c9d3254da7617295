"""The DICT's rules for entries (vínculos), stated from the spec text, not from our code.

The simulator must refuse exactly what the DICT refuses, so it does not share the
connector's validation (``app.domain.keys``): a rule both got wrong would pass every
test. Everything here is transcribed from docs/DICT.md §1 and the official OpenAPI
v2.6.1 text (the ``Key`` tag's table of key formats, ``components.schemas``, the
descriptions of createEntry / getEntry / updateEntry / deleteEntry / checkKeys and the
error table in ``info.description``); each rule cites where it comes from. Rows marked
**[inferred]** are not stated by the spec; their comment says why they read so.

The DICT matches **patterns only**: it does not check CPF/CNPJ check digits (DICT.md
§1 "Check digits"; the official example tax id ``11122233300`` fails the check and the
DICT's own examples use it). Patterns are applied with ``fullmatch`` and spelled
``[0-9]``: in Python ``\\d`` also matches non-ASCII digits and ``$`` a final newline.
"""

from __future__ import annotations

import re

from app.bridge import dict_bridge_pb2 as pb

Violations = list[tuple[str, str]]  # (field, reason), as the DICT's problem ``violations``

# --- key formats: OpenAPI v2.6.1, tag "Key", table "Tipo / Exp. regular" (DICT.md §1) ----
KEY_PATTERNS: dict[str, re.Pattern[str]] = {
    "CPF": re.compile(r"[0-9]{11}"),
    "CNPJ": re.compile(r"[0-9]{14}"),
    "PHONE": re.compile(r"\+[1-9][0-9]{1,14}"),  # E.164; v1.8.0 had \+[1-9][0-9][0-9]{1,14}
    # v2.6.1 drops "&" from the local part ("%" was banned in 1.7.2); lowercase only.
    "EMAIL": re.compile(
        r"[a-z0-9.!#$'*+/=?^_`{|}~-]+@"
        r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    ),
    "EVP": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}
KEY_MAX_LENGTH = 77  # schema Key.maxLength; the Key table: "E-mail ... no máximo 77 caracteres"
TAX_ID_KEYS = frozenset({"CPF", "CNPJ"})  # keys whose value is the owner's own tax id

# --- BrazilianAccount (schema; DICT.md §1 "Account") -----------------------------------
ISPB = re.compile(r"[0-9]{8}")  # schema ISPB
BRANCH = re.compile(r"[0-9]{1,4}")  # optional, no check digit
ACCOUNT_NUMBER = re.compile(r"[0-9]{1,20}")  # check digit included, a letter becomes 0
ACCOUNT_TYPES = frozenset({"CACC", "SVGS", "SLRY", "TRAN"})  # schema AccountType
# Required: Participant, AccountNumber, AccountType, OpeningDate (Branch is not).

# --- Person, oneOf NATURAL_PERSON | LEGAL_PERSON (schema; DICT.md §1 "Owner") ----------
TAX_ID = {"NATURAL_PERSON": re.compile(r"[0-9]{11}"), "LEGAL_PERSON": re.compile(r"[0-9]{14}")}
NAME_MAX_LENGTH = 150  # v2.6.1 (v1.8.0: 120)
TRADE_NAME_MAX_LENGTH = 100  # LEGAL_PERSON only: NATURAL_PERSON has no TradeName property
NAME_PATTERN = {
    "NATURAL_PERSON": re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ' -]+"),
    "LEGAL_PERSON": re.compile(r"[\u0020-\u007E\u00A1-\u00FF]+"),  # Name and TradeName
}

# --- reasons (schemas CreateEntryRequest / UpdateEntryRequest / DeleteEntryRequest) ----
CREATE_REASONS = frozenset({"USER_REQUESTED", "RECONCILIATION"})
# updateEntry "Restrições": an EVP key only with RFB_VALIDATION; the other types with four.
UPDATE_REASONS = {
    "CPF": frozenset({"USER_REQUESTED", "BRANCH_TRANSFER", "RECONCILIATION", "RFB_VALIDATION"}),
    "CNPJ": frozenset({"USER_REQUESTED", "BRANCH_TRANSFER", "RECONCILIATION", "RFB_VALIDATION"}),
    "PHONE": frozenset({"USER_REQUESTED", "BRANCH_TRANSFER", "RECONCILIATION", "RFB_VALIDATION"}),
    "EMAIL": frozenset({"USER_REQUESTED", "BRANCH_TRANSFER", "RECONCILIATION", "RFB_VALIDATION"}),
    "EVP": frozenset({"RFB_VALIDATION"}),
}
ANY_UPDATE_REASON = frozenset().union(*UPDATE_REASONS.values())
DELETE_REASONS = frozenset(
    {"USER_REQUESTED", "ACCOUNT_CLOSURE", "RECONCILIATION", "FRAUD", "RFB_VALIDATION"}
)

# --- limits: manual §1, DICT.md §1 "Limits" ------------------------------------------
# Keys per transactional account (Participant + Branch + AccountNumber + AccountType),
# by the holder's kind: 5 for a CPF holder, 20 for a CNPJ holder.
KEY_LIMIT = {"NATURAL_PERSON": 5, "LEGAL_PERSON": 20}

# --- getEntry headers (OpenAPI getEntry parameters) -------------------------------------
# PI-PayerId and PI-EndToEndId are "required: true" for every key type. PI-PayerId has
# the pattern below; PI-EndToEndId is a plain string (no pattern is given, so only its
# presence is checked: checking the pacs.008 format would be stricter than the DICT).
PAYER_ID = re.compile(r"[0-9]{11}|[0-9]{14}")

# --- the anti-scan counting rules (info.description "Regras de contagem") ---------------
# Only a 200 and a 404 are priced; a refused lookup (400) is charged nothing [inferred:
# the rules name no other status].
LOOKUP_COST = {"found": (1, 1), "missing": (3, 20)}  # (participant, user) tokens

# --- checkKeys (OpenAPI /keys/check, schema CheckKeysRequest) ---------------------------
# Keys: an array of Key, minItems 1, maxItems 200; each Key a string of maxLength 77. The
# schema Key has no pattern. A string of none of the Key table's shapes is refused too
# [inferred: the Key tag defines a key as one of its types, and the DICT refuses keys of
# other shapes on every operation that names a type; checkKeys names none, so the shape
# is the only type it has]. Refusals are ``BadRequest`` (error table: "Requisição com
# formato inválido"): checkKeys has no problem type of its own. Which keys exist is
# asked of the whole directory ("existência de um conjunto de chaves no diretório"),
# whoever holds them. Charged to KEYS_CHECK, 1 per non-500 answer like the other fixed
# policies (info.description "Demais políticas").
CHECK_KEYS_MIN, CHECK_KEYS_MAX = 1, 200


def key_violations(key_type: str, key: str, *, creating: bool, field: str = "key") -> Violations:
    """What is wrong with a key of ``key_type``. On create an EVP key is omitted: the
    DICT generates it (Key table: "gerado pelo DICT"; schema Entry requires no Key)."""
    pattern = KEY_PATTERNS.get(key_type)
    if pattern is None:
        return [("key_type", "one_of")]
    if key_type == "EVP" and creating:
        return [(field, "absent_for_evp")] if key else []
    if not key:
        return [(field, "required")]
    if len(key) > KEY_MAX_LENGTH:
        return [(field, "max_length")]
    return [] if pattern.fullmatch(key) else [(field, "pattern")]


def account_violations(account: pb.Account, prefix: str = "account") -> Violations:
    """Every way ``account`` breaks the schema ``BrazilianAccount``."""
    found: Violations = []
    if not ISPB.fullmatch(account.participant):
        found.append((f"{prefix}.participant", "pattern" if account.participant else "required"))
    if account.branch and not BRANCH.fullmatch(account.branch):  # "" is an absent branch
        found.append((f"{prefix}.branch", "pattern"))
    if not ACCOUNT_NUMBER.fullmatch(account.account_number):
        reason = "pattern" if account.account_number else "required"
        found.append((f"{prefix}.account_number", reason))
    if account.account_type not in ACCOUNT_TYPES:
        found.append((f"{prefix}.account_type", "one_of"))
    if not account.HasField("opening_date"):
        found.append((f"{prefix}.opening_date", "required"))
    return found


def owner_violations(owner: pb.Owner, prefix: str = "owner") -> Violations:
    """Every way ``owner`` breaks the schema ``Person`` (one of its two shapes)."""
    tax_id = TAX_ID.get(owner.type)
    if tax_id is None:
        return [(f"{prefix}.type", "one_of")]
    found: Violations = []
    if not tax_id.fullmatch(owner.tax_id_number):
        found.append((f"{prefix}.tax_id_number", "pattern" if owner.tax_id_number else "required"))
    pattern = NAME_PATTERN[owner.type]
    found += _text(f"{prefix}.name", owner.name, NAME_MAX_LENGTH, pattern)
    if owner.trade_name and owner.type == "NATURAL_PERSON":
        found.append((f"{prefix}.trade_name", "not_allowed"))
    elif owner.trade_name:
        found += _text(f"{prefix}.trade_name", owner.trade_name, TRADE_NAME_MAX_LENGTH, pattern)
    return found


def _text(field: str, value: str, max_length: int, pattern: re.Pattern[str]) -> Violations:
    if not value:
        return [(field, "required")]
    if len(value) > max_length:
        return [(field, "max_length")]
    return [] if pattern.fullmatch(value) else [(field, "pattern")]


def entry_violations(entry: pb.Entry, *, creating: bool) -> Violations:
    """Every schema violation of an entry (key, account, owner), for ``EntryInvalid``."""
    return (
        key_violations(entry.key_type, entry.key, creating=creating)
        + account_violations(entry.account)
        + owner_violations(entry.owner)
    )


def key_is_not_owners_tax_id(key_type: str, key: str, owner: pb.Owner) -> bool:
    """A CPF/CNPJ key whose value differs from its owner's tax id: the error table's
    ``EntryTaxIdNumberByDifferentOwner`` ("CPF/CNPJ do vínculo diferente do CPF/CNPJ do
    dono da chave"), not ``EntryInvalid``: both values are well formed."""
    return key_type in TAX_ID_KEYS and key != owner.tax_id_number


def key_type_of(key: str) -> str | None:
    """A key's type from its shape alone, as a lookup does not say it (the anti-scan
    policy depends on it: info.description "Regras de contagem")."""
    for kind in ("PHONE", "EMAIL", "EVP", "CPF", "CNPJ"):
        if KEY_PATTERNS[kind].fullmatch(key):
            return kind
    return None


def lookup_violations(payer_id: str, end_to_end_id: str) -> Violations:
    """getEntry's mandatory headers: a lookup without them is a ``BadRequest``."""
    found: Violations = []
    if not payer_id:
        found.append(("payer_id", "required"))
    elif not PAYER_ID.fullmatch(payer_id):
        found.append(("payer_id", "pattern"))
    if not end_to_end_id:
        found.append(("end_to_end_id", "required"))
    return found


def check_keys_violations(keys: list[str]) -> Violations:
    """What the schema CheckKeysRequest refuses: a count outside 1..200 (field ``keys``),
    then each key too long or of no key type's shape (field ``keys[i]``)."""
    if len(keys) < CHECK_KEYS_MIN:
        return [("keys", "min_items")]
    if len(keys) > CHECK_KEYS_MAX:
        return [("keys", "max_items")]
    found: Violations = []
    for i, key in enumerate(keys):
        if not key:
            found.append((f"keys[{i}]", "required"))
        elif len(key) > KEY_MAX_LENGTH:
            found.append((f"keys[{i}]", "max_length"))
        elif key_type_of(key) is None:
            found.append((f"keys[{i}]", "pattern"))
    return found
