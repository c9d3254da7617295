"""The DICT's rate-limit buckets of ours (``sql/queries/rate_limits.sql``):
``rate_limit_policies`` (the policies with our thresholds and their level) and
``rate_limit_readings`` (each poll's reading, monthly partitions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from app import db
from app.repo import many, one, run
from app.repo.spine import PARTITIONS_AHEAD, Partition


class Reading(msgspec.Struct, frozen=True):
    """One policy's bucket as the DICT reported it (``BucketState``), with the level our
    thresholds give it."""

    name: str
    category: str | None
    """The participant's category for a policy it sizes; None for a fixed policy."""
    scope: str
    available_tokens: int
    capacity: int
    refill_tokens: int
    refill_period_s: int
    level: str = "ok"


class Thresholds(msgspec.Struct, frozen=True):
    """A policy's thresholds, and the level its previous reading left (``record_policies``)."""

    name: str
    warning_pct: float
    critical_pct: float
    level: str = "ok"


class PolicyRow(msgspec.Struct, frozen=True):
    """A policy with its latest reading (``available_tokens`` None before the first)."""

    name: str
    category: str | None
    scope: str
    capacity: int
    refill_tokens: int
    refill_period_s: int
    warning_pct: float
    critical_pct: float
    level: str
    last_read_at: datetime | None
    updated_at: datetime
    available_tokens: int | None


class ReadingRow(msgspec.Struct, frozen=True):
    policy: str
    read_at: datetime
    available_tokens: int
    capacity: int
    refill_tokens: int
    refill_period_s: int
    category: str | None


class GaugeRow(msgspec.Struct, frozen=True):
    """The newest poll's instant (None: never polled) and one policy it read (None when
    nothing was read yet)."""

    newest_read_at: datetime | None
    policy: str | None
    level: str | None
    available_tokens: int | None
    capacity: int | None


def _columns(readings: Sequence[Reading]) -> dict[str, list[object]]:
    return {
        "names": [r.name for r in readings],
        "categories": [r.category for r in readings],
        "capacities": [r.capacity for r in readings],
        "refill_tokens": [r.refill_tokens for r in readings],
        "refill_periods": [r.refill_period_s for r in readings],
    }


def record_policies(
    conn: db.Conn, readings: Sequence[Reading], now: datetime
) -> dict[str, Thresholds]:
    """Upsert the policies ``readings`` name (sorted by name: the rows are locked in
    that order until commit); by name, their thresholds and their previous level."""
    params = {**_columns(readings), "scopes": [r.scope for r in readings], "now": now}
    return {t.name: t for t in many(conn, "rate_limits.record_policies", params, Thresholds)}


def record_readings(conn: db.Conn, readings: Sequence[Reading], now: datetime) -> None:
    """Append one reading per policy at ``now`` and set each policy's level."""
    params = {
        **_columns(readings),
        "available": [r.available_tokens for r in readings],
        "levels": [r.level for r in readings],
        "now": now,
    }
    run(conn, "rate_limits.record_readings", params)


class _LastRead(msgspec.Struct, frozen=True):
    last_read_at: datetime | None


def last_read_at(conn: db.Conn) -> datetime | None:
    """When the newest reading was taken; None if none was."""
    found = one(conn, "rate_limits.last_read_at", {}, _LastRead)
    return found.last_read_at if found else None


def policies(conn: db.Conn) -> list[PolicyRow]:
    return many(conn, "rate_limits.policies", {"name": None}, PolicyRow)


def policy(conn: db.Conn, name: str) -> PolicyRow | None:
    return one(conn, "rate_limits.policies", {"name": name}, PolicyRow)


def lock_policy(conn: db.Conn, name: str) -> Thresholds | None:
    """The policy's thresholds, its row locked until commit; None if unknown."""
    return one(conn, "rate_limits.lock_policy", {"name": name}, Thresholds)


def set_thresholds(
    conn: db.Conn, name: str, warning_pct: float, critical_pct: float, now: datetime
) -> None:
    params = {"name": name, "warning_pct": warning_pct, "critical_pct": critical_pct, "now": now}
    run(conn, "rate_limits.set_thresholds", params)


def readings(
    conn: db.Conn,
    name: str,
    *,
    since: datetime | None,
    until: datetime | None,
    before: datetime | None,
    limit: int,
) -> list[ReadingRow]:
    """Newest first: ``since <= read_at < until``, and older than ``before`` (the cursor)."""
    params = {"name": name, "since": since, "until": until, "before": before, "limit": limit}
    return many(conn, "rate_limits.readings", params, ReadingRow)


def gauges(conn: db.Conn) -> list[GaugeRow]:
    """At least one row (see ``GaugeRow``)."""
    return many(conn, "rate_limits.gauges", {}, GaugeRow)


def keep_partitions(
    conn: db.Conn, now: datetime, retention_months: int, ahead: int = PARTITIONS_AHEAD
) -> list[Partition]:
    """The maintenance step (``actors.spine.maintenance``): create the readings'
    partitions of ``now``'s month and ``ahead`` more, drop those whose whole month is
    older than ``retention_months``. Idempotent, and safe with two callers at once
    (``rate_limit_partitions()``, migration 0017); returns what it did."""
    params = {"now": now, "ahead": ahead, "retention_months": retention_months}
    return many(conn, "rate_limits.partitions", params, Partition)
