"""The MED gauges' one query (``sql/queries/med.sql``): infraction reports and refund
requests by kind and role, read at scrape time (``app.outbox.BacklogCollector``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from app import db
from app.repo import many


class MedGauges(msgspec.Struct, frozen=True):
    """One kind and role (``infraction_report``/``refund``; REPORTER, COUNTERPARTY,
    REQUESTING, CONTESTED) and the poll that follows it."""

    kind: str
    role: str
    cursor: str
    """The role's poller in ``poll_cursors`` (e.g. ``refunds.contested``)."""
    open: int
    """Items not finished (a closed report counts as finished)."""
    due_soon: int
    """Ours to analyse, not closed, due within the warning window."""
    overdue: int
    """Ours to analyse, not closed, past due."""
    nearest_due: datetime | None
    """The nearest due_at of those ours to analyse; None when there is none."""
    rejected: int
    """Our creations the DICT rejected within the last hour, and the items whose last
    call (acknowledge, close, cancel, update) it refused and that no later transition cleared."""
    polled_at: datetime | None
    """When the role's poll last went through the DICT's whole list; None: never."""
    poll_failures: int
    """Items of the role's list the poll could not apply, read again by every pass."""


def gauges(
    conn: db.Conn,
    now: datetime,
    live: Mapping[str, Sequence[str]],
    warnings: Mapping[str, timedelta],
) -> list[MedGauges]:
    """The four kinds and roles, zeros included. ``live``: by kind
    (``infraction_report``, ``refund``), the statuses of an item not finished;
    ``warnings``: by kind, how long before its due_at an analysis is due soon."""
    params = {
        "now": now,
        "report_live": list(live["infraction_report"]),
        "refund_live": list(live["refund"]),
        "report_warning": warnings["infraction_report"],
        "refund_warning": warnings["refund"],
    }
    return many(conn, "med.gauges", params, MedGauges)
