"""The simulator's one clock: real time plus an offset that tests move by RPC.

Every period, timestamp, bucket refill and CID-file timing reads it, so moving it
by AdvanceClock crosses a 7-day resolution period at once and never needs a sleep.
Time is an integer of microseconds since the epoch (UTC) inside the simulator:
exact, cheap to compare and to store in compact records.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

US = 1_000_000


class SimClock:
    """Real time shifted by an offset; AdvanceClock and SetClock change the offset."""

    def __init__(self) -> None:
        self._offset_us = 0

    def now_us(self) -> int:
        return time.time_ns() // 1000 + self._offset_us

    @property
    def offset_seconds(self) -> float:
        return self._offset_us / US

    def advance(self, seconds: float) -> None:
        self._offset_us += round(seconds * US)

    def set(self, at_us: int) -> None:
        self._offset_us = at_us - time.time_ns() // 1000

    def reset(self) -> None:
        self._offset_us = 0


def to_datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, tz=UTC)


def from_datetime(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("aware datetimes only")
    return round(at.timestamp() * US)
