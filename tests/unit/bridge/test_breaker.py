"""The circuit breaker counts transport failures only, fails fast while open, and
lets one trial call through after the reset timeout.

Calls are plain functions that count how often they ran ("touched the network").
The breaker runs on a fake monotonic clock: the reset timeout passes when a test
moves it, never by sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from app.bridge.breaker import CircuitOpen, TransportBreaker
from app.bridge.status import BridgeUnavailable
from app.domain import problems

RESET_S = 10.0


class Bridge:
    """Counts calls and answers with whatever the test puts in ``answer``."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer: Callable[[], str] = lambda: "ok"

    def __call__(self) -> str:
        self.calls += 1
        return self.answer()


def down() -> str:
    raise BridgeUnavailable("UNAVAILABLE: connection refused")


def refuses() -> str:
    raise problems.EntryAlreadyExists("taken")


def fail(breaker: TransportBreaker, bridge: Bridge, times: int) -> None:
    for _ in range(times):
        with pytest.raises(BridgeUnavailable):
            breaker.call(bridge)


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wait_reset(clock: Clock) -> Callable[[], None]:
    def wait() -> None:
        clock.now += RESET_S

    return wait


@pytest.fixture
def bridge() -> Bridge:
    return Bridge()


@pytest.fixture
def breaker(clock: Clock) -> TransportBreaker:
    return TransportBreaker(fail_max=3, reset_s=RESET_S, clock=clock)


def test_opens_after_fail_max_transport_failures_and_then_fails_fast(breaker, bridge) -> None:
    bridge.answer = down

    fail(breaker, bridge, 2)
    assert breaker.state == "closed"
    with pytest.raises(BridgeUnavailable) as tripping:
        breaker.call(bridge)

    assert type(tripping.value) is BridgeUnavailable  # the real failure, not CircuitOpen
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen) as fast:
        breaker.call(bridge)
    assert fast.value.retryable is True
    assert bridge.calls == 3  # the fast failure never reached the bridge


def test_dict_problems_are_answers_and_never_open_it(breaker, bridge) -> None:
    bridge.answer = refuses

    for _ in range(10):
        with pytest.raises(problems.EntryAlreadyExists):
            breaker.call(bridge)

    assert breaker.state == "closed"
    assert bridge.calls == 10


def test_only_consecutive_transport_failures_count(breaker, bridge) -> None:
    bridge.answer = down
    fail(breaker, bridge, 2)
    bridge.answer = refuses
    with pytest.raises(problems.EntryAlreadyExists):
        breaker.call(bridge)  # the bridge answered: the count starts again
    bridge.answer = down

    fail(breaker, bridge, 2)

    assert breaker.state == "closed"


def test_closes_after_the_reset_timeout_when_the_trial_succeeds(
    breaker, bridge, wait_reset
) -> None:
    bridge.answer = down
    fail(breaker, bridge, 3)
    assert breaker.state == "open"
    wait_reset()
    bridge.answer = lambda: "back"

    assert breaker.call(bridge) == "back"
    assert breaker.state == "closed"


def test_a_trial_answered_with_a_dict_problem_also_closes_it(breaker, bridge, wait_reset) -> None:
    bridge.answer = down
    fail(breaker, bridge, 3)
    wait_reset()
    bridge.answer = refuses

    with pytest.raises(problems.EntryAlreadyExists):
        breaker.call(bridge)

    assert breaker.state == "closed"


def test_a_failed_trial_opens_it_again(breaker, bridge, wait_reset) -> None:
    bridge.answer = down
    fail(breaker, bridge, 3)
    wait_reset()

    with pytest.raises(BridgeUnavailable) as trial:
        breaker.call(bridge)

    assert type(trial.value) is BridgeUnavailable
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.call(bridge)
    assert bridge.calls == 4


def test_other_calls_fail_fast_while_the_trial_is_in_flight(breaker, bridge, wait_reset) -> None:
    bridge.answer = down
    fail(breaker, bridge, 3)
    wait_reset()
    in_trial, finish = threading.Event(), threading.Event()

    def slow_trial() -> str:
        in_trial.set()
        assert finish.wait(5)
        return "back"

    results: list[str] = []
    trial = threading.Thread(target=lambda: results.append(breaker.call(slow_trial)))
    trial.start()
    try:
        assert in_trial.wait(5)
        with pytest.raises(CircuitOpen):
            breaker.call(bridge)
    finally:
        finish.set()
        trial.join(5)

    assert results == ["back"]
    assert breaker.state == "closed"
    assert bridge.calls == 3


def test_closed_calls_from_many_threads_run_at_the_same_time(breaker) -> None:
    """pybreaker alone would hold its lock across each call, one thread at a time."""
    together = threading.Barrier(4, timeout=5)

    def call() -> int:
        return together.wait()

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(breaker.call(call))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert sorted(results) == [0, 1, 2, 3]  # a broken barrier would have raised instead


def test_it_stays_open_until_the_reset_timeout_has_passed(breaker, bridge, clock) -> None:
    bridge.answer = down
    fail(breaker, bridge, 3)
    clock.now += RESET_S / 2
    bridge.answer = lambda: "back"

    with pytest.raises(CircuitOpen):
        breaker.call(bridge)
    clock.now += RESET_S / 2

    assert breaker.call(bridge) == "back"
    assert bridge.calls == 4


# --- the API's lookups await their calls (``acall``): the same states ---------------


def test_awaited_calls_open_it_fail_fast_with_retry_after_and_recover(
    breaker, bridge, clock, wait_reset
) -> None:
    import asyncio

    async def call() -> str:
        async def invoke() -> str:
            return bridge()

        return await breaker.acall(invoke)

    async def scenario() -> None:
        bridge.answer = down
        for _ in range(3):
            with pytest.raises(BridgeUnavailable):
                await call()
        assert breaker.state == "open"
        clock.now += 4
        with pytest.raises(CircuitOpen) as fast:
            await call()
        assert fast.value.retry_after_s == pytest.approx(RESET_S - 4, abs=0.1)
        assert bridge.calls == 3

        clock.now += RESET_S  # the trial goes, fails, and the breaker opens again
        with pytest.raises(BridgeUnavailable):
            await call()
        assert bridge.calls == 4 and breaker.state == "open"
        with pytest.raises(CircuitOpen):
            await call()

        wait_reset()
        bridge.answer = lambda: "ok"
        assert await call() == "ok"  # the trial succeeded: closed again
        assert breaker.state == "closed"
        bridge.answer = refuses
        with pytest.raises(problems.EntryAlreadyExists):
            await call()
        assert breaker.state == "closed"

    asyncio.run(scenario())
