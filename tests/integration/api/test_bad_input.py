"""Input PostgreSQL or msgspec cannot take answers a 4xx problem naming the field, never 500.

Every documented route is probed from the OpenAPI document (a route added later is
probed too): a NUL character in each string it takes (path, query, body), a UTC offset
beyond ±15:59 in each date-time it takes, a body nested 10,000 deep. A client that
goes away halfway through its body leaves no ERROR and no traceback in the log. None
of it reaches the registrations' group commit (``app.batcher``), where a bad member
would make the whole batch fail and re-run one by one.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn
from litestar.testing import TestClient

from app.api import entries as entries_api
from app.api.app import create_app
from app.security import ADMIN_SCOPE
from tests.integration.api.conftest import bearer

NUL = "a\x00b"
CPF, OURS = "52998224725", "12345678"
OFFSETS = ("+16:00", "-16:00", "+23:59")
Path = tuple[str | int, ...]


# --- requests built from the OpenAPI document -----------------------------------------


class Operation:
    """One documented route, with a plausible value for everything it takes."""

    def __init__(self, method: str, path: str, op: dict[str, Any], components: dict[str, Any]):
        self.method, self.template, self.id = method.upper(), path, op["operationId"]
        self.components = components
        self.path: dict[str, Any] = {}
        self.query: dict[str, Any] = {}
        self.strings: list[tuple[str, str, Path, str | None]] = []  # (where, name, path, format)
        for p in op.get("parameters", []):
            schema = _plain(p["schema"], components)
            value = _example(schema, components, p["name"], (), [])
            where = p["in"]
            if where == "path":
                self.path[p["name"]] = value
            elif where == "query":
                self.query[p["name"]] = value
            else:
                continue
            if schema.get("type") == "string":
                self.strings.append((where, p["name"], (), schema.get("format")))
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        leaves: list[tuple[Path, str | None]] = []
        self.body = _example(content["schema"], components, "", (), leaves) if content else None
        self.strings += [("body", _dotted(p), p, fmt) for p, fmt in leaves]

    def request(self, client: TestClient[Any], where: str, name: str, at: Path, value: str) -> Any:
        path, query, body = dict(self.path), dict(self.query), _copy(self.body)
        if where == "path":
            path[name] = value
        elif where == "query":
            query[name] = value
        else:
            body = _set(body, at, value)
        url = self.template
        for k, v in path.items():
            url = url.replace("{" + k + "}", quote(str(v), safe=""))
        kwargs: dict[str, Any] = {"params": query}
        if body is not None:
            kwargs["json"] = body
        return client.request(self.method, url, **kwargs)

    def __repr__(self) -> str:
        return f"{self.method} {self.template}"


def _plain(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _plain(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "oneOf" in schema:
        return _plain(next(s for s in schema["oneOf"] if s.get("type") != "null"), components)
    return schema


def _example(
    schema: dict[str, Any],
    components: dict[str, Any],
    name: str,
    at: Path,
    leaves: list[tuple[Path, str | None]],
) -> Any:
    """A value for ``schema``; every string in it is recorded in ``leaves``."""
    schema = _plain(schema, components)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _example(v, components, k, (*at, k), leaves) for k, v in props.items()}
    if kind == "array":
        return [_example(schema.get("items", {}), components, name, (*at, 0), leaves)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    fmt = schema.get("format")
    leaves.append((at, fmt))
    if "enum" in schema:
        return schema["enum"][0]
    if fmt == "date-time":
        return "2020-03-01T03:00:00Z"
    if fmt == "uuid":
        return str(uuid.uuid4())
    return "x"


def _dotted(at: Path) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set(body: Any, at: Path, value: Any) -> Any:
    if not at:
        return value
    body[at[0]] = _set(body[at[0]], at[1:], value)
    return body


def operations() -> list[Operation]:
    schema = create_app().openapi_schema.to_schema()
    components = schema.get("components", {}).get("schemas", {})
    return [
        Operation(method, path, op, components)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    ]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def api(
    database_url: str, redis_url: str, make_key: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient[Any]]:
    from app import queue, settings

    monkeypatch.setenv("PARTICIPANT_ISPB", OURS)
    settings.reset()
    queue.broker.cache_clear()
    with TestClient(create_app()) as client:
        client.headers.update(bearer(make_key(ADMIN_SCOPE)))
        yield client
    queue.broker.cache_clear()


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the registrations' group commit runs."""
    sizes: list[int] = []
    run = entries_api._registrations._run

    def recording(items: list[Any]) -> Any:
        sizes.append(len(items))
        return run(items)

    monkeypatch.setattr(entries_api._registrations, "_run", recording)
    return sizes


def _named(response: Any, name: str) -> bool:
    body = response.json()
    return any(e["field"] == name for e in body.get("errors", []))


def _refused(response: Any, where: str, name: str, fmt: str | None) -> bool:
    """A 4xx naming the parameter; a typed path parameter (a uuid) that does not parse
    matches no route, so that 404 names nothing."""
    if where == "path" and fmt is not None:
        return response.status_code == 404
    return 400 <= response.status_code < 500 and _named(response, name)


# --- the tests --------------------------------------------------------------------------


def test_every_documented_route_is_probed() -> None:
    """The probes below see the routes that take the most input."""
    found = {op.id: op for op in operations()}
    assert {"createEntry", "listClaims", "lookupKey", "updateEntry"} <= found.keys()
    assert ("body", "owner.name") in {(w, n) for w, n, *_ in found["createEntry"].strings}
    assert ("query", "deadline_before") in {(w, n) for w, n, *_ in found["listClaims"].strings}


