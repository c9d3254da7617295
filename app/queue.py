"""The Dramatiq broker shared by every process, and sending work to it by name.

The API and the relay send messages by actor name without importing ``actors``;
the worker declares the actors on the same broker (``actors/__init__.py``).
Retries are deliberate: a few attempts, backoff from seconds to about a minute,
never days (timers live in the outbox), and a DICT problem that says retrying
cannot help fails at once into the dead-letter view.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from redis.exceptions import NoScriptError

from app import settings

MAX_RETRIES = 6
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000
TIME_LIMIT_MS = 60_000


def retry_when(retries: int, exc: BaseException) -> bool:
    """Retry transient failures a bounded number of times; never a final DICT answer."""
    if getattr(exc, "retryable", True) is False:
        return False
    return retries < MAX_RETRIES


class Broker(RedisBroker):
    """Dramatiq's Redis broker, plus a batch enqueue in one round trip.

    The relay hands up to 1,000 rows to Redis per tick; one ``enqueue`` each costs a
    round trip (~0.2 ms here). ``enqueue_many`` runs the same ``dispatch`` script with
    the same arguments as ``RedisBroker.enqueue``, through one pipeline, without the
    opportunistic maintenance (the next single call does it).
    """

    def enqueue_many(self, items: list[tuple[dramatiq.Message[Any], int | None]]) -> None:
        dispatch = self.scripts["dispatch"]
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
        try:
            self._dispatch_many(dispatch.sha, sent)
        except NoScriptError:  # Redis restarted and lost its script cache
            dispatch.sha = self.client.script_load(dispatch.script)
            self._dispatch_many(dispatch.sha, sent)
        for message, delay in sent:
            self.emit_after("enqueue", message, delay)

    def _dispatch_many(
        self, sha: str, sent: list[tuple[dramatiq.Message[Any], int | None]]
    ) -> None:
        """``evalsha`` the dispatch script once per message, in one pipeline (calling the
        script object instead would add a SCRIPT EXISTS round trip per pipeline)."""
        with self.client.pipeline(transaction=False) as pipe:
            for message, _ in sent:
                pipe.evalsha(
                    sha,
                    1,
                    self.namespace,
                    "enqueue",
                    current_millis(),
                    message.queue_name,
                    self.broker_id,
                    self.heartbeat_timeout,
                    self.dead_message_ttl,
                    0,
                    self._max_unpack_size(),
                    message.options["redis_message_id"],
                    message.encode(),
                )
            pipe.execute()


@functools.cache
def broker() -> Broker:
    """The process's broker, installed as Dramatiq's global broker."""
    b = Broker(
        url=settings.redis().url,
        middleware=[
            AgeLimit(),
            TimeLimit(time_limit=TIME_LIMIT_MS),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(
                max_retries=MAX_RETRIES,
                min_backoff=MIN_BACKOFF_MS,
                max_backoff=MAX_BACKOFF_MS,
                retry_when=retry_when,
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
