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

An item may come with its request's ``Answer`` (an ``Idempotency-Key``'s,
``app.api.idempotency.answer_in_batch``): that answer must commit with the item's
work. A batch holding one runs in one held transaction (``app.db.Held``): each
answer's key is locked first (a member whose key a repeat took over is answered
with that error and left out), then ``run`` (its statements become savepoints of the
transaction), then each answer is stored, then it commits. A batch without answers
runs as before, ``run``'s own statement its own transaction.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from app import db

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class Answer(Protocol):
    """A member's answer to store in its batch's transaction."""

    def lock(self, conn: db.Conn) -> Exception | None:
        """Lock the answer's key; the error to answer the member with if a repeat of
        its request has taken the key over."""

    def store(self, conn: db.Conn, result: Any) -> None:
        """Store the answer made of the member's result."""


_Waiter = tuple[object, Answer | None, asyncio.AbstractEventLoop, "asyncio.Future[object]"]


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

    async def submit(self, item: I, answer: Answer | None = None) -> R:
        """Run ``item`` in the next batch (with ``answer`` stored in its transaction);
        its result, or its exception raised here."""
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._inbox.put((item, answer, loop, future))
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
            results: Sequence[object]
            try:
                if any(w[1] is not None for w in waiters):
                    results = self._answering(waiters)
                else:
                    results = self._batch([w[0] for w in waiters])
            except BaseException as exc:  # every caller hears of it, the thread lives on
                log.exception("%s: a batch of %d failed", self._name, len(waiters))
                results = [exc] * len(waiters)
            for (_, _, loop, future), result in zip(waiters, results, strict=True):
                loop.call_soon_threadsafe(_resolve, future, result)

    def _batch(self, items: list[object]) -> Sequence[object]:
        results: Sequence[object] = self._run(items)  # type: ignore[arg-type]
        if len(results) != len(items):
            raise RuntimeError(f"{self._name}: {len(results)} results for {len(items)}")
        return results

    def _answering(self, waiters: list[_Waiter]) -> list[object]:
        """The batch and its members' answers in one held transaction (module doc)."""
        results: list[object] = [None] * len(waiters)
        held = db.Held()
        try:
            with db.holding(held):
                conn = held.open()
                for i, (_, answer, _, _) in enumerate(waiters):
                    results[i] = answer.lock(conn) if answer is not None else None
                live = [i for i, lost in enumerate(results) if lost is None]
                done = self._batch([waiters[i][0] for i in live]) if live else []
                for i, result in zip(live, done, strict=True):
                    results[i] = result
                    answer = waiters[i][1]
                    if answer is not None and not isinstance(result, BaseException):
                        answer.store(conn, result)
        except BaseException:
            held.rollback()
            raise
        held.commit()
        return results


def _resolve(future: asyncio.Future[object], result: object) -> None:
    if future.done():  # the caller went away (client disconnected)
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
