"""Registering, updating and deleting our keys, end to end through real processes."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
import redis as redis_lib

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.domain.fixtures import make_cnpj, make_cpf
from tests.acceptance.conftest import OTHER_ISPB, OUR_ISPB, Stack, wait_until
from tests.integration.bridge.builders import lookup

OPENING = "2020-03-01T03:00:00Z"


def account(number: int, branch: str = "1") -> dict[str, Any]:
    return {
        "participant": OUR_ISPB,
        "branch": branch,
        "account_number": str(number),
        "account_type": "CACC",
        "opening_date": OPENING,
    }


def person(tax_id: str) -> dict[str, Any]:
    return {"type": "NATURAL_PERSON", "tax_id": tax_id, "name": "Maria da Silva"}


def company(tax_id: str) -> dict[str, Any]:
    return {
        "type": "LEGAL_PERSON",
        "tax_id": tax_id,
        "name": "Padaria Central Ltda",
        "trade_name": "Padaria Central",
    }


def entry_body(i: int) -> dict[str, Any]:
    """The i-th key of a batch: the five key types in turn, each on its own account."""
    kind = ("CPF", "CNPJ", "PHONE", "EMAIL", "EVP")[i % 5]
    cpf, cnpj = make_cpf(1000 + i), make_cnpj(1000 + i)
    owner = company(cnpj) if kind == "CNPJ" else person(cpf)
    key = {
        "CPF": cpf,
        "CNPJ": cnpj,
        "PHONE": f"+55119{i:08d}",
        "EMAIL": f"cliente{i}@example.com.br",
        "EVP": None,
    }[kind]
    body = {"key_type": kind, "account": account(100_000 + i), "owner": owner}
    if key is not None:
        body["key"] = key
    return body


def register(http: httpx.Client, bodies: list[dict[str, Any]]) -> list[str]:
    ids = []
    for body in bodies:
        r = http.post("/v1/entries", json=body)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    return ids


def statuses(http: httpx.Client, ids: list[str]) -> Counter[str]:
    return Counter(http.get(f"/v1/entries/{i}").json()["status"] for i in ids)


def all_in(http: httpx.Client, ids: list[str], status: str) -> bool:
    return statuses(http, ids) == Counter({status: len(ids)})


def our_vsyncs(stack: Stack) -> dict[str, str]:
    return {r["key_type"]: f"{int(r['bits'], 2):064x}" for r in stack.query("entries.vsyncs")}


def dict_vsyncs(stack: Stack) -> dict[str, str]:
    admin = stack.admin()
    return {
        kt: admin.get_vsync(OUR_ISPB, kt).vsync for kt in ("CPF", "CNPJ", "PHONE", "EMAIL", "EVP")
    }


def test_keys_of_every_type_become_active_and_vsyncs_match(stack: Stack) -> None:
    with stack.http() as http:
        ids = register(http, [entry_body(i) for i in range(100)])
        wait_until(lambda: all_in(http, ids, "active"), what="100 entries active")
        evp = [http.get(f"/v1/entries/{i}").json() for i in ids[4::5]]
    assert all(uuid.UUID(e["key"]).version == 4 for e in evp)  # the DICT generated them
    assert our_vsyncs(stack) == dict_vsyncs(stack)
    assert "0" * 64 not in our_vsyncs(stack).values()
    events = redis_lib.Redis.from_url(stack.redis_url)
    stream = "dict-connect.events.entries.created"
    wait_until(lambda: events.xlen(stream) == 100, what="100 entries.created events")
    _, fields = events.xrange(stream, count=1)[0]
    assert json.loads(fields[b"payload"])["entry_id"] in ids


def test_update_and_delete_reach_the_dict(stack: Stack) -> None:
    with stack.http() as http:
        ids = register(http, [entry_body(i) for i in range(5)])
        wait_until(lambda: all_in(http, ids, "active"), what="entries active")
        before = http.get(f"/v1/entries/{ids[2]}").json()
        r = http.patch(
            f"/v1/entries/{before['key']}",
            json={"account": account(777, branch="42"), "reason": "BRANCH_TRANSFER"},
        )
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "updating"
        wait_until(lambda: http.get(f"/v1/entries/{ids[2]}").json()["status"] == "active")
        after = http.get(f"/v1/entries/{ids[2]}").json()
        r = http.delete(f"/v1/entries/{after['key']}", params={"reason": "USER_REQUESTED"})
        assert r.status_code == 202, r.text
        wait_until(lambda: http.get(f"/v1/entries/{ids[2]}").json()["status"] == "deleted")
    assert after["account"]["branch"] == "42" and after["cid"] != before["cid"]
    with stack.dict_as(OTHER_ISPB) as other, pytest.raises(problems.NotFound):
        other.get_entry(lookup(after["key"]))
    assert our_vsyncs(stack) == dict_vsyncs(stack)


def test_an_invalid_cpf_is_refused_naming_the_field(stack: Stack) -> None:
    body = entry_body(0)
    body["key"] = body["owner"]["tax_id"] = "52998224724"  # wrong check digit
    with stack.http() as http:
        r = http.post("/v1/entries", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in r.json()["errors"]}
    assert "key" in fields or "owner.tax_id" in fields


def test_a_key_held_elsewhere_keeps_the_dicts_refusal(stack: Stack) -> None:
    body = entry_body(2)  # a phone key
    other_account = pb.Account(
        participant=OTHER_ISPB, branch="1", account_number="55", account_type="CACC"
    )
    other_account.opening_date.FromJsonString(OPENING)
    with stack.dict_as(OTHER_ISPB) as other:
        other.create_entry(
            pb.CreateEntryRequest(
                entry=pb.Entry(
                    key_type="PHONE",
                    key=body["key"],
                    account=other_account,
                    owner=pb.Owner(
                        type="NATURAL_PERSON",
                        tax_id_number=body["owner"]["tax_id"],
                        name="Maria da Silva",
                    ),
                ),
                reason="USER_REQUESTED",
                request_id=str(uuid.uuid4()),
            )
        )
    with stack.http() as http:
        entry_id = register(http, [body])[0]
        wait_until(lambda: http.get(f"/v1/entries/{entry_id}").json()["status"] == "rejected")
        rejected = http.get(f"/v1/entries/{entry_id}").json()
    assert rejected["problem_type"] == "EntryKeyInCustodyOfDifferentParticipant"


def test_a_psql_update_to_an_illegal_status_is_rejected(stack: Stack) -> None:
    with stack.http() as http:
        entry_id = register(http, [entry_body(0)])[0]
        wait_until(lambda: http.get(f"/v1/entries/{entry_id}").json()["status"] == "active")
    out = subprocess.run(
        [
            "psql",
            stack.database_url,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"UPDATE entries SET status = 'registering' WHERE id = '{entry_id}'",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0
    assert "illegal transition active -> registering" in out.stderr
