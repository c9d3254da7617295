"""/v1/entries against a real database: validation before storage, 202 + outbox, 409s."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from app import db
from app.api.app import create_app
from app.repo.entries import EntryRow
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
    with db.connect(database_url) as conn:
        history = conn.execute(
            "SELECT from_status, to_status, trigger, reason, actor FROM state_history"
        ).fetchall()
    assert history == [
        {
            "from_status": None,
            "to_status": "registering",
            "trigger": "create",
            "reason": "USER_REQUESTED",
            "actor": "api",
        }
    ]
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
    assert r.json()["type"].endswith("/key-already-registered")
    assert r.json()["errors"][0]["rule"] == "key_already_registered"


def test_a_status_change_the_database_refuses_answers_409(api, database_url) -> None:
    """The SQL mirror of the machines is the last guard: its refusal is a 409, not a 500."""
    key = _active_evp(api)
    with db.connect(database_url, autocommit=True) as conn:  # the mirror lacks a transition
        conn.execute("DELETE FROM state_transitions WHERE machine = 'entry' AND trigger = 'update'")

    r = api.patch(f"/v1/entries/{key}", json={"name": "Maria Souza", "reason": "RFB_VALIDATION"})

    assert r.status_code == 409, r.text
    assert "does not allow this status change" in r.json()["detail"]


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
    assert re.fullmatch(r"[A-Za-z0-9_-]+", first["next_cursor"])  # URL-safe as it stands
    exact = api.get("/v1/entries", params={"key_type": "PHONE", "limit": 5}).json()
    assert len(exact["items"]) == 5 and exact["next_cursor"] is None  # the last page says so
    assert api.get("/v1/entries", params={"key_type": "EMAIL"}).json()["items"] == []


def test_a_filter_value_that_cannot_match_is_refused_naming_it(api) -> None:
    for params, field in (({"status": "bogus"}, "status"), ({"key_type": "IBAN"}, "key_type")):
        r = api.get("/v1/entries", params=params)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == field
    r = api.get("/v1/entries", params={"cursor": "not-a-cursor"})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "cursor")


def test_a_delete_without_a_reason_names_the_missing_field(api) -> None:
    r = api.delete(f"/v1/entries/{CPF}")
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "reason", "rule": "required", "message": "the query parameter reason is required"}
    ]


def test_a_body_over_64_kib_is_refused_with_413(api, database_url) -> None:
    body = {**BODY, "owner": {**BODY["owner"], "name": "M" * 70_000}}
    r = api.post("/v1/entries", json=body)
    assert r.status_code == 413
    assert r.json()["errors"][0]["rule"] == "max_size"
    assert outbox_rows(database_url) == []


def test_reading_needs_the_read_scope(api, make_key) -> None:
    r = api.get("/v1/entries", headers=bearer(make_key("entries:write")))
    assert r.status_code == 403


def test_registrations_sharing_a_batch_answer_one_by_one(database_url, redis_url) -> None:
    """Given one batch holding a new key, the same key again, a key already live and an
    entry the database refuses, then the new key is registered once with its call and
    history, both repeats are KeyTaken, and the refused entry fails alone."""
    import psycopg

    from app import queue
    from statemachines import entry

    queue.broker.cache_clear()

    def fields(key: str, key_type: str = "PHONE") -> dict[str, Any]:
        return {
            "key": key,
            "key_type": key_type,
            "participant": "12345678",
            "branch": "1",
            "account_number": "123456",
            "account_type": "CACC",
            "opening_date": "2020-03-01T03:00:00Z",
            "owner_type": "NATURAL_PERSON",
            "owner_tax_id": CPF,
            "owner_name": "Maria da Silva",
            "owner_trade_name": None,
        }

    [live] = entry.register([fields("+5561988880001")])
    assert isinstance(live, EntryRow) and live.status == "registering"
    answers = entry.register(
        [
            fields("+5561988880002"),
            fields("+5561988880002"),
            fields("+5561988880001"),
            fields("+5561988880003", key_type="NOT_A_TYPE"),  # the CHECK refuses it
        ]
    )
    assert isinstance(answers[0], EntryRow) and answers[0].key == "+5561988880002"
    assert isinstance(answers[1], entry.KeyTaken) and isinstance(answers[2], entry.KeyTaken)
    assert isinstance(answers[3], psycopg.errors.CheckViolation)
    with db.connect(database_url) as conn:
        keys = conn.execute("SELECT key FROM entries ORDER BY key").fetchall()
        calls = conn.execute("SELECT subject FROM outbox ORDER BY id").fetchall()
        history = conn.execute("SELECT subject_id FROM state_history ORDER BY id").fetchall()
    assert [k["key"] for k in keys] == ["+5561988880001", "+5561988880002"]
    assert [c["subject"] for c in calls] == [f"entry:{live.id}", f"entry:{answers[0].id}"]
    assert [h["subject_id"] for h in history] == [str(live.id), str(answers[0].id)]
    queue.broker.cache_clear()


def _active_evp(api: TestClient[Any]) -> str:
    """An EVP entry of ours, registered: the DICT generated its key."""
    from app import outbox
    from statemachines import entry

    body = {k: v for k, v in BODY.items() if k != "key"} | {"key_type": "EVP"}
    entry_id = api.post("/v1/entries", json=body).json()["id"]
    key = "123e4567-e89b-42d3-a456-426614174000"
    with outbox.step(actor="test") as s:
        entry.registered(s, entry_id, key)
    return key


def test_an_evp_key_is_updated_only_for_the_receita_federal(api, database_url) -> None:
    key = _active_evp(api)
    change = {"name": "Maria da Silva Souza"}

    r = api.patch(f"/v1/entries/{key}", json=change | {"reason": "BRANCH_TRANSFER"})

    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("reason", "evp_update_reason")
    assert "RFB_VALIDATION" in error["message"]
    assert "update_entry" not in [r["actor"] for r in outbox_rows(database_url)]  # nothing sent
    r = api.patch(f"/v1/entries/{key}", json=change | {"reason": "RFB_VALIDATION"})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "updating"
