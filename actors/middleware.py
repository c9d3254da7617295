"""Worker middleware: JSON logs in every worker process; the outbox row is the ledger
of every message born from it; a trace span per message when tracing is on."""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, Retries

from app import outbox, tracing
from app.logging import configure_logging

log = logging.getLogger(__name__)


class LoggingMiddleware(Middleware):
    """Redacted JSON logs (``app.logging``) in every process of ``dramatiq actors``.

    Dramatiq starts its worker processes (fork, or spawn/forkserver where that is
    the default), points their ``sys.stdout`` at a pipe its main process reads
    whole lines from, calls ``logging.basicConfig`` (a text handler, unless a
    handler is already there), imports this package and then emits
    ``process_boot``. Configuring here, after all that, replaces whatever handler
    the process inherited or got from Dramatiq, writes into Dramatiq's pipe, and
    covers Dramatiq's, periodiq's and the actors' loggers alike. Nothing else emits
    ``process_boot``: the API, the scheduler and tests that import ``actors`` keep
    their own logging. ``dict-connect worker`` configures Dramatiq's main process
    before Dramatiq starts (``app.cli``).
    """

    def __init__(self, process_name: str = "worker") -> None:
        self.process_name = process_name

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        configure_logging(self.process_name, exclusive=True)


class OutboxMiddleware(Middleware):
    """Marks a message's outbox row done, failed (dead letter) or retrying.

    Dramatiq runs ``after_*`` hooks in reverse order of the middleware list, so this
    one sits just *before* ``Retries`` (``install``): Retries' hook runs first and
    ``message.failed`` already says whether the retries are exhausted (or the error
    was final) when this one runs.
    """

    def __init__(self) -> None:
        self._running = threading.local()

    @classmethod
    def install(cls, broker: dramatiq.Broker) -> None:
        broker.add_middleware(cls(), before=Retries)

    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy
    ) -> None:
        """The events the actor's steps write are published by this worker after it
        (``outbox.publishing_here``), not by a ``publish_event`` message each."""
        publication = outbox.publishing_here()
        self._running.publication = (publication, publication.__enter__())

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Record the outcome; a failure to record is only logged (the lease covers it).
        Then publish the events the actor wrote, if any."""
        try:
            self._record(message, exception)
        finally:
            self._publish()

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        self._publish()

    def _publish(self) -> None:
        running = getattr(self._running, "publication", None)
        if running is None:
            return
        self._running.publication = None
        publication, found = running
        publication.__exit__(None, None, None)
        if found.events:
            from actors.spine import publish_events  # spine declares actors on the broker

            try:
                publish_events()
            except Exception:  # the relay cron's pass publishes them within a minute
                log.exception("could not publish the events of a message")

    def _record(self, message: dramatiq.MessageProxy, exception: BaseException | None) -> None:
        outbox_id = message.options.get("outbox_id")
        if outbox_id is None or message.options.get("deferred"):
            return  # not from the outbox, or put back to wait (actors/limits.py)
        try:
            if exception is None:
                outbox.finish(outbox_id)
            else:
                error = f"{type(exception).__name__}: {exception}"[:1000]
                outbox.finish(
                    outbox_id, error=error, failed=message.failed, retrying=not message.failed
                )
        except Exception:
            log.exception("could not record the outcome of outbox row %s", outbox_id)


class TracingMiddleware(Middleware):
    """The actor's span (``app.tracing``): a child of the trace context the message's
    outbox row carries (``trace_context`` in its options), so the actor and its DICT
    calls join the trace of the request or actor that asked for the work; a message with
    none (a cron tick) starts a trace. Tracing is configured in each worker process at
    boot (installed before ``LoggingMiddleware``, whose boot hook therefore runs first:
    Dramatiq calls ``after_*`` hooks in reverse order). Off, each hook returns at once.

    Dramatiq runs a message's before and after hooks in the worker thread that runs it,
    so the span waits between them in a thread-local.
    """

    def __init__(self, process_name: str = "worker") -> None:
        self.process_name = process_name
        self._running = threading.local()

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        tracing.configure(self.process_name)

    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy
    ) -> None:
        """Start the actor's span and make it current."""
        if not tracing.enabled():
            return
        attributes = {
            "messaging.system": "dramatiq",
            "messaging.destination.name": message.queue_name,
            "messaging.message.id": message.message_id,
            "dict.retries": message.options.get("retries", 0),
        }
        if message.options.get("outbox_id") is not None:
            attributes["dict.outbox_id"] = message.options["outbox_id"]
        self._running.span = tracing.start_actor_span(
            message.actor_name, message.options.get("trace_context"), attributes
        )

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """End the span: failed with the exception's type, or marked deferred."""
        started = getattr(self._running, "span", None)
        if started is None:
            return
        self._running.span = None
        error = None if exception is None else type(exception).__name__
        deferred = bool(message.options.get("deferred"))
        tracing.end_actor_span(started, error, {"dict.deferred": deferred} if deferred else None)

    after_skip_message = after_process_message
