"""``Idempotency-Key`` on POST: a repeat gets the first answer, not a second execution.

Rules: the same key with the same request (method, path and body, hashed) replays
the first answer's status, body and content type exactly, marked
``Idempotent-Replayed: true``; the same key with a different request is a 422
naming the header; a repeat while the first is still running is a 409 (two
concurrent duplicates never both execute: whoever inserts the placeholder row
runs, ``ON CONFLICT DO NOTHING`` decides). Keys are per API key. Rows live 24
hours (named query ``idempotency.prune``, run by a cron).

**The answer commits with the work.** A request with a key runs inside a held
transaction (``app.db.Held``): every database use of its handler shares it, its first
statement locks the placeholder (``idempotency.lock``), and the answer is written in
it before it commits. A process that dies after the commit leaves the answer, so a
repeat replays it; one that dies before leaves nothing, and a repeat executes once the
placeholder is older than ``STALE_AFTER``. A registration's work runs in its batch's
transaction (``app.batcher``), so its answer is stored there (``answer_in_batch``). Work
outside PostgreSQL (the lookups' Redis) cannot share a transaction: its answer is
stored right after it.

Only 2xx and 3xx answers are kept. A 4xx or 5xx means nothing was committed (the
held transaction rolls back), so the placeholder is deleted and the client may retry
with the same key, even after correcting the body, instead of having the key pinned
to a request that failed validation for a day.

Why an ASGI middleware and not ``before_request``/``after_request`` hooks: the
hash must cover the exact bytes the client sent, read before Litestar decodes
them and handed on intact to the handler; the stored answer must be the exact
bytes and status that went out, after serialization and after a handler's
exception became problem+json (the inner exception middleware has rendered it by
the time ``send`` reaches us). Hooks see Python objects on both sides and
``after_request`` does not run for exceptions. The middleware sits inside the
auth middleware, on the secured router, because keys are scoped per API key.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
import psycopg
from litestar import MediaType, Response
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.helpers import get_enum_string_value

from app import clock, db
from app.api.errors import ApiError, FieldError, ValidationFailed
from app.api.inputs import read_body
from app.repo import idempotency
from app.repo.idempotency import Stored
from app.security import ApiKey

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEEP_BELOW = 400
"""Answers with a lower status are kept and replayed; others release the key."""
METHODS = frozenset({"POST"})
STALE_AFTER = timedelta(seconds=60)
"""A placeholder this old belongs to a request that died; a repeat may take it over."""
_KEPT_HEADERS = (b"content-type", b"location")
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{1,255}$")
_current: ContextVar[_Slot | None] = ContextVar("idempotency_slot", default=None)


class IdempotencyKeyReused(ValidationFailed):
    name, title = "idempotency-key-reused", "Idempotency-Key reused with another request"


class IdempotencyKeyInProgress(ApiError):
    status, name, title = 409, "idempotency-key-in-progress", "The first request is still running"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def request_hash(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), body))).digest()


class IdempotencyMiddleware:
    """ASGI middleware; see the module docstring for the rules."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", ""))
        if scope["type"] != ScopeType.HTTP or method not in METHODS:
            await self.app(scope, receive, send)
            return
        key, api_key = _header(scope, b"idempotency-key"), scope.get("auth")
        if key is None or not isinstance(api_key, ApiKey):
            await self.app(scope, receive, send)
            return
        if not _KEY_SHAPE.match(key):
            raise ValidationFailed([(HEADER, "format", "1 to 255 printable ASCII characters")])
        body = await read_body(scope, receive)  # InputGuard, before us, checked it
        if body is None:
            return  # the client went away
        path = scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        slot = _Slot(api_key.id, key, method, path, request_hash(method, path, body))
        replay = await anyio.to_thread.run_sync(slot.acquire)
        if replay is not None:
            await _send_replay(send, replay)
            return
        await self._execute(slot, scope, _replaying(body, receive), send)

    async def _execute(self, slot: _Slot, scope: Scope, receive: Receive, send: Send) -> None:
        recorder = _Recorder(send)
        held = db.Held(begin=slot.lock)
        try:
            current = _current.set(slot)
            try:
                with db.holding(held):
                    await self.app(scope, receive, recorder.send)
            finally:
                _current.reset(current)
            kept = recorder.status is not None and recorder.status < KEEP_BELOW
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(slot.finish, held, recorder if kept else None)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(slot.abandon, held)
            raise
        await recorder.flush()


