"""An API process that dies right after its work committed leaves an answer a repeat
replays: the stored answer is written in the work's own transaction.

The API runs as a real process. Its crashing variant ends itself (``os._exit``) the
moment the first transaction with outbox rows has committed, before anything else
runs: the instant between the commit and the answer. A second, healthy API process
then gets the repeat, once the in-progress window (``STALE_AFTER``, 60 s, moved on
the shared clock file) has passed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import post
from litestar.params import JSONBody
from litestar.testing import TestClient

from app import clock, db, outbox, settings
from app.api.app import create_app
from app.api.auth import requires
from app.api.idempotency import STALE_AFTER
from app.domain.fixtures import make_cpf
from app.security import create_api_key
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.integration.api.conftest import bearer
from tests.integration.bridge.builders import OURS

CRASH_EXIT = 70
_RUN_API = """
import os, sys
from app import outbox
if os.environ.get("CRASH_AFTER_COMMIT"):
    def crash(dispatches, now):  # the first call after a commit with outbox rows
        if list(dispatches):
            os._exit(int(os.environ["CRASH_AFTER_COMMIT"]))
    outbox.enqueue = crash
from app.cli import main
sys.exit(main(["api", "--host", "127.0.0.1", "--port", sys.argv[1]]))
"""
CPF = "52998224725"
ACCOUNT = {
    "participant": OURS,
    "branch": "1",
    "account_number": "123456",
    "account_type": "CACC",
    "opening_date": "2020-03-01T03:00:00Z",
}
OWNER = {"type": "NATURAL_PERSON", "tax_id": CPF, "name": "Maria da Silva"}
EVP = {"key_type": "EVP", "account": ACCOUNT, "owner": OWNER}
CLAIM = {
    "type": "PORTABILITY",
    "key_type": "PHONE",
    "key": "+5531911110001",
    "account": ACCOUNT,
    "owner": OWNER,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Api:
    """Starts API processes on one database, Redis and clock file."""

    env: dict[str, str]
    log: Path
    api_key: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *, crash: bool = False) -> tuple[subprocess.Popen[bytes], httpx.Client]:
        port = _free_port()
        env = {**self.env, **({"CRASH_AFTER_COMMIT": str(CRASH_EXIT)} if crash else {})}
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", _RUN_API, str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        http.headers.update(bearer(self.api_key))
        deadline = time.monotonic() + 20
        while True:
            try:
                if http.get("/health").status_code == 200:
                    return proc, http
            except httpx.TransportError:
                pass
            assert proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the API never answered /health"
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


@pytest.fixture
def api(
    database_url: str,
    redis_url: str,
    sim: SimulatorHandle,
    make_key: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    from actors.entries import client

    clock_file = tmp_path / "clock-offset"
    clock_file.write_text("0\n")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BRIDGE_ADDRESS": sim.address,
        "PARTICIPANT_ISPB": OURS,
        "CLOCK_OFFSET_FILE": str(clock_file),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.reset()
    client.cache_clear()
    api_env = {**os.environ, **env, "DICT_CONNECT_ENV": "dev", "HEALTH_PORT": "0"}
    api_env["METRICS_PORT"] = "0"
    key = make_key("entries:read", "entries:write", "claims:read", "claims:write")
    runner = Api(api_env, tmp_path / "api.log", key)
    yield runner
    runner.stop()
    client.cache_clear()


def _past_the_in_progress_window() -> None:
    """Every process's clock (the shared file) moves past ``STALE_AFTER``."""
    path = settings.clock().offset_file
    assert path
    clock.set_file_offset(path, STALE_AFTER.total_seconds() + 5)


def _rows(sql: str) -> list[dict[str, Any]]:
    with db.pool().connection() as conn:
        return conn.execute(sql).fetchall()


def _run_the_worker() -> None:
    """Every due DICT call, as the worker would run it."""
    from actors import broker

    due = "SELECT id, actor, args FROM outbox WHERE kind <> 'event' AND status = 'dispatched'"
    for row in _rows(due):
        broker.get_actor(row["actor"]).fn(**row["args"])
        outbox.finish(row["id"])


def _crash_on(api: Api, path: str, body: dict[str, Any], idem: str) -> None:
    """Send the request to a crashing API and check it died after committing."""
    proc, http = api.start(crash=True)
    with pytest.raises(httpx.TransportError):
        http.post(path, json=body, headers={"Idempotency-Key": idem})
    http.close()
    assert proc.wait(10) == CRASH_EXIT


def test_a_registration_repeated_after_a_crash_is_replayed_and_sent_to_the_dict_once(
    api: Api, admin: AdminClient
) -> None:
    _crash_on(api, "/v1/entries", EVP, "evp-1")
    (stored,) = _rows("SELECT id FROM entries")  # the work committed before the crash

    _past_the_in_progress_window()
    _, http = api.start()
    repeat = http.post("/v1/entries", json=EVP, headers={"Idempotency-Key": "evp-1"})
    again = http.post("/v1/entries", json=EVP, headers={"Idempotency-Key": "evp-1"})
    http.close()

    assert repeat.status_code == 202, repeat.text
    assert repeat.headers["idempotent-replayed"] == "true"
    assert repeat.json()["id"] == str(stored["id"])
    assert repeat.json()["status"] == "registering"  # the original answer, as it was then
    assert repeat.headers["location"] == f"/v1/entries/{stored['id']}"
    assert again.content == repeat.content
    assert _rows("SELECT count(*) AS n FROM entries") == [{"n": 1}]
    _run_the_worker()
    counts = admin.get_call_counts()
    assert counts.by_method["CreateEntry"] == 1 and counts.entries_created == 1


