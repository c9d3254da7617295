"""While PostgreSQL cannot be reached, every route answers within 2 s: 503 with
Retry-After where it needs the database, its usual answer where it does not (a cached
lookup, liveness, metrics); once PostgreSQL answers again so does the API, and what
it accepted before is all there.

The API talks to PostgreSQL through a TCP proxy in this process (the shared server
keeps running for everyone else). ``blackhole()`` is an outage as the API sees a
server go away: its open connections are cut, and new ones are accepted and never
answered, so the pool's reconnection attempts hang until ``connect_timeout``.
"""

from __future__ import annotations

import contextlib
import functools
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis as redis_lib
from litestar.testing import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app import db, settings
from app.api.app import create_app
from app.domain.fixtures import make_cpf
from app.lookups import index
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.integration.api.conftest import bearer
from tests.integration.bridge.builders import OTHER, OURS, entry

BUDGET_S = 2.0
"""The longest any answer may take while PostgreSQL is unreachable."""
RECOVERY_S = 15.0
"""The API answers again this soon after PostgreSQL does (the pool's reconnection
backoff is bounded by ``app.db.RECONNECT_S``)."""
PAYER = make_cpf(4242)


class PgProxy:
    """A TCP proxy to PostgreSQL that can stop answering (``blackhole``) and come back
    (``resume``)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.forwarding = True
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []  # every socket of ours still open
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                self._open.append(client)
                if not self.forwarding:
                    continue  # accepted, never answered
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.5)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):  # cut by blackhole()
            return
        finally:
            self._close([a, b])

    def _close(self, sockets: list[socket.socket]) -> None:
        for s in sockets:
            with contextlib.suppress(OSError):  # already closed by the other side
                s.shutdown(socket.SHUT_RDWR)
            s.close()
            with self._lock:
                if s in self._open:
                    self._open.remove(s)

    def blackhole(self) -> None:
        """Cut every connection; accept new ones and never answer them."""
        with self._lock:
            self.forwarding = False
            cut = list(self._open)
        self._close(cut)

    def resume(self) -> None:
        """Forward new connections again (those accepted meanwhile are closed)."""
        with self._lock:
            self.forwarding = True
            hung = list(self._open)
        self._close(hung)

    def close(self) -> None:
        self.listener.close()
        self.blackhole()


@pytest.fixture
def proxy(database_url: str) -> Iterator[PgProxy]:
    params = conninfo_to_dict(database_url)
    p = PgProxy(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)))
    yield p
    p.close()


@pytest.fixture
def api(
    database_url: str,
    redis_url: str,
    sim: SimulatorHandle,
    proxy: PgProxy,
    make_key: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient[Any]]:
    from app import queue

    proxied = make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
    monkeypatch.setenv("DATABASE_URL", proxied)
    monkeypatch.setenv("BRIDGE_ADDRESS", sim.address)
    monkeypatch.setenv("PARTICIPANT_ISPB", OURS)
    settings.reset()
    db.close_pool()
    queue.broker.cache_clear()
    key = make_key("admin")
    with TestClient(create_app(), timeout=30) as client:
        client.headers.update(bearer(key))
        yield client
    db.close_pool()
    queue.broker.cache_clear()


def registration(n: int) -> dict[str, Any]:
    cpf = make_cpf(7000 + n)
    return {
        "key_type": "CPF",
        "key": cpf,
        "account": {
            "participant": OURS,
            "branch": "1",
            "account_number": str(30_000 + n),
            "account_type": "CACC",
            "opening_date": "2020-03-01T03:00:00Z",
        },
        "owner": {"type": "NATURAL_PERSON", "tax_id": cpf, "name": "Maria da Silva"},
    }


def e2e(n: int) -> str:
    return f"E{OURS}202612031200{n:011d}"


def lookup(client: TestClient[Any], key: str, n: int) -> httpx.Response:
    return client.get(f"/v1/lookups/{key}", params={"payer_id": PAYER, "end_to_end_id": e2e(n)})


_SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x"}
_PARAMETER = re.compile(r"\{(\w+):(\w+)\}")
_REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("DELETE", "/v1/entries/{ref:str}"): {"params": {"reason": "USER_REQUESTED"}},
    ("PATCH", "/v1/entries/{ref:str}"): {"json": {"name": "Maria Souza"}},
    ("PATCH", "/v1/rate-limits/policies/{name:str}"): {"json": {"warning_pct": 50.0}},
    ("PUT", "/v1/infraction-reports/{report_id:uuid}"): {"json": {"report_details": "more"}},
}
"""What a route needs to get past validation to the database (else: no body, and for a
POST an Idempotency-Key, which alone needs the database)."""
NO_DATABASE = {
    "/health": 200,  # liveness: restarting the API would not bring PostgreSQL back
    "/metrics": 200,  # the database's gauges are left out meanwhile
    "/ready": 503,  # not ready (a probe: no Retry-After)
    "/v1/lookups/{key:str}": 404,  # Redis and the DICT: not one of ours, not in the DICT
    "/v1/suspicious-payers": 200,  # Redis
}
"""Routes that answer without PostgreSQL, and what they answer during its outage."""


def every_route(client: TestClient[Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, route template, request) for every route of the app but the docs."""
    for route in client.app.routes:
        if route.path.startswith("/schema"):
            continue  # the API's own documentation: static
        for method in sorted(getattr(route, "methods", ())):
            if method in ("HEAD", "OPTIONS"):
                continue
            request = dict(_REQUESTS.get((method, route.path), {}))
            if method == "POST":
                request.setdefault("json", {})
                request["headers"] = {"Idempotency-Key": f"outage-{uuid.uuid4()}"}
            path = _PARAMETER.sub(lambda m: _SAMPLES[m[2]], route.path)
            if route.path == "/v1/lookups/{key:str}":  # not ours (says Redis), not in the DICT
                path = "/v1/lookups/+5511987650000"
                request["params"] = {"payer_id": PAYER, "end_to_end_id": e2e(9)}
            yield method, route.path, {"method": method, "url": path, **request}


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def _count(database_url: str, sql: str) -> int:
    with db.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(next(iter(row.values())))


