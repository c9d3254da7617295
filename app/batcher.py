"""Group commit: concurrent requests share one statement and one commit.

The API's busiest write (registering keys) costs far more per request as one
statement each than as one statement for every request waiting at that moment:
one parse, one commit and one Redis round trip for the lot (docs/benchmarks.md).
``Batcher.submit`` is awaited by an async handler; a thread per process (by
default) takes every item waiting and hands them to ``run`` as one batch, then
resolves each caller's future on its own event loop. Nothing waits to fill a
batch: an idle process runs batches of one, a loaded one batches as large as its
backlog. One thread measured best: a second one splits the backlog into smaller
batches and fights the event loop for the GIL (docs/benchmarks.md).

``run`` returns one result per item, in order: a value, or an exception for that
item alone (e.g. its key is taken). An exception raised by ``run`` itself fails
every item of the batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

_Waiter = tuple[object, asyncio.AbstractEventLoop, "asyncio.Future[object]"]


class Batcher(Generic[I, R]):
    def __init__(
        self,
        run: Callable[[list[I]], Sequence[R | BaseException]],
        *,
        name: str,
        threads: int = 1,
        max_batch: int = 200,
    ) -> None:
        self._run, self._name = run, name
        self._threads, self._max = threads, max_batch
        self._inbox: queue.SimpleQueue[_Waiter] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    async def submit(self, item: I) -> R:
        """Run ``item`` in the next batch; its result, or its exception raised here."""
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._inbox.put((item, loop, future))
        return await future  # type: ignore[return-value]

    def _start(self) -> None:
        if self._started:
            return
        with self._lock:
            if not self._started:
                for n in range(self._threads):
                    threading.Thread(
                        target=self._serve, name=f"{self._name}-{n}", daemon=True
                    ).start()
                self._started = True

    def _serve(self) -> None:
        while True:
            waiters = [self._inbox.get()]
            while len(waiters) < self._max:
                try:
                    waiters.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            try:
                results: Sequence[object] = self._run([w[0] for w in waiters])  # type: ignore[misc]
                if len(results) != len(waiters):
                    raise RuntimeError(f"{self._name}: {len(results)} results for {len(waiters)}")
            except BaseException as exc:  # every caller hears of it, the thread lives on
                log.exception("%s: a batch of %d failed", self._name, len(waiters))
                results = [exc] * len(waiters)
            for (_, loop, future), result in zip(waiters, results, strict=True):
                loop.call_soon_threadsafe(_resolve, future, result)


def _resolve(future: asyncio.Future[object], result: object) -> None:
    if future.done():  # the caller went away (client disconnected)
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
