"""/v1/fraud-markers against the in-process world: validation naming every field, the
flow to the DICT and back, 409 with the current status, filters and cursor pagination,
and the scopes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from app import db
from app.api import auth
from app.api.app import create_app
from app.domain.fixtures import make_cnpj, make_cpf
from app.security import create_api_key
from tests.integration.claims.conftest import World
from tests.integration.fraud_markers.conftest import (
    close_agreed,
    dict_marker,
    report_against_our_customer,
)

SCOPES = ["fraud_markers:read", "fraud_markers:write"]


def _client(database_url: str, scopes: list[str]) -> TestClient[Any]:
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(conn, f"k-{uuid.uuid4().hex[:8]}", scopes)
    client = TestClient(create_app())
    client.headers["Authorization"] = f"Bearer {key}"
    return client


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[TestClient[Any]]:
    auth.cache.clear()
    with _client(database_url, SCOPES) as client:
        yield client
    auth.cache.clear()


def wrong_digit(tax_id: str) -> str:
    """The tax id with its last check digit wrong."""
    return tax_id[:-1] + str((int(tax_id[-1]) + 1) % 10)


def body(**changes: Any) -> dict[str, Any]:
    return {"tax_id_number": make_cpf(11), "fraud_type": "MULE_ACCOUNT", **changes}


def errors(r: Any) -> set[tuple[str, str]]:
    assert r.status_code == 422, r.text
    return {(e["field"], e["rule"]) for e in r.json()["errors"]}


def test_every_bad_field_is_named_in_one_answer(api: TestClient[Any]) -> None:
    r = api.post(
        "/v1/fraud-markers",
        json={"tax_id_number": "123.456.789-09", "fraud_type": "FRAUD", "key": "not a key"},
    )
    assert errors(r) == {
        ("tax_id_number", "pattern"),
        ("fraud_type", "one_of"),
        ("key", "key_shape"),
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"tax_id_number": wrong_digit(make_cpf(11))}, ("tax_id_number", "cpf_check_digits")),
        ({"tax_id_number": wrong_digit(make_cnpj(11))}, ("tax_id_number", "cnpj_check_digits")),
        ({"tax_id_number": "11111111111"}, ("tax_id_number", "cpf_repeated_digits")),
        ({"tax_id_number": "00000000000000"}, ("tax_id_number", "cnpj_repeated_digits")),
        ({"tax_id_number": "1234567890"}, ("tax_id_number", "pattern")),
        ({"fraud_type": "mule_account"}, ("fraud_type", "one_of")),
        ({"key": "+55 (21) 9"}, ("key", "pattern")),
        ({"key": "Maria@"}, ("key", "pattern")),
        ({"key": make_cpf(12)}, ("key", "key_matches_tax_id_number")),
        ({"key": wrong_digit(make_cpf(11))}, ("key", "cpf_check_digits")),
        ({"key": ""}, ("key", "key_shape")),
    ],
)
def test_each_rule_names_its_field(
    api: TestClient[Any], changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert errors(api.post("/v1/fraud-markers", json=body(**changes))) == {expected}


def test_missing_and_unknown_fields_are_refused(api: TestClient[Any]) -> None:
    missing = api.post("/v1/fraud-markers", json={"fraud_type": "OTHER"})
    assert missing.status_code == 422 and "tax_id_number" in missing.text
    unknown = api.post("/v1/fraud-markers", json=body(participant="12345678"))
    assert unknown.status_code == 422 and "participant" in unknown.text


def test_a_marker_is_registered_shown_and_cancelled_through_the_api(
    api: TestClient[Any], world: World
) -> None:
    r = api.post(
        "/v1/fraud-markers",
        json=body(tax_id_number=make_cnpj(3), key=" Fraude@Empresa.example ", fraud_type="OTHER"),
    )
    assert r.status_code == 202, r.text
    created = r.json()
    assert (created["status"], created["origin"], created["key"]) == (
        "submitting",
        "OURS",
        "fraude@empresa.example",  # normalised as the DICT stores it
    )
    location = r.headers["Location"]
    assert location == f"/v1/fraud-markers/{created['id']}"
    world.run_due()
    shown = api.get(location).json()
    assert shown["status"] == "registered" and shown["dict_id"] and shown["created_at"]
    assert [h["to_status"] for h in shown["history"]] == ["submitting", "registered"]
    the_dict = dict_marker(world, shown["dict_id"])
    assert (the_dict.tax_id_number, the_dict.key) == (make_cnpj(3), "fraude@empresa.example")
    cancelling = api.post(f"{location}/cancel")
    assert cancelling.status_code == 202 and cancelling.json()["status"] == "cancelling"
    again = api.post(f"{location}/cancel")
    assert again.status_code == 409 and again.json()["current"] == "cancelling"
    world.run_due()
    assert api.get(location).json()["status"] == "cancelled"
    assert dict_marker(world, shown["dict_id"]).status == "CANCELLED"
    late = api.post(f"{location}/cancel")
    assert late.status_code == 409
    assert (late.json()["current"], late.json()["allowed"]) == ("cancelled", [])


def test_a_marker_not_yet_registered_cannot_be_cancelled(api: TestClient[Any]) -> None:
    location = api.post("/v1/fraud-markers", json=body()).headers["Location"]
    r = api.post(f"{location}/cancel")
    assert r.status_code == 409
    assert (r.json()["current"], r.json()["allowed"]) == (
        "submitting",
        ["submit_refused", "submitted"],
    )


def test_an_unknown_marker_is_404(api: TestClient[Any]) -> None:
    missing = f"/v1/fraud-markers/{uuid.uuid4()}"
    assert api.get(missing).status_code == 404
    assert api.post(f"{missing}/cancel").status_code == 404


def test_markers_are_listed_by_status_origin_and_tax_id_page_by_page(
    api: TestClient[Any], world: World
) -> None:
    for n in (4, 5, 6):
        assert (
            api.post("/v1/fraud-markers", json=body(tax_id_number=make_cpf(n))).status_code == 202
        )
        world.pass_time(1)  # arrival order, not a tie broken by random ids
    report_id, _, _, tax_id = report_against_our_customer(world, 7)
    close_agreed(world, report_id)
    first = api.get("/v1/fraud-markers", params={"origin": "OURS", "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(
        "/v1/fraud-markers", params={"origin": "OURS", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    listed = [m["tax_id_number"] for m in first["items"] + rest["items"]]
    assert listed == [make_cpf(4), make_cpf(5), make_cpf(6)]  # arrival order
    from_reports = api.get("/v1/fraud-markers", params={"origin": "INFRACTION_REPORT"}).json()
    (recorded,) = from_reports["items"]
    assert (recorded["status"], recorded["infraction_report_id"]) == ("registered", report_id)
    by_tax_id = api.get("/v1/fraud-markers", params={"tax_id_number": make_cpf(5)}).json()
    assert [m["tax_id_number"] for m in by_tax_id["items"]] == [make_cpf(5)]
    registered = api.get("/v1/fraud-markers", params={"status": "registered"}).json()["items"]
    assert [m["tax_id_number"] for m in registered] == [
        make_cpf(4),
        make_cpf(5),
        make_cpf(6),
        tax_id,
    ]


def test_bad_filters_are_named(api: TestClient[Any]) -> None:
    r = api.get(
        "/v1/fraud-markers",
        params={"status": "REGISTERED", "origin": "THEIRS", "tax_id_number": "12345678900"},
    )
    assert errors(r) == {
        ("status", "one_of"),
        ("origin", "one_of"),
        ("tax_id_number", "cpf_check_digits"),
    }
    assert errors(api.get("/v1/fraud-markers", params={"cursor": "!!"})) == {("cursor", "cursor")}


def test_the_scopes_guard_reads_and_writes(world: World, database_url: str) -> None:
    auth.cache.clear()
    with _client(database_url, ["fraud_markers:read"]) as reader:
        assert reader.get("/v1/fraud-markers").status_code == 200
        assert reader.post("/v1/fraud-markers", json=body()).status_code == 403
    with _client(database_url, ["infractions:write"]) as other:
        assert other.get("/v1/fraud-markers").status_code == 403
    auth.cache.clear()
