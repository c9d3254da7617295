"""Open routes: /health, /ready, /metrics and the OpenAPI document."""

from __future__ import annotations

from app.api import system
from tests.integration.api.conftest import bearer


def test_health_is_open_and_always_ok_and_says_whether_the_dict_answers(
    client, monkeypatch
) -> None:
    monkeypatch.setattr(system, "bridge_ready", lambda: True)
    r = client.get("/health")

    assert r.status_code == 200
    assert r.json() == {"status": "ok", "details": {"bridge": "up"}}


def test_a_dict_outage_leaves_the_api_ready_and_shows_in_health_and_metrics(
    client, monkeypatch
) -> None:
    """During a DICT outage the API keeps accepting work into the outbox."""
    monkeypatch.setenv("BRIDGE_ADDRESS", "127.0.0.1:1")  # nothing listens there
    from app import settings

    settings.reset()
    system.close_clients()

    ready = client.get("/ready")
    health = client.get("/health")
    metrics = client.get("/metrics").text

    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": True, "redis": True}}
    assert health.status_code == 200
    assert health.json()["details"] == {"bridge": "down"}
    assert "dict_bridge_up 0.0" in metrics


def test_ready_is_503_when_redis_is_down(client, monkeypatch) -> None:
    monkeypatch.setattr(system, "redis_ready", lambda: False)

    r = client.get("/ready")

    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "checks": {"postgres": True, "redis": False}}


def test_metrics_count_requests_by_route_template_and_status(client, make_key) -> None:
    key = make_key("test:read")
    client.get("/test/missing/some-pix-key", headers=bearer(key))

    r = client.get("/metrics")

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = [line for line in r.text.splitlines() if line.startswith("dict_connect_http_")]
    assert any(
        line.startswith("dict_connect_http_requests_total{")
        and 'path="/test/missing/{ref}"' in line
        and 'status_code="404"' in line
        for line in lines
    )
    assert any(
        line.startswith("dict_connect_http_request_duration_seconds_bucket") for line in lines
    )
    assert "some-pix-key" not in r.text


def test_openapi_lists_operations_the_bearer_scheme_and_problems(client) -> None:
    doc = client.get("/schema/openapi.json").json()

    assert doc["info"]["title"] == "dict-connect"
    assert doc["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "dc_<prefix>_<secret>",
        "description": "An API key from `dict-connect apikey create`.",
    }
    ops = {
        op["operationId"]: (path, op) for path, item in doc["paths"].items() for op in item.values()
    }
    assert {"health", "ready", "metrics", "testEcho", "testRead"} <= set(ops)
    _, echo = ops["testEcho"]
    assert echo["security"] == [{"BearerAuth": []}]
    assert {"401", "403", "422"} <= set(echo["responses"])
    assert echo["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert any(p["name"] == "Idempotency-Key" for p in echo["parameters"])
    _, health = ops["health"]
    assert "security" not in health


def test_metrics_show_the_outbox_backlog(client, database_url) -> None:
    from datetime import timedelta

    from app import clock, db, outbox

    with db.connect(database_url, autocommit=True) as conn:
        outbox.write(
            conn,
            [outbox.timer("probe", clock.now() + timedelta(days=7), dedupe_key="later")],
            clock.now(),
        )
        conn.execute(
            "INSERT INTO outbox (actor, status, deliver_at, created_at, last_error)"
            " VALUES ('probe', 'pending', now() - interval '5 minutes', now(), NULL),"
            "        ('probe', 'failed', now(), now(), 'boom')"
        )
    text = client.get("/metrics").text
    assert "dict_outbox_due_rows 1.0" in text
    assert "dict_outbox_dead_rows 1.0" in text
    oldest = float(text.split("\ndict_outbox_oldest_due_seconds ")[1].split()[0])
    assert 290 < oldest < 400


def test_metrics_show_claims_past_a_deadline(client, database_url) -> None:
    import uuid
    from datetime import timedelta

    from app import clock, db

    long_ago = clock.now() - timedelta(days=8)
    with db.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO claims (id, dict_id, role, type, key, key_type, status,"
            " claimer_participant, claimer_account_number, claimer_account_type,"
            " claimer_opening_date, claimer_type, claimer_tax_id, claimer_name, created_at,"
            " resolution_period_end, completion_request_id, inserted_at, updated_at)"
            " VALUES (%s, 'd1', 'DONOR', 'PORTABILITY', '+5511999990000', 'PHONE',"
            " 'waiting_resolution', '87654321', '1', 'CACC', %s, 'NATURAL_PERSON',"
            " '52998224725', 'Ana', %s, %s, %s, now(), now())",
            (uuid.uuid4(), long_ago, long_ago, long_ago + timedelta(days=7), uuid.uuid4()),
        )
    text = client.get("/metrics").text
    assert 'dict_claims_deadline_missed{role="DONOR"} 1.0' in text
    assert 'dict_claims_open{role="DONOR",status="waiting_resolution"} 1.0' in text
