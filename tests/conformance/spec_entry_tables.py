"""The DICT's entry rules as the spec states them, one row per rule (DICT.md §1).

Written from the spec text alone: docs/DICT.md §1 and §6 (which win on any
disagreement), the OpenAPI v2.6.1 text (the "Key" tag's table of formats, the schemas
BrazilianAccount / Person / Entry, createEntry / getEntry / updateEntry / deleteEntry,
the error table) and manual §1. Nothing here is imported from ``app.domain`` or from the
simulator's ``entry_rules``. ``expected`` is ``ACCEPTED`` or the DICT's problem type;
``fields`` the violations it must name. Rows marked ``inferred`` name a problem type the
spec does not state for that refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCEPTED = "accepted"
INVALID = "EntryInvalid"
KEY_TABLE = "OpenAPI tag Key, table of formats (v2.6.1)"


@dataclass(frozen=True)
class KeyFormat:
    """Create an entry of ``key_type`` with ``key`` (a CPF/CNPJ key is also its owner's
    tax id when it has the right number of digits)."""

    key_type: str
    key: str
    expected: str
    why: str

    @property
    def id(self) -> str:
        return f"{self.key_type} key {self.why}: {self.expected}"


EMAIL_77 = "a" * 65 + "@example.com"
KEY_FORMATS = [
    KeyFormat("CPF", "52998224725", ACCEPTED, "of 11 digits"),
    KeyFormat("CPF", "11122233300", ACCEPTED, "with a wrong check digit (the spec's example)"),
    KeyFormat("CPF", "5299822472", INVALID, "of 10 digits"),
    KeyFormat("CPF", "529.982.247-25", INVALID, "with punctuation"),
    KeyFormat("CNPJ", "11222333000181", ACCEPTED, "of 14 digits"),
    KeyFormat("CNPJ", "11222333000180", ACCEPTED, "with a wrong check digit"),
    KeyFormat("CNPJ", "1122233300018", INVALID, "of 13 digits"),
    KeyFormat("CNPJ", "11.222.333/0001-81", INVALID, "with punctuation"),
    KeyFormat("PHONE", "+5561988880000", ACCEPTED, "in E.164"),
    KeyFormat("PHONE", "+123456789012345", ACCEPTED, "of 15 digits"),
    KeyFormat("PHONE", "+1234567890123456", INVALID, "of 16 digits"),
    KeyFormat("PHONE", "5561988880000", INVALID, "without +"),
    KeyFormat("PHONE", "+0561988880000", INVALID, "with a country code starting 0"),
    KeyFormat("PHONE", "+55 61 98888-0000", INVALID, "with spaces"),
    KeyFormat("EMAIL", "pix@bcb.gov.br", ACCEPTED, "in lowercase"),
    KeyFormat("EMAIL", "a+b.c@example.com", ACCEPTED, "with + and ."),
    KeyFormat("EMAIL", EMAIL_77, ACCEPTED, "of 77 characters"),
    KeyFormat("EMAIL", "a" + EMAIL_77, INVALID, "of 78 characters"),
    KeyFormat("EMAIL", "Pix@bcb.gov.br", INVALID, "with a capital"),
    KeyFormat("EMAIL", "a&b@example.com", INVALID, "with & (dropped in v2.6.1)"),
    KeyFormat("EMAIL", "a%b@example.com", INVALID, "with %"),
    KeyFormat("EMAIL", "pix.bcb.gov.br", INVALID, "without @"),
    KeyFormat("EVP", "", ACCEPTED, "left out (the DICT generates it)"),
    KeyFormat("EVP", "123e4567-e89b-12d3-a456-426655440000", INVALID, "given on create"),
    KeyFormat("RANDOM", "abc", INVALID, "of an unknown type"),
]


@dataclass(frozen=True)
class FieldRule:
    """Create a PHONE entry of a ``holder`` ("person" or "company") with one field set."""

    field: str  # dotted path in the Entry message
    value: str | None  # None: left out
    holder: str
    expected: str
    source: str

    @property
    def id(self) -> str:
        shown = "left out" if self.value is None else repr(self.value)
        if self.value is not None and len(self.value) > 20:
            shown = f"of {len(self.value)} characters"
        return f"{self.holder}'s {self.field} {shown}: {self.expected}"


ACCOUNT = "schema BrazilianAccount"
PERSON = "schema Person (NATURAL_PERSON | LEGAL_PERSON)"
FIELD_RULES = [
    FieldRule("account.participant", "1234567", "person", INVALID, ACCOUNT),
    FieldRule("account.branch", None, "person", ACCEPTED, ACCOUNT + ": Branch is optional"),
    FieldRule("account.branch", "0001", "person", ACCEPTED, ACCOUNT),
    FieldRule("account.branch", "12345", "person", INVALID, ACCOUNT),
    FieldRule("account.account_number", "1" * 20, "person", ACCEPTED, ACCOUNT),
    FieldRule("account.account_number", "1" * 21, "person", INVALID, ACCOUNT),
    FieldRule("account.account_number", "12-3", "person", INVALID, ACCOUNT),
    FieldRule("account.account_number", None, "person", INVALID, ACCOUNT),
    FieldRule("account.account_type", "TRAN", "person", ACCEPTED, ACCOUNT),
    FieldRule("account.account_type", "SLRY", "person", ACCEPTED, ACCOUNT),
    FieldRule("account.account_type", "CHECKING", "person", INVALID, ACCOUNT),
    FieldRule("account.opening_date", None, "person", INVALID, ACCOUNT + ": OpeningDate required"),
    FieldRule("owner.type", "PF", "person", INVALID, PERSON),
    FieldRule("owner.tax_id_number", "11122233300", "person", ACCEPTED, PERSON + ": pattern only"),
    FieldRule("owner.tax_id_number", "11222333000181", "person", INVALID, PERSON),
    FieldRule("owner.tax_id_number", "52998224725", "company", INVALID, PERSON),
    FieldRule("owner.tax_id_number", "11222333000180", "company", ACCEPTED, PERSON),
    FieldRule("owner.name", None, "person", INVALID, PERSON + ": Name required"),
    FieldRule("owner.name", "A" * 150, "person", ACCEPTED, PERSON + ": maxLength 150"),
    FieldRule("owner.name", "A" * 151, "person", INVALID, PERSON + ": maxLength 150"),
    FieldRule("owner.name", "João d'Ávila-Souza", "person", ACCEPTED, PERSON),
    FieldRule("owner.name", "Maria 2", "person", INVALID, PERSON + ": a person's name pattern"),
    FieldRule("owner.name", "Padaria 3 Irmãos Ltda.", "company", ACCEPTED, PERSON),
    FieldRule("owner.trade_name", "Maria", "person", INVALID, PERSON + ": no TradeName for PF"),
    FieldRule("owner.trade_name", None, "company", ACCEPTED, PERSON),
    FieldRule("owner.trade_name", "P" * 100, "company", ACCEPTED, PERSON + ": maxLength 100"),
    FieldRule("owner.trade_name", "P" * 101, "company", INVALID, PERSON + ": maxLength 100"),
]


@dataclass(frozen=True)
class ReasonRule:
    """``operation`` (create | update | delete) of an entry of ``key_type`` with ``reason``."""

    operation: str
    key_type: str
    reason: str
    expected: str
    source: str

    @property
    def id(self) -> str:
        return f"{self.operation} a {self.key_type} entry with {self.reason}: {self.expected}"


CREATE_SRC = "schema CreateEntryRequest.Reason: USER_REQUESTED, RECONCILIATION"
UPDATE_SRC = "OpenAPI updateEntry Restrições: EVP only RFB_VALIDATION (v2.6.1)"
DELETE_SRC = "schema DeleteEntryRequest.Reason"
REASON_RULES = [
    ReasonRule("create", "PHONE", "USER_REQUESTED", ACCEPTED, CREATE_SRC),
    ReasonRule("create", "PHONE", "RECONCILIATION", ACCEPTED, CREATE_SRC),
    *[
        ReasonRule("create", "PHONE", r, "InvalidReason", CREATE_SRC)
        for r in ("ACCOUNT_CLOSURE", "BRANCH_TRANSFER", "FRAUD", "RFB_VALIDATION")
    ],
    *[
        ReasonRule("update", "PHONE", r, ACCEPTED, UPDATE_SRC)
        for r in ("USER_REQUESTED", "BRANCH_TRANSFER", "RECONCILIATION", "RFB_VALIDATION")
    ],
    ReasonRule("update", "CPF", "BRANCH_TRANSFER", ACCEPTED, UPDATE_SRC),
    ReasonRule("update", "CNPJ", "RECONCILIATION", ACCEPTED, UPDATE_SRC),
    ReasonRule("update", "EMAIL", "USER_REQUESTED", ACCEPTED, UPDATE_SRC),
    ReasonRule("update", "PHONE", "ACCOUNT_CLOSURE", "InvalidReason", UPDATE_SRC),
    ReasonRule("update", "PHONE", "FRAUD", "InvalidReason", UPDATE_SRC),
    ReasonRule("update", "EVP", "RFB_VALIDATION", ACCEPTED, UPDATE_SRC),
    *[
        ReasonRule("update", "EVP", r, "InvalidReason", UPDATE_SRC)
        for r in ("USER_REQUESTED", "BRANCH_TRANSFER", "RECONCILIATION")
    ],
    *[
        ReasonRule("delete", "PHONE", r, ACCEPTED, DELETE_SRC)
        for r in ("USER_REQUESTED", "ACCOUNT_CLOSURE", "RECONCILIATION", "FRAUD", "RFB_VALIDATION")
    ],
    ReasonRule("delete", "EVP", "FRAUD", ACCEPTED, DELETE_SRC),
    ReasonRule("delete", "PHONE", "BRANCH_TRANSFER", "InvalidReason", DELETE_SRC),
]


@dataclass(frozen=True)
class Situation:
    """A named situation (see test_entries.py) and the DICT's answer to the call in it."""

    operation: str
    situation: str
    expected: str
    source: str
    fields: tuple[str, ...] = ()
    inferred: bool = False

    @property
    def id(self) -> str:
        mark = " [inferred]" if self.inferred else ""
        return f"{self.operation}: {self.situation}: {self.expected}{mark}"


