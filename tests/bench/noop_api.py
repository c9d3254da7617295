"""The API benchmark's ceiling: ``POST /bench/entries``, the registration without storage.

    dict-connect api --app tests.bench.noop_api:create_app

The whole API (``app.api.app.create_app``: same middleware, API key check, input guard,
idempotency) plus one route on the secured router. It decodes the same ``EntryCreate``,
validates through the real handler's ``registration`` and answers 202 with the same
``Entry`` body and ``Location``, but never reaches the batcher: no PostgreSQL or Redis
in the request (the API key cache still reads PostgreSQL every few seconds, as in the
real API). ``tests/bench/bench_api.py`` compares ``POST /v1/entries`` with it (issue 16).
"""

from __future__ import annotations

import uuid

from litestar import Litestar, post
from litestar.params import JSONBody
from litestar.response import Response

from app import clock
from app.api import app as api_app
from app.api.auth import requires
from app.api.entries import Entry, EntryCreate, _accepted, registration
from app.repo.entries import EntryRow

PATH = "/bench/entries"


@post(PATH, status_code=202, guards=[requires("entries:write")], include_in_schema=False)
async def register_nothing(data: JSONBody[EntryCreate]) -> Response[Entry]:
    """``EntryController.create`` with the batch's row made here instead of stored."""
    fields = registration(data)
    del fields["trace_context"]  # an outbox row's column, not the entry's
    now = clock.now()
    row = EntryRow(
        id=uuid.uuid4(),
        status="registering",
        request_id=uuid.uuid4(),
        created_at=now,
        updated_at=now,
        **fields,
    )
    return _accepted(row)


def create_app() -> Litestar:
    """The API with the ceiling's route added."""
    return api_app.create_app(extra_route_handlers=[register_nothing])
