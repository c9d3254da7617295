"""/v1/events: the event log, for core banking to catch up from an id (docs/events.md).

The Redis streams push each event once it is published; this route reads the same events
from PostgreSQL, which keeps them ``EVENT_RETENTION_DAYS``. Ids become visible in the
order they are given (``app/repo/event_log.py``), so a consumer that read up to an id and
asks for what comes after it misses nothing, whatever committed late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from app import db
from app.api.auth import requires
from app.api.errors import PROBLEM_MEDIA_TYPE, ApiError, Problem
from app.repo import event_log

MAX_ID = 2**63 - 1


class Event(msgspec.Struct):
    id: int
    """The event's id (``event_id`` in the Redis streams)."""
    topic: str
    occurred_at: datetime
    """When the change it reports happened."""
    payload: dict[str, Any]
    """The topic's payload (docs/events.md)."""


class EventPage(msgspec.Struct):
    items: list[Event]
    next_after: int
    """Pass it as ``after`` next time: the last id answered, or ``after`` when none is
    newer. A full page (``limit`` items) means more are waiting."""


class EventsPruned(ApiError):
    """Events after ``after`` were removed by retention before the consumer read them."""

    status, name, title = 410, "events-pruned", "Events after this id were removed"


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @get(
        "/",
        operation_id="listEvents",
        guards=[requires("events:read")],
        sync_to_thread=True,
        responses={
            410: ResponseSpec(
                Problem,
                description="Retention removed events after `after` before they were read"
                " (problem type events-pruned): the `detail` names the id to resume from",
                media_type=PROBLEM_MEDIA_TYPE,
            )
        },
    )
    def list_(
        self,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> EventPage:
        """The events after the id ``after``, in id order (``after=0``: from the oldest
        kept). 410 when retention removed events after ``after``."""
        with db.pool().connection() as conn:
            rows = event_log.after(conn, after, limit)
            pruned = event_log.pruned_through(conn)  # after the rows: a prune between says 410
        if 0 < after < pruned:
            raise EventsPruned(
                f"events up to id {pruned} were removed (EVENT_RETENTION_DAYS) before you read"
                f" them: resynchronise from the resources, then resume with after={pruned}"
            )
        items = [Event(r.id, r.topic, r.occurred_at, r.payload) for r in rows]
        return EventPage(items, items[-1].id if items else after)
