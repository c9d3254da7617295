"""The one source of time.

``now()`` is aware UTC. Tests move time without sleeping, in process with
``freeze``/``advance``, or across processes through ``CLOCK_OFFSET_FILE``: a
file holding a number of seconds added to real time, re-read when it changes.
SQL never calls ``now()`` where time matters; it takes ``now`` as a parameter.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from app import settings

_frozen: datetime | None = None
_offset = timedelta(0)
_file_state: tuple[int, timedelta] = (-1, timedelta(0))


def _file_offset() -> timedelta:
    global _file_state
    path = settings.clock().offset_file
    if not path:
        return timedelta(0)
    try:
        mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return timedelta(0)
    if mtime != _file_state[0]:
        with open(path) as fh:
            text = fh.read().strip()
        _file_state = (mtime, timedelta(seconds=float(text or 0)))
    return _file_state[1]


def now() -> datetime:
    """Current time, aware UTC, including any test offset."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset + _file_offset()


def advance(delta: timedelta) -> None:
    """Move this process's clock forward (or back) by ``delta``."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen += delta
    else:
        _offset += delta


def set_file_offset(path: str, seconds: float) -> None:
    """Write the shared offset file read by every process (dev and tests)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{seconds}\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def freeze(at: datetime | None = None) -> Iterator[None]:
    """Stop this process's clock at ``at`` (default: now) inside the block."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    previous = _frozen
    _frozen = at or now()
    try:
        yield
    finally:
        _frozen = previous


def reset() -> None:
    global _frozen, _offset
    _frozen, _offset = None, timedelta(0)
