"""Open routes: /health, /ready, /metrics and the OpenAPI document."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

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
            "INSERT INTO outbox (actor, status, deliver_at, created_at, finished_at, last_error)"
            " VALUES ('probe', 'pending', now() - interval '5 minutes', now(), NULL, NULL),"
            "        ('probe', 'failed', now(), now(), now(), 'boom')"
        )
    text = client.get("/metrics").text
    assert "dict_outbox_due_rows 1.0" in text
    assert "dict_outbox_dead_rows 1.0" in text
    oldest = float(text.split("\ndict_outbox_oldest_due_seconds ")[1].split()[0])
    assert 290 < oldest < 400


def test_metrics_show_events_core_banking_has_not_been_given(client, database_url) -> None:
    """An event committed 5 minutes ago and never published (no worker, no relay)."""
    from app import db

    with db.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox (actor, queue, kind, args, status, deliver_at, created_at)"
            " VALUES ('publish_event', 'events', 'event', '{\"topic\": \"entries.created\"}',"
            "         'pending', now() + interval '1 day', now() - interval '5 minutes')"
        )
    text = client.get("/metrics").text
    assert "dict_events_unpublished 1.0" in text
    oldest = float(text.split("\ndict_events_oldest_unpublished_seconds ")[1].split()[0])
    assert 290 < oldest < 400


def test_scrapes_in_a_loop_read_the_database_once_per_interval(
    client, database_url, monkeypatch
) -> None:
    """/metrics is open: 10 scrapes in a row cost PostgreSQL one round of the gauges'
    queries, and a scrape after the interval sees what changed meanwhile."""
    from app import db
    from app.api import system

    computed: list[int] = []
    compute = system._backlog_metrics
    monkeypatch.setattr(system, "_backlog_metrics", lambda: computed.append(1) or compute())
    clock_s = [1000.0]
    monkeypatch.setattr(system.time, "monotonic", lambda: clock_s[0])
    for _ in range(10):
        assert "dict_outbox_dead_rows 0.0" in client.get("/metrics").text
    assert len(computed) == 1
    with db.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox (actor, status, deliver_at, created_at, finished_at, last_error)"
            " VALUES ('probe', 'failed', now(), now(), now(), 'boom')"
        )
    clock_s[0] += system.DB_GAUGES_EVERY_S - 1
    assert "dict_outbox_dead_rows 0.0" in client.get("/metrics").text  # not yet
    clock_s[0] += 1
    assert "dict_outbox_dead_rows 1.0" in client.get("/metrics").text
    assert len(computed) == 2


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


def test_openapi_documents_the_domain_rules_and_every_error(database_url, redis_url) -> None:
    from litestar.testing import TestClient

    from app.api.app import create_app

    with TestClient(create_app()) as api:
        doc = api.get("/schema/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert schemas["EntryCreate"]["properties"]["key_type"]["enum"] == [
        "CPF",
        "CNPJ",
        "PHONE",
        "EMAIL",
        "EVP",
    ]
    assert schemas["AccountIn"]["properties"]["participant"]["pattern"] == "^(?:[0-9]{8})$"
    name = schemas["OwnerIn"]["properties"]["name"]
    assert name["maxLength"] == 150
    ops = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}
    status = {p["name"]: p for p in ops["listClaims"]["parameters"]}["status"]
    assert "waiting_resolution" in next(s for s in status["schema"]["oneOf"] if "enum" in s)["enum"]
    assert {"401", "403", "404", "409", "422", "503"} <= set(ops["deleteEntry"]["responses"])
    assert {"409", "413", "422"} <= set(ops["createEntry"]["responses"])
    assert "404" in ops["getClaim"]["responses"] and "413" not in ops["getClaim"]["responses"]


def test_the_docs_page_serves_its_own_assets(database_url, redis_url) -> None:
    """The docs page works without internet: Swagger UI comes from the API itself."""
    from litestar.testing import TestClient

    from app.api.app import create_app

    with TestClient(create_app()) as api:
        page = api.get("/schema/swagger").text
        script = api.get("/schema/assets/swagger-ui-bundle.js")
        style = api.get("/schema/assets/swagger-ui.css")
    assert "/schema/assets/swagger-ui-bundle.js" in page
    assert "unpkg" not in page and "cdn" not in page.lower()
    assert script.status_code == 200 and len(script.content) > 100_000
    assert style.status_code == 200


def _ready_counts(metrics_dir: Path) -> dict[int, float]:
    """``GET /ready`` requests counted per API worker process (its pid), from the files
    prometheus-client writes in multiprocess mode."""
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, _ = json.loads(key)
            if name == "dict_connect_http_requests_total" and labels["path"] == "/ready":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def _scraped_ready_requests(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}).text
    for line in text.splitlines():
        if line.startswith("dict_connect_http_requests_total{") and 'path="/ready"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@contextlib.contextmanager
def _api(env: dict[str, str], port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the API exited"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)  # ok: waiting for a real process to answer
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_with_several_workers_metrics_count_every_workers_requests(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """``dict-connect api --workers 2`` with PROMETHEUS_MULTIPROC_DIR (the chart sets it
    for more than one worker): whichever worker answers /metrics counts the requests
    both served; a restart counts from zero (the directory is emptied of the last run's
    files, whose pids a new process may reuse)."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DICT_CONNECT_ENV": "dev",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with _api(env, port) as url:
        sent = 0
        while len(_ready_counts(metrics_dir)) < 2:  # until both workers served some
            assert sent < 500, f"one worker served every request: {_ready_counts(metrics_dir)}"
            httpx.get(f"{url}/ready", headers={"Connection": "close"})
            sent += 1
        # A new connection per scrape, so both workers answer some of them.
        assert [_scraped_ready_requests(url) for _ in range(8)] == [float(sent)] * 8
    with _api(env, port) as url:
        for _ in range(3):
            httpx.get(f"{url}/ready", headers={"Connection": "close"})
        assert _scraped_ready_requests(url) == 3.0
