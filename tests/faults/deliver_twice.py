"""A worker whose every message is delivered twice: ``python -m dramatiq
tests.faults.deliver_twice`` (the worker's actors and middleware, plus ``DeliverTwice``).

Redis delivers at least once: a message comes again after a worker died holding it, or
after the relay handed its row back. Here every one comes twice, the copy enqueued
before the first runs, so both may run at the same time on two threads: each actor
must find the work done (or being done) and change nothing twice.
"""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from actors import broker

COPY = "delivered_again"


class DeliverTwice(Middleware):
    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.options.get(COPY):
            return
        copy = message._message.copy(message_id=str(uuid.uuid4()), options={COPY: True})
        broker.enqueue(copy)


broker.add_middleware(DeliverTwice())
