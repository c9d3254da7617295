"""The Dramatiq broker shared by every process, and sending work to it by name.

The API and the relay send messages by actor name without importing ``actors``;
the worker declares the actors on the same broker (``actors/__init__.py``).
Retries are deliberate: a few attempts, backoff from seconds to about a minute,
never days (timers live in the outbox), and a DICT problem that says retrying
cannot help fails at once into the dead-letter view.
"""

from __future__ import annotations

import functools
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
        with self.client.pipeline(transaction=False) as pipe:
            for message, delay in items:
                message = message.copy(options={"redis_message_id": str(uuid4())})
                if delay:
                    message = message.copy(
                        queue_name=dq_name(message.queue_name),
                        options={"eta": current_millis() + delay},
                    )
                self.emit_before("enqueue", message, delay)
                dispatch(
                    keys=[self.namespace],
                    client=pipe,
                    args=[
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
                    ],
                )
                sent.append((message, delay))
            pipe.execute()
        for message, delay in sent:
            self.emit_after("enqueue", message, delay)


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


def send(
    outbox_id: int | None,
    actor: str,
    queue: str,
    args: dict[str, Any],
    delay: timedelta = timedelta(0),
) -> None:
    """Enqueue ``actor(**args)`` after ``delay``."""
    broker().enqueue(message(outbox_id, actor, queue, args), delay=_ms(delay))


def send_many(items: list[tuple[dramatiq.Message[Any], timedelta]]) -> None:
    """Enqueue a batch: one message as usual, several through one pipeline (whose
    script check costs one extra round trip, so it only pays off for batches)."""
    if len(items) == 1:
        broker().enqueue(items[0][0], delay=_ms(items[0][1]))
    else:
        broker().enqueue_many([(m, _ms(d)) for m, d in items])
