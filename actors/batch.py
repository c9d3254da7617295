"""A message carrying several outbox rows of one actor: worked as one batch.

``outbox.enqueue`` and the relay send the rows of one actor due at the same moment
together (``queue.batch_message``, up to ``outbox.BATCH_MAX``). Every outbox actor is
wrapped here (``install``); a message with ``outbox_batch`` in its options goes to
``run_batch``, a plain message (one row, or not from the outbox) runs as before.

A batch, row by row the same work as one message each, with less paid per row:

1. The rows still dispatched are read (one query): a duplicate delivery skips the
   rows another delivery already finished.
2. The actor runs for each row, several at a time (``PREPARE_THREADS``), with no
   transaction open: it reads, calls the DICT, and hands the answer it would apply to
   ``outbox.apply``, which keeps it (``outbox.deferring``). An actor that applies
   its answer in an ``outbox.step`` of its own instead still works, its step
   committing then.
3. One transaction (``outbox.apply_batch``) locks the rows still dispatched, applies
   each row's answer (with no savepoint a row first; if one raises, again with a
   savepoint each) and records each row's outcome beside it: done; or, for a row
   whose work raised, rolled back to its savepoint and handed out again alone after
   its backoff (``retry_at``: the actor's own retry policy, the
   row's attempts), or failed into the dead letters; the limiter's wait defers the row.
   One row's failure never fails the others, and no row is retried twice.
4. After the commit, the new rows are enqueued, and the events the batch wrote are
   published by this worker (``spine.publish_events``) rather than by a
   ``publish_event`` message each. A crash before that loses nothing: the event is
   pending in ``event_log_pending`` until any pass (the relay cron's, each minute).

A worker killed in the middle leaves its message unacknowledged and its rows
dispatched: the relay puts the message back (``Broker.recover``) and the rows not yet
committed are worked again; committed ones are skipped by step 1.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors.spine import publish_events
from app import clock, outbox, queue
from app.domain import problems

PREPARE_THREADS = 8
"""A batch's rows run their DICT calls this many at a time: a batch of 50 registrations
must not take 50 calls' time one after the other."""

_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    """The process's pool for the rows' calls (made after Dramatiq forked the process)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="batch")
    return _pool


def install(broker: dramatiq.Broker, names: set[str] | None = None) -> None:
    """Wrap the actors effects may name (``outbox.QUEUES``), or ``names``, so that a
    batch message reaches ``run_batch``."""
    for name in names or set(outbox.QUEUES) & set(broker.get_declared_actors()):
        actor = broker.get_actor(name)
        if not getattr(actor.fn, "batching", False):
            actor.fn = batching(actor, actor.fn)


def batching(actor: dramatiq.Actor[Any, Any], fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, or for a batch message ``run_batch`` over its rows."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        message = CurrentMessage.get_current_message()
        items = message.options.get("outbox_batch") if message is not None else None
        if items is None:
            return fn(*args, **kwargs)
        run_batch(actor, fn, items)
        return None

    run.batching = True  # type: ignore[attr-defined]
    return run


def run_batch(actor: dramatiq.Actor[Any, Any], fn: Callable[..., Any], items: list[Any]) -> None:
    """Work a batch's rows (``[outbox id, args, trace context]`` each): see the module."""
    live = outbox.live([item[0] for item in items])
    rows = [item for item in items if item[0] in live]
    if not rows:
        return
    with outbox.publishing_here() as found:
        futures = [
            _threads().submit(contextvars.copy_context().run, _prepare, fn, item[0], item[1])
            for item in rows
        ]
        work = [f.result() for f in futures]
        dispatches = outbox.apply_batch(work, functools.partial(retry_at, actor))
        outbox.enqueue(dispatches, clock.now())
    if found.events:
        publish_events()


def _prepare(fn: Callable[..., Any], outbox_id: int, args: dict[str, Any]) -> outbox.RowWork:
    """Run the actor for one row, its answer kept for the batch's transaction."""
    with outbox.deferring() as changes:
        try:
            fn(**args)
        except problems.LimiterWait as wait:
            at = clock.now() + timedelta(seconds=wait.retry_after_s or 1.0)
            return outbox.RowWork(outbox_id, wait_until=at)
        except Exception as exc:
            return outbox.RowWork(outbox_id, error=exc)
    return outbox.RowWork(outbox_id, changes)


def retry_at(
    actor: dramatiq.Actor[Any, Any], error: BaseException, attempts: int, now: datetime
) -> datetime | None:
    """When a row is tried again, as ``queue.Retries`` would retry its message (the
    retries so far: the row's attempts but the first); None for a dead letter."""
    delay_ms = queue.retry_delay_ms(actor.options, max(attempts - 1, 0), error)
    return None if delay_ms is None else now + timedelta(milliseconds=delay_ms)
