"""Requests for the simulator tests: valid unless a test breaks them on purpose."""

from __future__ import annotations

import uuid

from app.bridge import dict_bridge_pb2 as pb
from app.domain.fixtures import make_cnpj, make_cpf

OURS = "12345678"
OTHER = "87654321"
OPENING = "2020-03-01T03:00:00Z"
KEY_TYPES = ("CPF", "CNPJ", "PHONE", "EMAIL", "EVP")


def rid() -> str:
    return str(uuid.uuid4())


def account(
    participant: str = OURS, number: str = "1001", branch: str = "1", account_type: str = "CACC"
) -> pb.Account:
    a = pb.Account(
        participant=participant, branch=branch, account_number=number, account_type=account_type
    )
    a.opening_date.FromJsonString(OPENING)
    return a


def person(n: int = 1, name: str = "Maria da Silva") -> pb.Owner:
    return pb.Owner(type="NATURAL_PERSON", tax_id_number=make_cpf(n), name=name)


def company(n: int = 1) -> pb.Owner:
    return pb.Owner(
        type="LEGAL_PERSON",
        tax_id_number=make_cnpj(n),
        name="Padaria Central Ltda",
        trade_name="Padaria Central",
    )


def entry(
    key_type: str = "PHONE",
    n: int = 1,
    participant: str = OURS,
    number: str | None = None,
    owner: pb.Owner | None = None,
) -> pb.Entry:
    """The n-th entry of a key type; the owner is person n (company n for CNPJ)."""
    owner = owner or (company(n) if key_type == "CNPJ" else person(n))
    key = {
        "CPF": owner.tax_id_number,
        "CNPJ": owner.tax_id_number,
        "PHONE": f"+55119{n:08d}",
        "EMAIL": f"cliente{n}@example.com.br",
        "EVP": "",
    }[key_type]
    return pb.Entry(
        key_type=key_type,
        key=key,
        owner=owner,
        account=account(participant, number or str(1000 + n)),
    )


def e2e_id(participant: str = OTHER, n: int = 0) -> str:
    """An EndToEndId as the pacs.008 carries it: E, the payer's PSP ISPB, yyyyMMddHHmm,
    11 alphanumerics (e.g. E12345678202612031200abcdefghijk)."""
    return f"E{participant}202612031200{n:011d}"


def lookup(key: str, by: str = OTHER, payer: int = 1) -> pb.GetEntryRequest:
    """A lookup as the DICT demands one: with PI-PayerId (the payer's CPF) and the
    PI-EndToEndId of the payment that follows. ``by`` is the payer's PSP."""
    return pb.GetEntryRequest(
        key=key, payer_id=make_cpf(900 + payer), end_to_end_id=e2e_id(by, payer)
    )


def create(
    e: pb.Entry, request_id: str | None = None, reason: str = "USER_REQUESTED"
) -> pb.CreateEntryRequest:
    request_id = rid() if request_id is None else request_id
    return pb.CreateEntryRequest(entry=e, reason=reason, request_id=request_id)
