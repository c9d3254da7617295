"""/v1/rate-limits: the DICT's rate-limit buckets of ours, as the DICT reads them, and
the thresholds that judge them (docs/rate_limits.md).

The policies are what the DICT's ListBucketStates reports for our participant: the
``poll_rate_limits`` cron reads it every minute (RATE_LIMIT_POLL_S), so a policy appears
after the first reading. Each has our two thresholds, a percentage of its capacity left:
at or below ``warning_pct`` it is ``warning``, at or below ``critical_pct`` ``critical``
(0 < critical_pct < warning_pct < 100); a change of level sends one event
(``rate_limits.threshold_crossed``, ``rate_limits.recovered``). New thresholds judge the
next reading.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, patch
from litestar.params import FromPath, JSONBody, QueryParameter

from app import clock, db
from app.api import pagination
from app.api.auth import requires
from app.api.errors import NotFoundError, ValidationFailed, refuse
from app.domain import bucket_levels
from app.repo import rate_limits
from app.repo.rate_limits import PolicyRow, ReadingRow


class ThresholdsUpdate(msgspec.Struct, forbid_unknown_fields=True):
    warning_pct: float | None = None
    """Warning at or below this % of capacity left; absent: unchanged."""
    critical_pct: float | None = None
    """Critical at or below this % of capacity left; absent: unchanged."""


class LatestReading(msgspec.Struct):
    read_at: datetime
    available_tokens: int
    """Tokens left (negative: the bucket is in debt)."""
    percent_left: float
    """``available_tokens`` as a % of ``capacity``, one decimal."""


class Policy(msgspec.Struct):
    name: str
    category: str | None
    """The participant's category (A–H) for a policy it sizes; None for a fixed one."""
    scope: str
    capacity: int
    refill_tokens: int
    refill_period_s: int
    warning_pct: float
    critical_pct: float
    level: str
    """ok, warning or critical: the level of the latest reading."""
    latest: LatestReading | None
    """The latest reading; None before the first."""
    updated_at: datetime


class PolicyList(msgspec.Struct):
    items: list[Policy]


class Reading(msgspec.Struct):
    read_at: datetime
    available_tokens: int
    capacity: int
    refill_tokens: int
    refill_period_s: int
    category: str | None
    percent_left: float


class ReadingPage(msgspec.Struct):
    items: list[Reading]
    next_cursor: str | None


def _percent(available: int, capacity: int) -> float:
    return round(bucket_levels.percent_left(available, capacity), 1)


def _policy(row: PolicyRow) -> Policy:
    latest = None
    if row.last_read_at is not None and row.available_tokens is not None:
        latest = LatestReading(
            read_at=row.last_read_at,
            available_tokens=row.available_tokens,
            percent_left=_percent(row.available_tokens, row.capacity),
        )
    return Policy(
        name=row.name,
        category=row.category,
        scope=row.scope,
        capacity=row.capacity,
        refill_tokens=row.refill_tokens,
        refill_period_s=row.refill_period_s,
        warning_pct=row.warning_pct,
        critical_pct=row.critical_pct,
        level=row.level,
        latest=latest,
        updated_at=row.updated_at,
    )


def _reading(row: ReadingRow) -> Reading:
    return Reading(
        read_at=row.read_at,
        available_tokens=row.available_tokens,
        capacity=row.capacity,
        refill_tokens=row.refill_tokens,
        refill_period_s=row.refill_period_s,
        category=row.category,
        percent_left=_percent(row.available_tokens, row.capacity),
    )


def _find(conn: db.Conn, name: str) -> PolicyRow:
    row = rate_limits.policy(conn, name)
    if row is None:
        raise NotFoundError("rate-limit policy", name)
    return row


def _instant(field: str, raw: str | None) -> datetime | None:
    """An ISO 8601 instant with its UTC offset; anything else is a 422 naming ``field``
    (parsed here, not by Litestar, whose errors would name the Python parameter)."""
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            [(field, "format", "an ISO 8601 date and time, e.g. 2026-12-03T12:00:00Z")]
        ) from None
    if value.tzinfo is None:
        raise ValidationFailed([(field, "timezone", "give a UTC offset (…Z or …-03:00)")])
    return value


def _before(cursor: str | None) -> datetime | None:
    parts = pagination.decode_parts(cursor, 1)
    if parts is None:
        return None
    try:
        return datetime.fromisoformat(parts[0])
    except ValueError:
        raise ValidationFailed(
            [("cursor", "cursor", "not a cursor from a previous page")]
        ) from None


class RateLimitController(Controller):
    path = "/v1/rate-limits"
    tags = ["rate-limits"]

    @get(
        "/policies",
        operation_id="listRateLimitPolicies",
        guards=[requires("rate_limits:read")],
        sync_to_thread=True,
    )
    def list_(self) -> PolicyList:
        """Every policy the DICT reports for us, by name, with its latest reading."""
        with db.pool().connection() as conn:
            return PolicyList([_policy(r) for r in rate_limits.policies(conn)])

    @get(
        "/policies/{name:str}",
        operation_id="getRateLimitPolicy",
        guards=[requires("rate_limits:read")],
        sync_to_thread=True,
    )
    def get_one(self, name: FromPath[str]) -> Policy:
        """A policy, its thresholds and its latest reading."""
        with db.pool().connection() as conn:
            return _policy(_find(conn, name))

    @get(
        "/policies/{name:str}/readings",
        operation_id="listRateLimitReadings",
        guards=[requires("rate_limits:read")],
        sync_to_thread=True,
    )
    def readings(
        self,
        name: FromPath[str],
        from_: Annotated[str | None, QueryParameter(name="from")] = None,
        to: Annotated[str | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> ReadingPage:
        """A policy's readings, newest first, ``from <= read_at < to``; pass
        ``next_cursor`` back as ``cursor``."""
        since, until = _instant("from", from_), _instant("to", to)
        if since is not None and until is not None and until <= since:
            raise ValidationFailed([("to", "after_from", "must be later than from")])
        before = _before(cursor)
        with db.pool().connection() as conn:
            _find(conn, name)
            rows = rate_limits.readings(
                conn, name, since=since, until=until, before=before, limit=limit + 1
            )
        items = rows[:limit]
        more = len(rows) > limit
        nxt = pagination.encode_parts(items[-1].read_at.isoformat()) if more else None
        return ReadingPage([_reading(r) for r in items], nxt)

    @patch(
        "/policies/{name:str}",
        operation_id="updateRateLimitPolicy",
        guards=[requires("rate_limits:write")],
        sync_to_thread=True,
    )
    def update(self, name: FromPath[str], data: JSONBody[ThresholdsUpdate]) -> Policy:
        """Change the policy's thresholds (% of capacity left): 0 < critical_pct <
        warning_pct < 100. The next reading is judged by them."""
        given = frozenset(
            f for f in ("warning_pct", "critical_pct") if getattr(data, f) is not None
        )
        if not given:
            message = "give warning_pct, critical_pct or both"
            raise ValidationFailed([("warning_pct", "required", message)])
        with db.pool().connection() as conn, conn.transaction():
            current = rate_limits.lock_policy(conn, name)
            if current is None:
                raise NotFoundError("rate-limit policy", name)
            warning = current.warning_pct if data.warning_pct is None else data.warning_pct
            critical = current.critical_pct if data.critical_pct is None else data.critical_pct
            refuse(bucket_levels.threshold_violations(warning, critical, given))
            rate_limits.set_thresholds(conn, name, warning, critical, clock.now())
            return _policy(_find(conn, name))