def test_a_nul_character_in_any_string_parameter_is_a_4xx_naming_it(api, batches) -> None:
    """PostgreSQL refuses NUL in text and jsonb: refused at the door, not by the database."""
    wrong = []
    for op in operations():
        for where, name, at, fmt in op.strings:
            r = op.request(api, where, name, at, NUL)
            if not _refused(r, where, name, fmt):
                wrong.append(f"{op} {where} {name}: {r.status_code} {r.text[:200]}")
    assert wrong == []
    assert batches == []  # no NUL reached the group commit


def _entry(**owner: str) -> dict[str, Any]:
    """A registration the API accepts, but for what ``owner`` overrides."""
    return {
        "key_type": "CPF",
        "key": CPF,
        "account": {
            "participant": OURS,
            "branch": "1",
            "account_number": "123456",
            "account_type": "CACC",
            "opening_date": "2020-03-01T03:00:00Z",
        },
        "owner": {"type": "NATURAL_PERSON", "tax_id": CPF, "name": "Maria da Silva", **owner},
    }


def test_a_nul_is_refused_naming_the_field_and_the_rule(api) -> None:
    in_path = api.get("/v1/entries/" + quote("+5561\x00", safe=""))
    in_body = api.post("/v1/entries", json=_entry(name="Maria\x00da Silva"))

    for r, field in ((in_path, "ref"), (in_body, "owner.name")):
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"] == [
            {"field": field, "rule": "no_nul", "message": "may not contain a NUL character"}
        ]


def test_an_offset_beyond_15_59_is_a_422_naming_the_field(api, batches) -> None:
    """PostgreSQL stores offsets up to ±15:59; RFC 3339 (and msgspec) allow up to ±23:59."""
    wrong, probed = [], 0
    for op in operations():
        for where, name, at, fmt in op.strings:
            if fmt != "date-time":
                continue
            for offset in OFFSETS:
                probed += 1
                r = op.request(api, where, name, at, f"2020-03-01T03:00:00{offset}")
                rules = {(e["field"], e["rule"]) for e in r.json().get("errors", [])}
                if r.status_code != 422 or (name, "timezone") not in rules:
                    wrong.append(f"{op} {where} {name} {offset}: {r.status_code} {r.text[:200]}")
    assert probed >= 4 * len(OFFSETS)
    assert wrong == []
    assert batches == []


def test_an_offset_beyond_15_59_in_valid_requests_is_a_422_and_within_it_is_accepted(
    api, batches
) -> None:
    body = _entry()
    body["account"]["opening_date"] = "2020-03-01T03:00:00+16:00"
    far = api.post("/v1/entries", json=body)
    query = api.get("/v1/claims", params={"deadline_before": "2020-03-01T03:00:00-16:00"})

    assert far.status_code == 422, far.text
    assert far.json()["errors"][0]["field"] == "account.opening_date"
    assert query.status_code == 422, query.text
    assert query.json()["errors"][0]["field"] == "deadline_before"
    assert batches == []  # the registration never joined a batch
    near = api.get("/v1/claims", params={"deadline_before": "2020-03-01T03:00:00+15:59"})
    assert near.status_code == 200, near.text
    escaped = json.dumps(body).replace("+16:00", "\\u002b16:00").encode()  # "+" as an escape
    r = api.post("/v1/entries", content=escaped, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["errors"][0]["rule"]) == (422, "timezone")
    body["account"]["opening_date"] = "2020-03-01T03:00:00+15:59"
    assert api.post("/v1/entries", json=body).status_code == 202
    assert batches == [1]


def test_a_body_nested_10_000_deep_is_a_400_about_the_body(api, batches) -> None:
    deep = ("[" * 10_000 + "]" * 10_000).encode()
    wrong = []
    for op in operations():
        if op.body is None:
            continue
        url = op.template
        for k, v in op.path.items():
            url = url.replace("{" + k + "}", quote(str(v), safe=""))
        r = api.request(op.method, url, content=deep, headers={"Content-Type": "application/json"})
        if r.status_code != 400 or not _named(r, "body"):
            wrong.append(f"{op}: {r.status_code} {r.text[:200]}")
    assert wrong == []
    assert batches == []


# --- a client that goes away --------------------------------------------------------------


class Server:
    """The API served by uvicorn on a free port, in a thread."""

    def __init__(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        config = uvicorn.Config(
            create_app(), host="127.0.0.1", port=self.port, log_config=None, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_a_client_leaving_halfway_through_its_body_logs_no_error_and_no_traceback(
    database_url, redis_url, make_key, caplog, batches
) -> None:
    key = make_key("entries:write")
    caplog.set_level(logging.INFO)
    with Server() as server:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(
                b"POST /v1/entries HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n"
                + f"Authorization: Bearer {key}\r\n\r\n".encode()
                + b'{"key_type": "EVP", "acc'
            )
            time.sleep(0.2)  # the request is being read when the client goes
        deadline = time.monotonic() + 10
        while not any(r.name == "dict_connect.access" for r in caplog.records):
            assert time.monotonic() < deadline, "the request was never logged"
            time.sleep(0.01)

    problems = [r for r in caplog.records if r.levelno > logging.INFO or r.exc_info]
    assert problems == []
    assert "Traceback" not in caplog.text
    assert batches == []
