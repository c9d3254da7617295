"""app.batcher: concurrent submissions share a batch; each caller gets its own answer."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.batcher import Batcher


class Taken(Exception):
    pass


def test_waiting_items_share_a_batch_and_each_gets_its_own_answer() -> None:
    """Given a slow first batch, the items submitted meanwhile run together next,
    in order, and each caller gets the answer for its own item (or its exception)."""
    batches: list[list[int]] = []
    first_running = threading.Event()
    release = threading.Event()

    def run(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        if len(batches) == 1:
            first_running.set()
            release.wait(5)
        return [Taken(i) if i % 3 == 0 else i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(run, name="test")

    async def main() -> list[object]:
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.to_thread(first_running.wait, 5)
        rest = [asyncio.create_task(batcher.submit(i)) for i in range(2, 8)]
        await asyncio.sleep(0.05)  # all six are queued behind the running batch
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    answers = asyncio.run(main())
    assert batches == [[1], [2, 3, 4, 5, 6, 7]]
    assert answers[0] == 10 and answers[1] == 20 and answers[4] == 50
    assert isinstance(answers[2], Taken) and isinstance(answers[5], Taken)


def test_a_batch_that_fails_as_a_whole_fails_every_caller_and_the_next_batch_runs() -> None:
    calls = 0

    def run(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return items

    batcher: Batcher[int, int] = Batcher(run, name="test")

    async def main() -> int:
        with pytest.raises(ConnectionError):
            await batcher.submit(1)
        return await batcher.submit(2)

    assert asyncio.run(main()) == 2