def test_every_route_answers_503_with_retry_after_within_2_s_while_postgres_is_unreachable(
    api: TestClient[Any], proxy: PgProxy, admin: AdminClient, database_url: str, redis_url: str
) -> None:
    accepted = [api.post("/v1/entries", json=registration(n)) for n in range(3)]
    assert [r.status_code for r in accepted] == [202] * 3
    company = entry("CNPJ", 1, participant=OTHER)
    admin.put_entry(company)
    with db.connect(database_url) as conn:  # the lookups' index of our keys, as its cron does
        index.refresh(conn, redis_lib.Redis.from_url(redis_url))
    assert lookup(api, company.key, 1).json()["source"] == "dict"

    proxy.blackhole()
    wrong = []
    for method, template, request in every_route(api):
        r, took = timed(functools.partial(api.request, **request))
        expected = NO_DATABASE.get(template, 503)
        needs_retry_after = template not in NO_DATABASE
        if (
            r.status_code != expected
            or took >= BUDGET_S
            or (needs_retry_after and "retry-after" not in r.headers)
        ):
            wrong.append((method, template, r.status_code, round(took, 2), r.text[:200]))
    cached, took = timed(lambda: lookup(api, company.key, 2))

    assert wrong == [], "\n".join(map(str, wrong))
    assert cached.status_code == 200 and cached.json()["source"] == "cache"  # Redis only
    assert took < BUDGET_S

    proxy.resume()
    deadline = time.monotonic() + RECOVERY_S
    while api.get(f"/v1/entries/{accepted[0].json()['id']}").status_code != 200:
        assert time.monotonic() < deadline, f"the API still failed {RECOVERY_S} s later"
        time.sleep(0.2)
    for r in accepted:  # nothing accepted before the outage is lost
        assert api.get(f"/v1/entries/{r.json()['id']}").json()["status"] == "registering"
    assert api.post("/v1/entries", json=registration(10)).status_code == 202
    assert _count(database_url, "SELECT count(*) FROM entries") == 4  # no 503 stored one
    assert _count(database_url, "SELECT count(*) FROM outbox WHERE actor = 'register_entry'") == 4


def test_registrations_arriving_together_all_answer_503_within_2_s(
    api: TestClient[Any], proxy: PgProxy, database_url: str
) -> None:
    """They queue for the registrations' batch, one batch behind another."""
    assert api.get("/v1/entries").status_code == 200  # the client's API key is verified
    proxy.blackhole()

    def register(n: int) -> tuple[httpx.Response, float]:
        return timed(lambda: api.post("/v1/entries", json=registration(n)))

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(register, range(40)))

    assert {r.status_code for r, _ in answers} == {503}
    assert all("retry-after" in r.headers for r, _ in answers)
    assert max(took for _, took in answers) < BUDGET_S
    proxy.resume()
    assert _count(database_url, "SELECT count(*) FROM entries") == 0
