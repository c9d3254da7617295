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

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

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


@functools.cache
def broker() -> RedisBroker:
    """The process's broker, installed as Dramatiq's global broker."""
    b = RedisBroker(
        url=settings.redis().url,
        middleware=[
            AgeLimit(), TimeLimit(time_limit=TIME_LIMIT_MS), ShutdownNotifications(),
            Callbacks(), Pipelines(),
            Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS,
                    max_backoff=MAX_BACKOFF_MS, retry_when=retry_when),
        ],
    )
    dramatiq.set_broker(b)
    return b


def send(outbox_id: int | None, actor: str, queue: str, args: dict[str, Any],
         delay: timedelta = timedelta(0)) -> None:
    """Enqueue ``actor(**args)``; ``outbox_id`` lets the worker record the outcome."""
    message = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=(), kwargs=args,
        options={"outbox_id": outbox_id} if outbox_id is not None else {},
    )
    ms = int(delay.total_seconds() * 1000)
    broker().enqueue(message, delay=ms if ms > 0 else None)
