"""Worker middleware: JSON logs in every worker process; the outbox row is the ledger
of every message born from it."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from app import outbox
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

    Installed after ``Retries``, so ``message.failed`` already says whether the
    retries are exhausted (or the error was final) when this hook runs.
    """

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Record the outcome; a failure to record is only logged (the lease covers it)."""
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
