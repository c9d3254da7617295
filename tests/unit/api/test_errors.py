"""Errors as problem+json: the mapping itself, without a database."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from app.api import errors
from app.api.errors import ConflictError, FieldError, ValidationFailed


class Violation(msgspec.Struct):
    """Shaped like app.domain.keys.Violation."""

    field: str
    rule: str
    message: str


class DomainValidationError(Exception):
    """Shaped like app.domain.keys.ValidationError."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("invalid")
        self.violations = violations


class Owner(msgspec.Struct):
    name: str
    tax_id: str = msgspec.field(default="")


class Body(msgspec.Struct, forbid_unknown_fields=True):
    owner: Owner


@post("/body", status_code=200)
async def body(data: JSONBody[Body]) -> dict[str, str]:
    return {"ok": "yes"}


@get("/domain-invalid")
async def domain_invalid() -> None:
    raise DomainValidationError(
        [Violation("owner.tax_id", "cpf_check_digits", "the CPF's check digits do not match")]
    )


@get("/validation-failed")
async def validation_failed() -> None:
    raise ValidationFailed([("key", "key_already_registered", "live entry exists")], status=409)


@get("/conflict")
async def conflict() -> None:
    raise ConflictError("entry is deleting", current="deleting", allowed={"reject", "confirm"})


@pytest.fixture(scope="module")
def client():
    app = Litestar(
        [body, domain_invalid, validation_failed, conflict],
        exception_handlers=errors.exception_handlers(),
        logging_config=None,
    )
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        ({"owner": {"name": 1}}, "owner.name", "type"),
        ({"owner": {}}, "owner.name", "required"),
        ({}, "owner", "required"),
        ({"owner": {"name": "a"}, "extra": 1}, "extra", "unknown_field"),
        ([], "body", "type"),
    ],
)
def test_msgspec_errors_become_field_and_rule(client, payload, field, rule) -> None:
    r = client.post("/body", json=payload)

    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    (error,) = r.json()["errors"]
    assert (error["field"], error["rule"]) == (field, rule)


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        ("Expected `str` of length >= 11", "min_length"),
        ("Expected `str` of length <= 77", "max_length"),
        ("Expected `str` matching regex '^\\d+$'", "pattern"),
        ("Expected `int` >= 1", "minimum"),
        ("Expected `int` <= 500", "maximum"),
        ("Invalid enum value 'X'", "enum"),
        ("Invalid RFC3339 encoded datetime", "format"),
        ("Expected `datetime` with a timezone component", "timezone"),
        ("Something new", "invalid"),
    ],
)
def test_msgspec_messages_map_to_rules(message, rule) -> None:
    assert errors._from_litestar({"key": "a.b", "message": message}) == FieldError(
        "a.b", rule, message
    )


def test_domain_violations_are_422_by_shape(client) -> None:
    r = client.get("/domain-invalid")

    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "field": "owner.tax_id",
            "rule": "cpf_check_digits",
            "message": "the CPF's check digits do not match",
        }
    ]


def test_validation_failed_may_carry_another_status(client) -> None:
    r = client.get("/validation-failed")

    assert r.status_code == 409
    assert r.json()["errors"][0]["rule"] == "key_already_registered"


def test_conflict_error_lists_allowed_triggers_sorted(client) -> None:
    body = client.get("/conflict").json()

    assert (body["status"], body["current"], body["allowed"]) == (
        409,
        "deleting",
        ["confirm", "reject"],
    )


def test_unknown_routes_are_problems_too(client) -> None:
    r = client.get("/nowhere")

    assert r.status_code == 404
    assert r.json()["type"] == "https://dict-connect/problems/not-found"