ERRORS = "OpenAPI error table"
LOOKUP = "OpenAPI getEntry: PI-PayerId (^([0-9]{11}|[0-9]{14})$), PI-EndToEndId required"
BOOK = "error table: EntryCannotBeQueriedForBookTransfer; DICT.md §1 'Before a call'"
AUTH = "[inferred] the operation's 403 response (Forbidden: an authorization rule)"
LIMITS = "manual §1: 5 keys per account of a CPF holder, 20 of a CNPJ holder"
SITUATIONS = [
    Situation("create", "the key is the owner's at this participant", "EntryAlreadyExists", ERRORS),
    Situation(
        "create",
        "the owner holds the key at another participant",
        "EntryKeyInCustodyOfDifferentParticipant",
        ERRORS,
    ),
    Situation(
        "create", "another person holds the key here", "EntryKeyOwnedByDifferentPerson", ERRORS
    ),
    Situation(
        "create",
        "another person holds the key elsewhere",
        "EntryKeyOwnedByDifferentPerson",
        ERRORS,
    ),
    Situation(
        "create",
        "a CPF key that is not the owner's CPF",
        "EntryTaxIdNumberByDifferentOwner",
        ERRORS + ": CPF/CNPJ do vínculo diferente do CPF/CNPJ do dono da chave",
    ),
    Situation(
        "create",
        "a CNPJ key that is not the owner's CNPJ",
        "EntryTaxIdNumberByDifferentOwner",
        ERRORS,
    ),
    Situation("create", "the account is at another participant", "Forbidden", AUTH, inferred=True),
    Situation("create", "a person's account holds 4 keys", ACCEPTED, LIMITS),
    Situation("create", "a person's account holds 5 keys", "EntryLimitExceeded", LIMITS),
    Situation("create", "a company's account holds 19 keys", ACCEPTED, LIMITS),
    Situation("create", "a company's account holds 20 keys", "EntryLimitExceeded", LIMITS),
    Situation(
        "create",
        "5 keys on the same number at another branch",
        ACCEPTED,
        "DICT.md §1: counted per Participant+Branch+AccountNumber+AccountType",
    ),
    Situation(
        "create",
        "the same RequestId and entry again",
        ACCEPTED,
        "OpenAPI createEntry Idempotência: the same answer, one entry",
    ),
    Situation(
        "create",
        "the same RequestId for another entry",
        "RequestIdAlreadyUsed",
        "OpenAPI createEntry Idempotência",
    ),
    Situation(
        "create",
        "a RequestId that is not a UUID",
        INVALID,
        "[inferred] schema RequestId (uuid); EntryInvalid: invalid fields of the create",
        ("request_id",),
        inferred=True,
    ),
    Situation("lookup", "another participant's key", ACCEPTED, "OpenAPI getEntry"),
    Situation("lookup", "a payer with a CNPJ", ACCEPTED, LOOKUP),
    Situation("lookup", "a key nobody holds", "NotFound", "OpenAPI getEntry: 404"),
    Situation(
        "lookup",
        "a key the requesting participant holds",
        "EntryCannotBeQueriedForBookTransfer",
        BOOK,
    ),
    Situation("lookup", "no PI-PayerId", "BadRequest", LOOKUP, ("payer_id",)),
    Situation("lookup", "a PI-PayerId of 13 digits", "BadRequest", LOOKUP, ("payer_id",)),
    Situation("lookup", "a punctuated PI-PayerId", "BadRequest", LOOKUP, ("payer_id",)),
    Situation("lookup", "no PI-EndToEndId", "BadRequest", LOOKUP, ("end_to_end_id",)),
    Situation("lookup", "neither header", "BadRequest", LOOKUP, ("payer_id", "end_to_end_id")),
    Situation(
        "lookup",
        "a payer whose misses emptied its bucket at another participant",
        "NotFound",
        "info.description: USER scope anti-scan, keyed by (requesting participant, payer)",
    ),
    Situation("update", "another participant's key", "Forbidden", AUTH, inferred=True),
    Situation("update", "a key nobody holds", "NotFound", "OpenAPI updateEntry: 404"),
    Situation("update", "moving the key to another participant", "Forbidden", AUTH, inferred=True),
    Situation(
        "update", "an account number with a dash", INVALID, ERRORS, ("account.account_number",)
    ),
    Situation("update", "a name of 151 characters", INVALID, ERRORS, ("owner.name",)),
    Situation(
        "update",
        "by the donor while a claim waits",
        ACCEPTED,
        "manual §5 footnote 4: the donor may update the account data",
    ),
    Situation("delete", "another participant's key", "Forbidden", AUTH, inferred=True),
    Situation("delete", "a key nobody holds", "NotFound", "OpenAPI deleteEntry: 404"),
    Situation("delete", "a Participant that is not the caller", "Forbidden", AUTH, inferred=True),
    Situation("delete", "a key with an OPEN claim", "EntryLockedByClaim", ERRORS),
    Situation("delete", "a key whose claim waits", "EntryLockedByClaim", ERRORS),
    Situation("delete", "a key whose claim was cancelled", ACCEPTED, ERRORS),
]
