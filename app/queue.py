"""The Dramatiq broker shared by every process, and sending work to it by name.

The API and the relay send messages by actor name without importing ``actors``;
the worker declares the actors on the same broker (``actors/__init__.py``).
Retries are deliberate (``Retries``): backoff from seconds to about a minute, never
days (timers live in the outbox); an outbox row's work retries through an outage for as
long as it lasts, anything else a few times, and a DICT problem that says retrying
cannot help fails at once into the dead-letter view. The messages a dead worker had
fetched go back to their queues when the relay calls ``Broker.recover``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import dramatiq
import psycopg
import psycopg_pool
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import compute_backoff, current_millis, dq_name
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.middleware import Retries as DramatiqRetries
from redis.exceptions import NoScriptError

from app import settings
from app.domain import problems

MAX_RETRIES = 6
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
TIME_LIMIT_MS = 60_000
HEARTBEAT_TIMEOUT_MS = 30_000
"""A worker process silent in Redis this long is dead, and the messages it fetched go
back to their queues at the relay's next pass (``Broker.recover``). A live worker calls
Redis every second at least: each consumer with room to prefetch polls its queue (every
``worker_timeout``), and a delay queue's has room for thousands. Dramatiq's default is
60 s, which would take a recovery past 90 s."""


POSTGRES_AWAY = frozenset({"57P01", "57P02", "57P03"})
"""SQLSTATEs of a server shutting down, crashed or starting (with class 08, the lost
connection). Not a lock timeout or a cancelled statement: those say something of the
work, and end in the dead letters after the retries (``docs/runbooks/claims.md``)."""


def outage(exc: BaseException) -> bool:
    """``exc`` says a service we depend on is away for now (the DICT, PostgreSQL, Redis),
    not that the work is wrong."""
    if isinstance(exc, problems.DictProblem):
        return exc.retryable
    if isinstance(exc, (psycopg_pool.PoolTimeout, redis.ConnectionError, redis.TimeoutError)):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate  # None: no answer from the server at all
        return state is None or state.startswith("08") or state in POSTGRES_AWAY
    return False


def through_outages(_retries: int, exc: BaseException) -> bool:
    """``retry_when`` of the calls a deadline or an operator owes (claims, MED): retried
    for as long as an outage lasts; anything else (a bug, a lock held in psql) fails at
    once into the dead letters for an operator (``docs/runbooks/claims.md``) rather than
    being repeated blindly."""
    return outage(exc)


OUTAGES_ONLY: dict[str, Any] = {"retry_when": through_outages}


def retry_delay_ms(options: dict[str, Any], retries: int, exc: BaseException) -> int | None:
    """The wait before work that raised ``exc`` after ``retries`` retries is tried again,
    by the rules of ``Retries`` for an outbox row's work (``options``: its actor's), or
    None for a dead letter. For rows Dramatiq does not retry itself: a batch's
    (``actors/batch.py``)."""
    if getattr(exc, "retryable", True) is False:
        return None
    when = options.get("retry_when")
    limit = options.get("max_retries", MAX_RETRIES)
    if when is not None:
        if not when(retries, exc):
            return None
    elif limit and outage(exc):
        retries = min(retries, limit - 1)
    elif retries >= limit:
        return None
    low = options.get("min_backoff", MIN_BACKOFF_MS)
    high = options.get("max_backoff", MAX_BACKOFF_MS)
    return int(compute_backoff(retries, factor=low, max_backoff=high)[1])


class Retries(DramatiqRetries):
    """Dramatiq's retries (each actor's ``max_retries``, exponential backoff), with two
    rules of ours:

    - a final DICT answer (``retryable`` False) fails at once: retrying cannot help;
    - an outbox row's work that failed for an ``outage`` is retried for as long as the
      outage lasts, its backoff at the cap: the outage says nothing of the work, and a
      dead letter would wait for an operator for nothing. The retry count is held below
      the actor's limit, so a bug that follows an outage still ends in the dead letters.
    """

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None and getattr(exception, "retryable", True) is False:
            message.fail()
            return
        if exception is not None and message.options.get("outbox_id") is not None:
            limit = broker.get_actor(message.actor_name).options.get(
                "max_retries", self.max_retries
            )
            if limit and outage(exception):
                message.options["retries"] = min(message.options.get("retries", 0), limit - 1)
        super().after_process_message(broker, message, result=result, exception=exception)


class Broker(RedisBroker):
    """Dramatiq's Redis broker, plus a batch enqueue in one round trip and its queue
    maintenance on demand.

    The relay hands up to 1,000 rows to Redis per tick; one ``enqueue`` each costs a
    round trip (~0.2 ms here). ``enqueue_many`` runs the same ``dispatch`` script with
    the same arguments as ``RedisBroker.enqueue``, through one pipeline, without the
    opportunistic maintenance (``recover`` does it).
    """

    def enqueue_many(self, items: list[tuple[dramatiq.Message[Any], int | None]]) -> None:
        sent = []
        for message, delay in items:
            message = message.copy(options={"redis_message_id": str(uuid4())})
            if delay:
                message = message.copy(
                    queue_name=dq_name(message.queue_name),
                    options={"eta": current_millis() + delay},
                )
            self.emit_before("enqueue", message, delay)
            sent.append((message, delay))
        self._dispatch_all(
            [
                ("enqueue", m.queue_name, 0, m.options["redis_message_id"], m.encode())
                for m, _ in sent
            ]
        )
        for message, delay in sent:
            self.emit_after("enqueue", message, delay)

    def recover(self, queue_names: Iterable[str]) -> None:
        """Dramatiq's queue maintenance, now, on each queue and its delay queue: the
        messages fetched and never acknowledged by a worker silent for
        ``heartbeat_timeout`` go back to their queue. Dramatiq itself runs it on a random
        0.1 % of its calls, so a killed worker's messages could wait for hours."""
        names = sorted({n for q in queue_names for n in (q, dq_name(q))})
        held = self._held_by_dead_workers(names)
        if held:
            self._dispatch_all([("qsize", name, 1) for name in held])

    def _held_by_dead_workers(self, names: list[str]) -> list[str]:
        """The queues of ``names`` whose messages a dead worker holds. Looked up first
        (one pipeline) because the script's maintenance runs a KEYS over the whole
        database per dead process, and a process that only enqueues (the API) counts as
        dead whenever it is idle for the timeout."""
        since = current_millis() - self.heartbeat_timeout
        dead = self.client.zrangebyscore(f"{self.namespace}:__heartbeats__", 0, since)
        workers = [w.decode() if isinstance(w, bytes) else str(w) for w in dead]
        acks = [
            (name, f"{self.namespace}:__acks__.{worker}.{name}")
            for worker in workers
            for name in names
        ]
        if not acks:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for _, key in acks:
                pipe.exists(key)
            found = pipe.execute()
        return sorted({name for (name, _), n in zip(acks, found, strict=True) if n})

    def _dispatch_all(self, calls: list[tuple[Any, ...]]) -> None:
        """Run the ``dispatch`` script once per ``(command, queue, do_maintenance,
        *args)``, in one pipeline; reload it once if Redis lost its scripts (restart)."""
        dispatch = self.scripts["dispatch"]
        try:
            self._pipeline(dispatch.sha, calls)
        except NoScriptError:
            dispatch.sha = self.client.script_load(dispatch.script)
            self._pipeline(dispatch.sha, calls)

    def _pipeline(self, sha: str, calls: list[tuple[Any, ...]]) -> None:
        """``evalsha`` directly (calling the script object instead would add a SCRIPT
        EXISTS round trip per pipeline)."""
        with self.client.pipeline(transaction=False) as pipe:
            for command, queue_name, maintenance, *args in calls:
                pipe.evalsha(
                    sha,
                    1,
                    self.namespace,
                    command,
                    current_millis(),
                    queue_name,
                    self.broker_id,
                    self.heartbeat_timeout,
                    self.dead_message_ttl,
                    maintenance,
                    self._max_unpack_size(),
                    *args,
                )
            pipe.execute()