def test_a_claim_repeated_after_a_crash_is_replayed_not_refused(api: Api) -> None:
    _crash_on(api, "/v1/claims", CLAIM, "claim-1")
    (stored,) = _rows("SELECT id FROM claims")

    _past_the_in_progress_window()
    _, http = api.start()
    repeat = http.post("/v1/claims", json=CLAIM, headers={"Idempotency-Key": "claim-1"})
    http.close()

    assert repeat.status_code == 202, repeat.text  # not a 409 "a claim is already open"
    assert repeat.headers["idempotent-replayed"] == "true"
    assert repeat.json()["id"] == str(stored["id"])
    assert _rows("SELECT count(*) AS n FROM claims") == [{"n": 1}]


# --- the answer is stored where the work commits -------------------------------------


@pytest.fixture
def client(
    database_url: str, redis_url: str, make_key: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient[Any]]:
    from app import queue

    monkeypatch.setenv("PARTICIPANT_ISPB", OURS)
    settings.reset()
    queue.broker.cache_clear()
    Slow.entered, Slow.release, Slow.calls = threading.Event(), threading.Event(), 0
    app = create_app(extra_route_handlers=[slow_work])
    with TestClient(app) as c:
        c.headers.update(bearer(make_key("entries:read", "entries:write", "test:write")))
        yield c
    Slow.release.set()
    queue.broker.cache_clear()


def registration(n: int) -> dict[str, Any]:
    cpf = make_cpf(5000 + n)
    owner = {**OWNER, "tax_id": cpf}
    return {"key_type": "CPF", "key": cpf, "account": ACCOUNT, "owner": owner}


def test_registrations_sharing_a_batch_each_replay_the_answer_they_were_sent(
    client: TestClient[Any],
) -> None:
    def register(n: int) -> httpx.Response:
        headers = {"Idempotency-Key": f"reg-{n}"} if n % 3 else {}  # some without a key
        return client.post("/v1/entries", json=registration(n), headers=headers)

    with ThreadPoolExecutor(12) as pool:
        first = list(pool.map(register, range(24)))
    repeats = {n: register(n) for n in range(24) if n % 3}

    assert {r.status_code for r in first} == {202}
    for n, repeat in repeats.items():
        assert repeat.headers["idempotent-replayed"] == "true"
        assert repeat.status_code == 202
        assert repeat.content == first[n].content  # byte for byte what was sent
        assert repeat.headers["location"] == first[n].headers["location"]
        assert repeat.headers["content-type"] == first[n].headers["content-type"]
    assert _rows("SELECT count(*) AS n FROM entries") == [{"n": 24}]


class Slow:
    """``/test/slow-work`` stops its first execution before any database work until
    ``release`` is set; every execution then creates an API key named after it."""

    entered = threading.Event()
    release = threading.Event()
    calls = 0


@post(
    "/test/slow-work",
    operation_id="testSlowWork",
    guards=[requires("test:write")],
    sync_to_thread=True,
)
def slow_work(data: JSONBody[dict[str, str]]) -> dict[str, str]:
    Slow.calls += 1
    name = f"work-{Slow.calls}"
    if Slow.calls == 1:
        Slow.entered.set()
        assert Slow.release.wait(30), "the test never released the first execution"
    with db.pool().connection() as conn:  # the request's held transaction
        create_api_key(conn, name, ["test:read"])
    return {"done": name}


def test_a_request_whose_key_was_taken_over_while_it_waited_does_no_work(
    client: TestClient[Any],
) -> None:
    """A first request slower than ``STALE_AFTER`` loses its key to a repeat: only the
    repeat's work commits, and the key answers the repeat's answer."""
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            client.post, "/test/slow-work", json={"a": "b"}, headers={"Idempotency-Key": "slow"}
        )
        assert Slow.entered.wait(10), "the first request never reached its handler"
        with db.pool().connection() as conn:  # it has been running for two minutes
            conn.execute("UPDATE idempotency_keys SET created_at = created_at - interval '2 min'")
        repeat = client.post(
            "/test/slow-work", json={"a": "b"}, headers={"Idempotency-Key": "slow"}
        )
        Slow.release.set()
        slow = first.result()
    again = client.post("/test/slow-work", json={"a": "b"}, headers={"Idempotency-Key": "slow"})

    assert repeat.status_code == 201 and repeat.json() == {"done": "work-2"}
    assert slow.status_code == 409
    assert slow.json()["errors"][0]["rule"] == "idempotency_key_in_progress"
    assert again.content == repeat.content and again.headers["idempotent-replayed"] == "true"
    names = _rows("SELECT name FROM api_keys WHERE name LIKE 'work-%' ORDER BY name")
    assert names == [{"name": "work-2"}]
