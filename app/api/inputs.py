"""Input the database cannot store is refused at the door, as a 4xx naming the field.

Some input passes Litestar and msgspec and then fails far from the request, as a 500:

- a NUL character (``\\u0000`` in JSON, ``%00`` in a URL): PostgreSQL refuses it in
  text and jsonb;
- a UTC offset beyond ±15:59 (``…T03:00:00+16:00``): RFC 3339, msgspec and Python
  allow up to ±23:59, PostgreSQL's ``timestamptz`` does not;
- a body nested deeper than msgspec decodes (``RecursionError``).

``InputGuard`` checks every request's path parameters, query and JSON body once, after
routing and authentication and before anything else reads them: idempotency, the
handler, and the registrations' group commit (``app.batcher``), where one bad member
would fail its whole batch's statement and make every member run again alone. A NUL
or an offset is a 422 naming the field (``owner.name``, ``keys[0]``) and the rule
(``no_nul``, ``timezone``); a body deeper than ``MAX_DEPTH`` is a 400 about the body.
An offset is judged by shape (a string that is a date and time ending in one), so a
date sent in a field typed ``str`` and parsed later is caught too.

The guard reads the body for everyone behind it and hands it on unchanged. A client
that goes away before sending all of it ends its request here: an INFO line and a
499 (nginx's "client closed request") that nobody receives, for the access log and the
metrics; not an ERROR with a traceback from deep inside Litestar.

Only a body that may hold something to refuse (an escape such as ``\\u0000``, an offset
of 16 hours or more, many brackets) is decoded here: the common body is decoded once,
by Litestar.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar.enums import ScopeType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, Receive, Scope, Send

from app.api.errors import MAX_BODY_BYTES, ApiError, FieldError, ValidationFailed

log = logging.getLogger(__name__)

MAX_DEPTH = 32
"""Deepest body accepted (arrays and objects); the deepest real one, an entry, is 2."""
CLIENT_CLOSED_REQUEST = 499

NO_NUL = "may not contain a NUL character"
TIMEZONE = "a UTC offset is at most ±15:59"

# A date and time ending in a UTC offset of 16 hours or more, in the forms RFC 3339,
# msgspec and datetime.fromisoformat read ("+16:00", "+1600", "+16", "+16:00:00").
_TIME = r"\d\d(?::?\d\d(?::?\d\d(?:[.,]\d+)?)?)?"
_FAR_OFFSET = re.compile(rf"^\d{{4}}-?\d\d-?\d\d[Tt ]{_TIME}[+-](?:1[6-9]|[2-9]\d)(?::?\d\d)*$")
_SUSPECT_BODY = re.compile(rb'\\u|[+-](?:1[6-9]|[2-9]\d)(?::?\d\d){0,2}"')


class BodyTooDeep(ApiError):
    status, name, title = 400, "malformed-request", "Bad Request"

    def __init__(self) -> None:
        rule = f"arrays and objects nest at most {MAX_DEPTH} deep"
        super().__init__(rule, errors=[FieldError("body", "max_depth", rule)])


def _broken(value: str, field: str) -> Iterator[FieldError]:
    if "\x00" in value:
        yield FieldError(field, "no_nul", NO_NUL)
    elif _FAR_OFFSET.match(value):
        yield FieldError(field, "timezone", TIMEZONE)


def _shown(name: str) -> str:
    """A name as a field: a NUL in it shown escaped."""
    return name.replace("\x00", "\\u0000")


def parameter_errors(path_params: Mapping[str, Any], query_string: bytes) -> list[FieldError]:
    """What is wrong with the path parameters and the query, by parameter name."""
    found = [
        e
        for name, value in path_params.items()
        if isinstance(value, str)
        for e in _broken(value, name)
    ]
    query = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    for name, value in query:
        if "\x00" in name:
            found.append(FieldError(_shown(name), "no_nul", NO_NUL))
        found.extend(_broken(value, _shown(name)))
    return found


def body_errors(body: bytes) -> list[FieldError]:
    """What is wrong with a JSON body, by dotted path; raises BodyTooDeep."""
    deep = body.count(b"[") + body.count(b"{") > MAX_DEPTH
    if not (deep or _SUSPECT_BODY.search(body)):
        return []
    try:
        value = msgspec.json.decode(body)
    except RecursionError:
        raise BodyTooDeep() from None
    except msgspec.DecodeError:
        return []  # Litestar answers malformed JSON itself
    found: list[FieldError] = []
    _walk(value, "", 0, found)
    return found


def _walk(value: Any, at: str, depth: int, found: list[FieldError]) -> None:
    if isinstance(value, str):
        found.extend(_broken(value, at or "body"))
        return
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise BodyTooDeep()
    if isinstance(value, dict):
        for name, item in value.items():
            field = f"{at}.{_shown(name)}" if at else _shown(name)
            if "\x00" in name:
                found.append(FieldError(field, "no_nul", NO_NUL))
            _walk(item, field, depth + 1, found)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _walk(item, f"{at}[{n}]", depth + 1, found)


async def read_body(scope: Scope, receive: Receive) -> bytes | None:
    """The whole body, or None if the client went away first; at most ``MAX_BODY_BYTES``."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the body on whole, then defers to the real one."""
    pending: list[Any] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Any:
        return pending.pop() if pending else await receive()

    return replay


class InputGuard:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        found = parameter_errors(scope.get("path_params") or {}, scope["query_string"])
        body = await read_body(scope, receive)
        if body is None:
            log.info("the client went away before sending its whole body")
            await send(
                {"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST, "headers": []}
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        found += body_errors(body)
        if found:
            raise ValidationFailed(found)
        await self.app(scope, _replaying(body, receive), send)