@functools.cache
def broker() -> Broker:
    """The process's broker, installed as Dramatiq's global broker."""
    b = Broker(
        url=settings.redis().url,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        middleware=[
            AgeLimit(),
            TimeLimit(time_limit=TIME_LIMIT_MS),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(
                max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS
            ),
        ],
    )
    dramatiq.set_broker(b)
    return b


def message(
    outbox_id: int | None, actor: str, queue: str, args: dict[str, Any]
) -> dramatiq.Message[Any]:
    """A message for ``actor(**args)``; ``outbox_id`` lets the worker record the outcome."""
    return dramatiq.Message(
        queue_name=queue,
        actor_name=actor,
        args=(),
        kwargs=args,
        options={"outbox_id": outbox_id} if outbox_id is not None else {},
    )


def batch_message(
    actor: str, queue: str, items: list[tuple[int, dict[str, Any], str | None]]
) -> dramatiq.Message[Any]:
    """One message for several outbox rows of ``actor``: ``(outbox id, args, trace
    context)`` each, in ``outbox_batch``. The worker works them as one batch
    (``actors/batch.py``); each row keeps its own attempts, outcome and retries."""
    return dramatiq.Message(
        queue_name=queue,
        actor_name=actor,
        args=(),
        kwargs={},
        options={"outbox_batch": [list(item) for item in items]},
    )