class _Slot:
    """One (API key, Idempotency-Key) row and the request that wants it."""

    def __init__(self, api_key_id: int, key: str, method: str, path: str, body_hash: bytes):
        self.ids = {"api_key_id": api_key_id, "key": key}
        self.method, self.path, self.body_hash = method, path, body_hash
        self.token = datetime.min.replace(tzinfo=UTC)  # its created_at, once we hold it
        self.answered = False  # stored by the transaction of a batch (``answer_in_batch``)

    def acquire(self) -> Stored | None:
        """None: this request must execute. Else the stored answer to replay."""
        with db.pool().connection() as conn:
            for _ in range(3):  # the row may be released between our insert and read
                now = clock.now()
                if idempotency.claim(conn, self.ids, self.method, self.path, self.body_hash, now):
                    self.token = now
                    return None
                row = idempotency.get(conn, self.ids)
                if row is not None:
                    return self._judge(conn, row, now)
        raise IdempotencyKeyInProgress("the first request with this key is still running")

    def _judge(self, conn: db.Conn, row: Stored, now: datetime) -> Stored | None:
        if bytes(row.body_hash) != self.body_hash:
            raise IdempotencyKeyReused(
                [
                    (
                        HEADER,
                        "idempotency_key_reused",
                        "this key was first used with a different method, path or body",
                    )
                ]
            )
        if row.status_code is not None:
            return row
        if idempotency.take_over(conn, self.ids, self.body_hash, now, now - STALE_AFTER):
            self.token = now
            return None
        raise _in_progress()

    def lock(self, conn: db.Conn) -> None:
        """The held transaction's first statement: the key is still ours (409 if a repeat
        took it over while this request waited), and stays ours until it commits."""
        if not idempotency.lock(conn, self.ids, self.token):
            raise _in_progress()

    def store(self, conn: db.Conn, status: int, headers: dict[str, str], body: bytes) -> None:
        idempotency.complete(conn, self.ids, self.token, status, headers, body)

    def finish(self, held: db.Held, answer: _Recorder | None) -> None:
        """After the handler: a kept answer commits with the work (or alone, when the
        work used no transaction here); any other answer rolls the work back and
        releases the key."""
        if answer is None:
            held.rollback()
            self.release()
        elif held.conn is not None:
            self.store(held.conn, *answer.stored())
            held.commit()
        elif not self.answered:
            with db.pool().connection() as conn:
                self.store(conn, *answer.stored())

    def abandon(self, held: db.Held) -> None:
        """The handler raised or the answer could not be stored: nothing is kept."""
        held.rollback()
        self.release()

    def release(self) -> None:
        try:
            with db.pool().connection() as conn:
                idempotency.release(conn, self.ids, self.token)
        except psycopg.Error as exc:  # the database is down: a repeat takes the key over
            log.warning("could not release an Idempotency-Key (%s)", type(exc).__name__)


def _in_progress() -> IdempotencyKeyInProgress:
    return IdempotencyKeyInProgress(
        "the first request with this key is still running; retry shortly",
        errors=[
            FieldError(
                HEADER,
                "idempotency_key_in_progress",
                "a request with this key is being processed",
            )
        ],
        headers={"Retry-After": "1"},
    )


class _BatchAnswer:
    """A registration's answer, stored by its batch (``app.batcher.Answer``)."""

    def __init__(self, slot: _Slot, answer: Callable[[Any], Response[Any]]) -> None:
        self.slot, self.answer = slot, answer

    def lock(self, conn: db.Conn) -> Exception | None:
        try:
            self.slot.lock(conn)
        except IdempotencyKeyInProgress as exc:
            return exc
        return None

    def store(self, conn: db.Conn, result: Any) -> None:
        self.slot.store(conn, *_rendered(self.answer(result)))
        self.slot.answered = True


def answer_in_batch(answer: Callable[[Any], Response[Any]]) -> _BatchAnswer | None:
    """For a handler whose work runs in a batch's transaction (``app.batcher``): what
    stores ``answer(result)`` there, as this request's answer. None when the request
    has no Idempotency-Key."""
    slot = _current.get()
    return None if slot is None else _BatchAnswer(slot, answer)


def _rendered(response: Response[Any]) -> tuple[int, dict[str, str], bytes]:
    """What Litestar will send for ``response`` (a handler's own), as it is stored."""
    media_type = get_enum_string_value(response.media_type or MediaType.JSON)
    headers = {k.lower(): v for k, v in response.headers.items()}
    kept = {k: v for k, v in headers.items() if k.encode() in _KEPT_HEADERS}
    body = response.render(response.content, media_type)
    status = response.status_code or 200  # Response's own default
    return status, {"content-type": media_type, **kept}, body


class _Recorder:
    """Holds the response back until it is stored, then sends it on.

    Storing first means that once a client has an answer, a repeat finds it (not a
    placeholder still marked in progress); the cost is one row write of latency.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._held: list[Message] = []
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in message.get("headers", [])
                if k.lower() in _KEPT_HEADERS
            }
        elif message["type"] == "http.response.body":
            self.body.append(bytes(message.get("body", b"")))
        self._held.append(message)

    def stored(self) -> tuple[int, dict[str, str], bytes]:
        """The answer as it is kept: status, kept headers, body."""
        return self.status or 200, self.headers, b"".join(self.body)

    async def flush(self) -> None:
        held, self._held = self._held, []
        for message in held:
            await self._send(message)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app, then defers."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Any:
        return pending.pop() if pending else await receive()

    return replay


async def _send_replay(send: Send, row: Stored) -> None:
    body = bytes(row.response_body or b"")
    headers = [
        (k.encode("latin-1"), str(v).encode("latin-1"))
        for k, v in (row.response_headers or {}).items()
    ]
    headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    status = row.status_code or 200  # a stored answer always has its status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
