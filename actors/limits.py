"""Work our limiter holds back waits in the outbox, not in a worker thread.

A call to the DICT our copy of its bucket refuses raises ``LimiterWait`` before anything
is sent (``app.ratelimit.limiter``). Every actor of the ``dict`` queue is wrapped here:
the wait moves the message's outbox row to when a token will be there and sends it
again with that delay (``outbox.defer``: the row stays dispatched, its lease past the
new time, so a lost message is re-dispatched by the relay), and the message ends as
handled (``OutboxMiddleware`` leaves the row alone). No retry is counted, no thread
sleeps. A message that did not come from the outbox (none does in production) is
retried by Dramatiq.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from app import clock, outbox
from app.domain import problems

log = logging.getLogger(__name__)


def deferring(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, with a ``LimiterWait`` turned into its outbox row waiting again."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except problems.LimiterWait as wait:
            message = CurrentMessage.get_current_message()
            outbox_id = message.options.get("outbox_id") if message else None
            if message is None or outbox_id is None:
                raise
            at = clock.now() + timedelta(seconds=wait.retry_after_s or 1.0)
            if not outbox.defer(outbox_id, at):
                raise  # the row is not ours to put back (a lease expired): retry
            message.options["deferred"] = True
            log.info("%s waits for a token until %s (outbox %s)", fn.__name__, at, outbox_id)
            return None

    return run


def wrap_dict_actors(broker: dramatiq.Broker) -> None:
    """Wrap every actor of the ``dict`` queue (the ones that call the DICT)."""
    for name in broker.get_declared_actors():
        actor = broker.get_actor(name)
        if actor.queue_name == "dict" and not getattr(actor.fn, "__wrapped__", None):
            actor.fn = deferring(actor.fn)
