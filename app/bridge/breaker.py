"""The bridge client's circuit breaker: pybreaker, without serialising calls."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker

from app.bridge.status import BridgeUnavailable
from app.domain import problems

T = TypeVar("T")
log = logging.getLogger(__name__)


class CircuitOpen(BridgeUnavailable):
    """The breaker is open: the call failed fast, without touching the network."""

    type = "CircuitOpen"


def _is_answer(exc: BaseException) -> bool:
    """Whatever is not a transport failure proves the bridge answered."""
    return not isinstance(exc, BridgeUnavailable)


def _replay(failed: bool) -> None:
    if failed:
        raise BridgeUnavailable("replayed to the breaker")


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    """An opening breaker means every DICT call of this process fails: say so once."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = old_state.name if old_state else None
        log.warning("bridge circuit breaker %s -> %s", old, new_state.name)


class _ClockedStorage(pybreaker.CircuitMemoryStorage):
    """pybreaker's memory storage, timing the open state on ``clock`` (monotonic).

    pybreaker lets a trial call through once its wall clock reaches ``opened_at +
    reset_timeout``. Reporting ``opened_at`` as now minus the seconds ``clock`` has
    counted since the breaker opened makes that test follow ``clock``: immune to
    wall-clock steps, and a test can move it instead of sleeping.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self._clock = clock
        self._opened: float | None = None

    @property
    def opened_at(self) -> datetime | None:
        if self._opened is None:
            return None
        return datetime.now(UTC) - timedelta(seconds=self._clock() - self._opened)

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self._opened = self._clock()


class TransportBreaker:
    """A pybreaker circuit breaker that does not serialise the process's calls.

    ``pybreaker.CircuitBreaker.call`` holds one lock for the whole guarded call, so
    worker threads sharing a client would reach the bridge one at a time. Instead,
    while closed, the call runs unguarded and only its outcome is replayed through
    the breaker (instantly). While open, pybreaker decides: fail fast until the
    reset timeout, then one trial call; other threads fail fast during the trial.
    The reset timeout runs on ``clock`` (``time.monotonic`` unless a test passes one).
    """

    def __init__(
        self, fail_max: int, reset_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._storage = _ClockedStorage(clock)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_s,
            state_storage=self._storage,
            exclude=[_is_answer],
            throw_new_error_on_trip=False,
            name="dict-bridge",
            listeners=[_LogStateChanges()],
        )
        self._trial = threading.Lock()

    @property
    def state(self) -> str:
        """The state by pybreaker's names: closed, open or half-open."""
        return str(self._breaker.current_state)

    def call(self, fn: Callable[[], T]) -> T:
        if self._breaker.current_state == pybreaker.STATE_CLOSED:
            return self._call_closed(fn)
        return self._call_trial(fn)

    def _call_closed(self, fn: Callable[[], T]) -> T:
        try:
            result = fn()
        except problems.DictProblem as exc:
            self._record(failed=not _is_answer(exc))
            raise
        self._record(failed=False)
        return result

    def _record(self, *, failed: bool) -> None:
        if self._breaker.current_state != pybreaker.STATE_CLOSED:
            return  # a late outcome of a call made before the breaker opened tells nothing new
        # Swallow the replayed failure itself: the caller raises the real one.
        with contextlib.suppress(BridgeUnavailable, pybreaker.CircuitBreakerError):
            self._breaker.call(_replay, failed)

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``call`` for a coroutine (the API's lookups, on an event loop): the same
        states, with the trial decided before the call and its outcome replayed after."""
        if self._breaker.current_state == pybreaker.STATE_CLOSED:
            try:
                result = await fn()
            except problems.DictProblem as exc:
                self._record(failed=not _is_answer(exc))
                raise
            self._record(failed=False)
            return result
        wait = self.seconds_until_trial()
        if wait > 0 or not self._trial.acquire(blocking=False):
            raise CircuitOpen("the bridge is failing; calls fail fast", retry_after_s=wait or 1.0)
        try:
            try:
                result = await fn()
            except problems.DictProblem as exc:
                self._replay_trial(failed=not _is_answer(exc))
                raise
            self._replay_trial(failed=False)
            return result
        finally:
            self._trial.release()

    def seconds_until_trial(self) -> float:
        """While open, how long until a trial call may go; 0 when one may go now."""
        opened = self._storage.opened_at
        if self._breaker.current_state != pybreaker.STATE_OPEN or opened is None:
            return 0.0
        due = opened + timedelta(seconds=self._breaker.reset_timeout)
        return max(0.0, (due - datetime.now(UTC)).total_seconds())

    def _replay_trial(self, *, failed: bool) -> None:
        with contextlib.suppress(BridgeUnavailable, pybreaker.CircuitBreakerError):
            self._breaker.call(_replay, failed)

    def _call_trial(self, fn: Callable[[], T]) -> T:
        if not self._trial.acquire(blocking=False):
            raise CircuitOpen("a trial call to the bridge is in flight")
        try:
            return self._breaker.call(fn)
        except pybreaker.CircuitBreakerError:
            raise CircuitOpen(
                f"after {self._breaker.fail_max} transport failures; "
                f"next trial within {self._breaker.reset_timeout} s"
            ) from None
        finally:
            self._trial.release()