def _ms(delay: timedelta) -> int | None:
    ms = int(delay.total_seconds() * 1000)
    return ms if ms > 0 else None


class _GroupSender:
    """Concurrent senders share one Redis round trip (group enqueue).

    A thread with messages to send joins the pending groups. If no send is in
    flight it leads: it takes every pending group (its own included) and sends them
    as one batch, then hands the lead to the oldest group that arrived meanwhile, so
    no caller sends for others for long. Each caller returns once its own messages
    went out, or raises if they could not, so ``send_many`` keeps its meaning:
    enqueued when it returns. Under load (API and worker threads) this turns one
    Redis round trip per message into one per batch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Group] = []
        self._sending = False

    def send(self, items: list[tuple[dramatiq.Message[Any], int | None]]) -> None:
        group = _Group(items)
        with self._lock:
            self._pending.append(group)
            lead = not self._sending
            self._sending = True
        if not lead:
            group.wake.wait()
            lead = group.lead
        if lead:
            with self._lock:
                groups, self._pending = self._pending, []
            _send_groups(groups)
            with self._lock:
                if self._pending:
                    self._pending[0].lead = True
                    self._pending[0].wake.set()
                else:
                    self._sending = False
        if group.error is not None:
            raise group.error


@dataclass
class _Group:
    items: list[tuple[dramatiq.Message[Any], int | None]]
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the next batch, not because it was sent
    error: BaseException | None = None


def _send_groups(groups: list[_Group]) -> None:
    items = [item for g in groups for item in g.items]
    try:
        if len(items) == 1:
            broker().enqueue(items[0][0], delay=items[0][1])
        else:
            broker().enqueue_many(items)
    except Exception as exc:
        for g in groups:
            g.error = exc
    finally:
        for g in groups:
            g.wake.set()


_group_sender = _GroupSender()


def send_many(items: list[tuple[dramatiq.Message[Any], timedelta]]) -> None:
    """Enqueue a batch, sharing the round trip with other threads sending now; raise
    if Redis refused it. One message alone goes as ``enqueue`` does (several go
    through one pipeline, whose script check costs one extra round trip)."""
    if items:
        _group_sender.send([(m, _ms(d)) for m, d in items])
