"""Claim timers: the action our role owes at each deadline, and too-early retries.

The timers are written by ``statemachines/claim.py`` from ``app.domain.claims.deadlines``;
here the rules are checked again when one fires: the claim may have moved on.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import dramatiq

from app import clock, db, outbox
from app.domain import claims as rules
from statemachines import claim
from statemachines.core import IllegalTrigger

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)
"""A deadline acted on later than this after its instant is reported (claims.deadline_missed)."""

_CONDITIONS = {
    "": lambda row: True,
    "possession_validated": lambda row: row["possession_validated_at"] is not None,
    "possession_not_validated": lambda row: row["possession_validated_at"] is None,
}


@dramatiq.actor(queue_name="default")
def claim_deadline(claim_id: str, deadline: str) -> None:
    """Do what our role owes at ``deadline`` if the claim still waits for it."""
    try:
        with outbox.step(actor="deadline") as s:
            row = s.conn.execute(db.q("claims.lock"), {"id": claim_id}).fetchone()
            if row is None or row["status"] not in claim.STABLE:
                return  # finished, or a call is in flight that will settle it
            due = [
                d
                for d in rules.deadlines(
                    row["type"], row["role"], row["created_at"], periods=claim.periods(row)
                )
                if d.name == deadline
            ]
            if not due or claim.DICT_STATUS[row["status"]] not in due[0].statuses:
                return
            d = due[0]
            if not _CONDITIONS[d.condition](row):
                return
            if s.now - d.at > LATE_AFTER:
                s.add(
                    [
                        outbox.event(
                            "claims.deadline_missed",
                            {
                                "claim_id": claim_id,
                                "deadline": deadline,
                                "due_at": d.at.isoformat(),
                                "acted_at": s.now.isoformat(),
                            },
                            subject=claim.subject(claim_id),
                        )
                    ]
                )
            if s.now < d.at:
                log.warning("claim %s deadline %s fired early; rescheduling", claim_id, deadline)
                again = f"claim:{claim_id}:{deadline}:again"
                s.add(
                    [
                        outbox.timer(
                            "claim_deadline",
                            d.at,
                            dedupe_key=again,
                            subject=claim.subject(claim_id),
                            claim_id=claim_id,
                            deadline=deadline,
                        )
                    ]
                )
                return
            if d.action == rules.Operation.COMPLETE:
                claim.complete_if_due(s, row)
            else:
                claim.request(s, claim_id, str(d.action), str(d.reason) if d.reason else None)
    except IllegalTrigger as exc:
        log.info("claim %s moved on before its %s (%s)", claim_id, deadline, exc.current)


@dramatiq.actor(queue_name="default")
def claim_retry(claim_id: str, operation: str, reason: str | None = None) -> None:
    """Make again a call the DICT refused as too early, now that the period has ended."""
    try:
        with outbox.step(actor="deadline") as s:
            row = s.conn.execute(db.q("claims.lock"), {"id": claim_id}).fetchone()
            if row is None or row["status"] not in claim.STABLE:
                return
            if operation == "complete":
                claim.complete_if_due(s, row)
            elif reason in claim.now_allowed(row, operation, clock.now()):
                claim.request(s, claim_id, operation, reason)
    except IllegalTrigger as exc:
        log.info("claim %s moved on before its retry (%s)", claim_id, exc.current)
