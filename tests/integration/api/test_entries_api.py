"""/v1/entries against a real database: validation before storage, 202 + outbox, 409s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from app import db
from app.api.app import create_app
from tests.integration.api.conftest import bearer

CPF = "52998224725"
BODY: dict[str, Any] = {
    "key_type": "CPF",
    "key": CPF,
    "account": {
        "participant": "12345678",
        "branch": "1",
        "account_number": "123456",
        "account_type": "CACC",
        "opening_date": "2020-03-01T03:00:00Z",
    },
    "owner": {"type": "NATURAL_PERSON", "tax_id": CPF, "name": "Maria da Silva"},
}


@pytest.fixture
def api(
    database_url: str, redis_url: str, make_key: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient[Any]]:
    from app import queue, settings

    monkeypatch.setenv("PARTICIPANT_ISPB", "12345678")
    settings.reset()
    queue.broker.cache_clear()
    with TestClient(create_app()) as client:
        client.headers.update(bearer(make_key("entries:read", "entries:write")))
        yield client
    queue.broker.cache_clear()


def outbox_rows(database_url: str) -> list[dict[str, Any]]:
    with db.connect(database_url) as conn:
        return conn.execute("SELECT actor, status FROM outbox ORDER BY id").fetchall()


def test_a_valid_key_is_stored_registering_with_its_call_scheduled(api, database_url) -> None:
    r = api.post("/v1/entries", json=BODY)
    assert r.status_code == 202, r.text
    entry = r.json()
    assert entry["status"] == "registering" and entry["key"] == CPF
    assert r.headers["location"] == f"/v1/entries/{entry['id']}"
    assert outbox_rows(database_url) == [{"actor": "register_entry", "status": "dispatched"}]
    assert api.get(f"/v1/entries/{CPF}").json()["id"] == entry["id"]
    assert api.get(f"/v1/entries/{entry['id']}").json()["key"] == CPF


def test_an_invalid_cpf_is_refused_before_anything_is_stored(api, database_url) -> None:
    body = {**BODY, "key": "52998224724", "owner": {**BODY["owner"], "tax_id": "52998224724"}}
    r = api.post("/v1/entries", json=body)
    assert r.status_code == 422
    errors = {(e["field"], e["rule"]) for e in r.json()["errors"]}
    assert ("key", "cpf_check_digits") in errors
    assert outbox_rows(database_url) == []


def test_a_missing_field_is_named(api) -> None:
    body = {k: v for k, v in BODY.items() if k != "owner"}
    r = api.post("/v1/entries", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "owner"


def test_another_participants_account_is_refused(api) -> None:
    body = {**BODY, "account": {**BODY["account"], "participant": "99999999"}}
    r = api.post("/v1/entries", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "field": "account.participant",
        "rule": "participant_is_ours",
        "message": "entries are registered for our ISPB 12345678",
    }


def test_the_same_key_twice_is_a_conflict(api) -> None:
    assert api.post("/v1/entries", json=BODY).status_code == 202
    r = api.post("/v1/entries", json=BODY)
    assert r.status_code == 409
    assert r.json()["errors"][0]["rule"] == "key_already_registered"


def test_updating_an_entry_still_registering_is_refused_with_its_state(api) -> None:
    entry_id = api.post("/v1/entries", json=BODY).json()["id"]
    r = api.patch(f"/v1/entries/{entry_id}", json={"name": "Maria Souza"})
    assert r.status_code == 409
    body = r.json()
    assert body["current"] == "registering"
    assert body["allowed"] == ["register_refused", "registered"]


def test_delete_needs_a_dict_reason(api) -> None:
    entry_id = api.post("/v1/entries", json=BODY).json()["id"]
    r = api.delete(f"/v1/entries/{entry_id}", params={"reason": "BORED"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reason"


def test_an_unknown_entry_is_404(api) -> None:
    assert api.get("/v1/entries/+5511999999999").status_code == 404


def test_listing_pages_with_a_cursor_and_filters(api) -> None:
    phones = [f"+55119{i:08d}" for i in range(5)]
    for phone in phones:
        body = {
            **BODY,
            "key_type": "PHONE",
            "key": phone,
            "account": {**BODY["account"], "account_number": phone[-6:]},
        }
        assert api.post("/v1/entries", json=body).status_code == 202
    first = api.get("/v1/entries", params={"key_type": "PHONE", "limit": 3}).json()
    second = api.get(
        "/v1/entries", params={"key_type": "PHONE", "limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [e["key"] for e in first["items"] + second["items"]] == phones
    assert second["next_cursor"] is None
    assert api.get("/v1/entries", params={"key_type": "EMAIL"}).json()["items"] == []


def test_reading_needs_the_read_scope(api, make_key) -> None:
    r = api.get("/v1/entries", headers=bearer(make_key("entries:write")))
    assert r.status_code == 403
