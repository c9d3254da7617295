"""Worker middleware: the outbox row is the ledger of every message born from it."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from app import outbox

log = logging.getLogger(__name__)


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
        if outbox_id is None:
            return
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
