"""Synchronisation rules (DICT.md §3; the operating manual's section 9): when a key type's
VSync must be verified, and which side moves when our base and the DICT's disagree.

Pure: no I/O. ``statemachines/sync_run.py`` and ``actors/sync.py`` apply these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KEY_TYPES = ("CPF", "CNPJ", "PHONE", "EMAIL", "EVP")

MAX_GAP = timedelta(hours=36)
"""The longest the DICT allows between two verifications of a key type ("em intervalos
máximos de 36 horas", MO revision 1.1): not a minimum spacing."""

SHARDS = 16
"""A file comparison walks the CIDs in 16 ranges, by first hex digit: one short actor
run each, whatever the base's size."""


def shard_range(shard: int) -> tuple[str, str]:
    """The CIDs of ``shard`` are ``lo <= cid < hi`` (lowercase hex, "C" collation)."""
    lo = "0123456789abcdef"[shard]
    return lo, chr(ord(lo) + 1)  # "9" to ":", "f" to "g": only lowercase hex inside


@dataclass(frozen=True)
class Schedule:
    """When runs start: daily at ``at`` in ``tz``, and at once when a key type's last
    OK verification is older than ``catch_up_after`` (no more often than ``retry_gap``)."""

    at: time
    tz: ZoneInfo
    catch_up_after: timedelta
    retry_gap: timedelta

    def slot(self, now: datetime) -> datetime:
        """The latest daily slot at or before ``now`` (aware, in UTC terms)."""
        local = now.astimezone(self.tz)
        today = datetime.combine(local.date(), self.at, self.tz)
        return (
            today
            if today <= local
            else datetime.combine(local.date() - timedelta(days=1), self.at, self.tz)
        )

    def due(
        self, now: datetime, last_started: datetime | None, last_ok: datetime | None
    ) -> str | None:
        """Why a run of one key type should start now (``scheduled`` or ``catch_up``),
        or None. The caller skips key types that already have an open run."""
        if last_started is None or last_started < self.slot(now):
            return "scheduled"
        stale = last_ok is None or now - last_ok > self.catch_up_after
        if stale and now - last_started >= self.retry_gap:
            return "catch_up"
        return None

    def summary_day(self, now: datetime) -> date:
        """The local day a daily summary published at ``now`` reports on."""
        return now.astimezone(self.tz).date()


class Side(enum.StrEnum):
    """Where a CID was found (the manual's two kinds of divergence)."""

    DICT_ONLY = "dict_only"
    """In the DICT's file or events, not among our CIDs."""
    OURS_ONLY = "ours_only"
    """Among our CIDs, not in the DICT's file (or removed by its events)."""


class Action(enum.StrEnum):
    """What reconciliation does about one divergence (the outcome recorded on it)."""

    INSERT = "inserted"
    """The key is only in the DICT: add it to our base with the DICT's attributes."""
    UPDATE = "updated"
    """The key is in both with different attributes: ours take the DICT's values."""
    REMOVE = "removed"
    """The key is only in our base: remove it from our base."""
    RESOLVED = "resolved"
    """Not a divergence any more: one side moved since the comparison."""
    IN_FLIGHT = "in_flight"
    """An operation of ours on the entry is in flight: its machine settles it; look again."""


IN_FLIGHT_STATUSES = frozenset({"registering", "updating", "deleting"})


@dataclass(frozen=True)
class Ours:
    """Our live entry for the divergence's key (or CID), as reconciliation found it."""

    status: str
    cid: str | None


def decide(side: Side, cid: str, in_dict: bool, ours: Ours | None) -> Action:
    """The decision table of docs/reconciliation.md. ``in_dict``: the DICT has ``cid``
    now (GetEntryByCid answered); ``ours``: our live entry for the key the DICT's entry
    names (DICT_ONLY) or the entry that holds ``cid`` (OURS_ONLY).

    Our base always moves to the DICT's state (manual §9): the DICT is never changed
    here. Reason RECONCILIATION on a DICT operation is for an operator fixing data our
    own processes got wrong (an UpdateEntry through the API), not for this table.
    """
    if ours is not None and ours.status in IN_FLIGHT_STATUSES:
        return Action.IN_FLIGHT
    if side is Side.DICT_ONLY:
        if not in_dict:
            return Action.RESOLVED  # the DICT removed it since its file or event
        if ours is None:
            return Action.INSERT
        return Action.RESOLVED if ours.cid == cid else Action.UPDATE
    if ours is None or ours.cid != cid:
        return Action.RESOLVED  # our entry changed or left since the comparison
    return Action.RESOLVED if in_dict else Action.REMOVE
