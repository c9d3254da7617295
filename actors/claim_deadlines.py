"""Claim timers: the action our role owes at each deadline, and refused calls made again.

The deadlines are decided in ``app.domain.claims`` (``_DUTIES``) and written as timers
by ``statemachines/claim.py``; here the rules are checked again when one fires: the
claim may have moved on. A duty is never dropped: fired while a call of ours is in
flight, it waits for that call; refused, it is scheduled again (``actors.claims.again``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dramatiq

from app import outbox
from app.domain import claims as rules
from app.events import DeadlineMissed
from app.repo import claims
from app.repo.claims import ClaimRow
from statemachines import claim_steps as steps
from statemachines.claim import DICT_STATUS, IN_FLIGHT, STABLE, duties, subject
from statemachines.core import IllegalTrigger

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)
"""A deadline acted on later than this after its instant is reported (claims.deadline_missed)."""
IN_FLIGHT_WAIT = timedelta(minutes=1)
"""A deadline that finds a call of ours in flight looks again this much later."""

_CONDITIONS: dict[str, Callable[[ClaimRow], bool]] = {
    "": lambda row: True,
    "possession_validated": lambda row: row.possession_validated_at is not None,
    "possession_not_validated": lambda row: row.possession_validated_at is None,
}


def _later(s: outbox.Step, claim_id: str, deadline: str, at: Any, attempt: int) -> None:
    s.add(
        [
            outbox.timer(
                "claim_deadline",
                at,
                dedupe_key=f"claim:{claim_id}:{deadline}:at:{at.isoformat()}",
                subject=subject(claim_id),
                claim_id=claim_id,
                deadline=deadline,
                attempt=attempt,
            )
        ]
    )


def _missed(s: outbox.Step, claim_id: str, d: rules.Deadline) -> None:
    s.add(
        [
            outbox.event(
                "claims.deadline_missed",
                DeadlineMissed(
                    claim_id=claim_id,
                    deadline=d.name,
                    due_at=d.at.isoformat(),
                    acted_at=s.now.isoformat(),
                ),
                subject=subject(claim_id),
            )
        ]
    )


@dramatiq.actor(queue_name="default")
def claim_deadline(claim_id: str, deadline: str, attempt: int = 0) -> None:
    """Do what our role owes at ``deadline`` if the claim still waits for it."""
    try:
        with outbox.step(actor="deadline") as s:
            row = claims.lock(s.conn, claim_id, s.now, s.tags())
            if row is None:
                return
            if row.status in IN_FLIGHT:  # a call of ours may settle it, or be refused
                _later(s, claim_id, deadline, s.now + IN_FLIGHT_WAIT, attempt)
                return
            due = [d for d in duties(row) if d.name == deadline]
            if row.status not in STABLE or not due:
                return
            d = due[0]
            if DICT_STATUS[row.status] not in d.statuses or not _CONDITIONS[d.condition](row):
                return
            if s.now < d.at:
                log.warning("claim %s deadline %s fired early; rescheduling", claim_id, deadline)
                _later(s, claim_id, deadline, d.at, attempt)
                return
            if attempt == 0 and s.now - d.at > LATE_AFTER:
                _missed(s, claim_id, d)
            if d.action == rules.Operation.COMPLETE:
                steps.complete_if_due(s, row, deadline=deadline, attempt=attempt)
            else:
                reason = str(d.reason) if d.reason else None
                steps.request(
                    s, claim_id, str(d.action), reason, deadline=deadline, attempt=attempt
                )
    except IllegalTrigger as exc:
        log.info("claim %s moved on before its %s (%s)", claim_id, deadline, exc.current)


@dramatiq.actor(queue_name="default")
def claim_retry(claim_id: str, operation: str, reason: str | None = None, attempt: int = 0) -> None:
    """Make again a call the DICT refused as too early, or a completion it refused."""
    try:
        with outbox.step(actor="deadline") as s:
            row = claims.lock(s.conn, claim_id, s.now, s.tags())
            if row is None or row.status not in STABLE:
                return
            if operation == "complete":
                steps.complete_if_due(s, row, attempt=attempt)
            elif reason in steps.now_allowed(row, operation, s.now):
                steps.request(s, claim_id, operation, reason, attempt=attempt)
    except IllegalTrigger as exc:
        log.info("claim %s moved on before its retry (%s)", claim_id, exc.current)
