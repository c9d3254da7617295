"""Every error is RFC 9457 problem+json naming the field and the rule."""

from __future__ import annotations

from tests.integration.api.conftest import bearer

PROBLEM = "application/problem+json"


def test_a_msgspec_type_error_names_the_field_path_and_rule(client, make_key) -> None:
    key = make_key("test:write")

    r = client.post("/test/echo", json={"text": 5}, headers=bearer(key))

    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"] == "https://dict-connect/problems/validation-error"
    assert body["instance"] == "/test/echo"
    assert body["errors"] == [
        {"field": "text", "rule": "type", "message": "Expected `str`, got `int`"}
    ]


def test_missing_and_unknown_fields_name_the_field(client, make_key) -> None:
    key = make_key("test:write")

    missing = client.post("/test/echo", json={"n": 1}, headers=bearer(key)).json()
    unknown = client.post("/test/echo", json={"text": "a", "zz": 1}, headers=bearer(key)).json()

    assert [(e["field"], e["rule"]) for e in missing["errors"]] == [("text", "required")]
    assert [(e["field"], e["rule"]) for e in unknown["errors"]] == [("zz", "unknown_field")]


def test_malformed_json_is_400_about_the_body(client, make_key) -> None:
    r = client.post(
        "/test/echo",
        content=b"{",
        headers={**bearer(make_key("test:write")), "Content-Type": "application/json"},
    )

    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["field"] == "body"


def test_a_dict_problem_keeps_its_dict_name(client, make_key) -> None:
    r = client.get("/test/dict-problem", headers=bearer(make_key("test:read")))

    assert r.status_code == 400
    assert r.json() == {
        "type": "https://dict-connect/problems/EntryAlreadyExists",
        "title": "EntryAlreadyExists",
        "status": 400,
        "detail": "the key already exists",
        "instance": "/test/dict-problem",
        "errors": [{"field": "key", "rule": "already_exists", "message": "already_exists"}],
    }


def test_a_rate_limited_dict_problem_says_when_to_retry(client, make_key) -> None:
    r = client.get("/test/rate-limited", headers=bearer(make_key("test:read")))

    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.json()["type"].endswith("/RateLimited")


def test_an_illegal_trigger_is_409_with_current_state_and_allowed_triggers(
    client, make_key
) -> None:
    r = client.get("/test/conflict", headers=bearer(make_key("test:read")))

    assert r.status_code == 409
    body = r.json()
    assert body["type"] == "https://dict-connect/problems/conflict"
    assert body["current"] == "deleting"
    assert body["allowed"] == ["confirm_deleted", "reject"]
    assert "not allowed" in body["detail"]


def test_not_found(client, make_key) -> None:
    r = client.get("/test/missing/abc", headers=bearer(make_key("test:read")))

    assert r.status_code == 404
    assert r.json()["detail"] == "no entry abc"


def test_a_500_leaks_nothing_and_quotes_the_request_id(client, make_key) -> None:
    r = client.get(
        "/test/boom", headers={**bearer(make_key("test:read")), "X-Request-Id": "req-42"}
    )

    assert r.status_code == 500
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert r.json()["request_id"] == "req-42"
    assert r.headers["x-request-id"] == "req-42"


def test_redis_down_is_a_503_to_retry_and_the_log_never_holds_the_path(
    client, make_key, caplog
) -> None:
    """A lookup's path holds a Pix key: the error log names the route, not the path."""
    r = client.get("/test/redis-down/+5561988880000", headers=bearer(make_key("test:read")))

    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.json()["detail"] == "Redis is unavailable; retry later"
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "GET /test/redis-down/{key}" in logged
    assert "+5561988880000" not in logged
