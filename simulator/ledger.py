"""The DICT-side VSyncs and CID events, per participant and key type (DICT.md §3).

Every change of an entry goes through ``added``/``removed``: one XOR into the
VSync and one event appended to the log. Events are kept in compact arrays
(timestamp, type, CID, VSync after the event), so a listing answers
``sync_verifier_start`` (the VSync after its first event) and
``sync_verifier_end`` (after its last) without replaying anything. Entries made
by LoadEntries fold into the VSync without events: they are the base that
existed before the window a participant would list.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field

ADDED, REMOVED = 0, 1
EVENT_TYPES = ("ADDED", "REMOVED")


def vsync_hex(value: int) -> str:
    """Always 64 lowercase hex chars (DICT.md §3: never drop leading zeros)."""
    return f"{value:064x}"


@dataclass
class EventLog:
    times: array[int] = field(default_factory=lambda: array("q"))
    kinds: bytearray = field(default_factory=bytearray)
    cids: bytearray = field(default_factory=bytearray)
    after: bytearray = field(default_factory=bytearray)

    def append(self, at_us: int, kind: int, cid: bytes, vsync_after: int) -> None:
        # Timestamps never go backwards in a log, even when the clock is set back,
        # so that the log stays sorted and listings stay ascending.
        if self.times and at_us < self.times[-1]:
            at_us = self.times[-1]
        self.times.append(at_us)
        self.kinds.append(kind)
        self.cids += cid
        self.after += vsync_after.to_bytes(32, "big")

    def window(self, start_us: int, end_us: int) -> tuple[int, int]:
        """Index range [lo, hi) of events with start <= time <= end."""
        return bisect.bisect_left(self.times, start_us), bisect.bisect_right(self.times, end_us)

    def event(self, k: int) -> tuple[int, str, str]:
        return self.times[k], EVENT_TYPES[self.kinds[k]], self.cids[32 * k : 32 * k + 32].hex()

    def vsync_after(self, k: int) -> str:
        return self.after[32 * k : 32 * k + 32].hex()

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class EventPage:
    events: list[tuple[int, str, str]]
    has_more: bool
    vsync_start: str
    vsync_end: str


class Ledger:
    def __init__(self) -> None:
        self._vsync: dict[tuple[str, str], int] = {}
        self._count: dict[tuple[str, str], int] = {}
        self._logs: dict[tuple[str, str], EventLog] = {}

    def added(self, participant: str, key_type: str, cid: bytes, at_us: int) -> None:
        self._change(participant, key_type, cid, at_us, ADDED, +1)

    def removed(self, participant: str, key_type: str, cid: bytes, at_us: int) -> None:
        self._change(participant, key_type, cid, at_us, REMOVED, -1)

    def fold(self, participant: str, key_type: str, xor: int, count: int) -> None:
        """Bulk-loaded CIDs: into the VSync, without events."""
        k = (participant, key_type)
        self._vsync[k] = self._vsync.get(k, 0) ^ xor
        self._count[k] = self._count.get(k, 0) + count

    def vsync(self, participant: str, key_type: str) -> str:
        return vsync_hex(self._vsync.get((participant, key_type), 0))

    def count(self, participant: str, key_type: str) -> int:
        return self._count.get((participant, key_type), 0)

    def events(
        self, participant: str, key_type: str, start_us: int, end_us: int, limit: int
    ) -> EventPage:
        log = self._logs.get((participant, key_type)) or EventLog()
        lo, hi = log.window(start_us, end_us)
        upto = min(hi, lo + limit)
        events = [log.event(k) for k in range(lo, upto)]
        if events:
            return EventPage(events, upto < hi, log.vsync_after(lo), log.vsync_after(upto - 1))
        at = self._vsync_before(log, lo, participant, key_type)
        return EventPage([], False, at, at)

    def _vsync_before(self, log: EventLog, k: int, participant: str, key_type: str) -> str:
        """The VSync just before event k (the state an empty window saw)."""
        if k > 0:
            return log.vsync_after(k - 1)
        if len(log):
            before = int(log.vsync_after(0), 16) ^ int.from_bytes(log.cids[0:32], "big")
            return vsync_hex(before)
        return self.vsync(participant, key_type)

    def _change(
        self, participant: str, key_type: str, cid: bytes, at_us: int, kind: int, delta: int
    ) -> None:
        k = (participant, key_type)
        value = self._vsync.get(k, 0) ^ int.from_bytes(cid, "big")
        self._vsync[k] = value
        self._count[k] = self._count.get(k, 0) + delta
        log = self._logs.get(k)
        if log is None:
            log = self._logs[k] = EventLog()
        log.append(at_us, kind, cid, value)
