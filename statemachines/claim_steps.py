"""The steps that move a claim (declared in ``statemachines.claim``), each inside the
caller's transaction (an ``outbox.Step``): lock, fire, guarded UPDATE, effects.

Who calls them: the API (submit, request, possession validated), the claim actors
(the DICT's answers), the poller (what the DICT's list says), the deadline timers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from app import outbox
from app.domain import claims as rules
from app.domain.keys import ValidationError, Violation
from app.events import ClaimAnomaly
from app.outbox import Effect, Step
from app.repo import claims
from app.repo.claims import DICT_FIELDS, ClaimRow
from statemachines import core, entry
from statemachines.claim import (
    DICT_STATUS,
    MACHINE,
    SPEC,
    STABLE,
    catch_up,
    deadline_timers,
    event,
    periods,
    subject,
)
from statemachines.core import Subject, Transition


def fire(
    step: Step,
    claim_id: Any,
    trigger: str,
    *,
    reason: str | None = None,
    pending: Mapping[str, Any] | None = None,
    problem: tuple[str, str] | None = None,
    **dict_fields: Any,
) -> Transition:
    """``core.fire`` on the claim machine, with what the DICT said (``DICT_FIELDS``),
    the call now in flight (``pending``) and the DICT's last refusal (``problem``)."""
    params = core.dict_params(DICT_FIELDS, dict_fields, pending, problem)
    return core.fire(step, SPEC, claim_id, trigger, reason=reason, params=params)


def new_row(now: datetime, fields: Mapping[str, Any], status: str) -> ClaimRow:
    """A claim to insert in ``status``: its id and completion RequestId are drawn here."""
    return ClaimRow(
        **fields,
        id=uuid.uuid4(),
        status=status,
        completion_request_id=uuid.uuid4(),
        inserted_at=now,
        updated_at=now,
    )


def submit(step: Step, fields: Mapping[str, Any]) -> ClaimRow:
    """Insert our claim as submitting and schedule its CreateClaim call."""
    step.tag("submit", "USER_REQUESTED")
    (row,) = claims.insert(
        step.conn, [new_row(step.now, {**fields, "role": "CLAIMER"}, "submitting")]
    )
    step.add([outbox.task("create_claim", subject=subject(row.id), claim_id=str(row.id))])
    return row


def learn(step: Step, items: Sequence[tuple[Mapping[str, Any], str]]) -> list[ClaimRow]:
    """Record claims first seen in the DICT's list, each in the status it has there.

    ``items`` are (fields, status) pairs, inserted in one statement (a poll may bring
    thousands at once). Returns the rows inserted (one already recorded by another
    poller is skipped). A donor claim still OPEN comes with its ``acknowledge_claim``.
    """
    if not items:
        return []
    step.tag("learned", None)
    rows = claims.insert(step.conn, [new_row(step.now, f, status) for f, status in items])
    effects: list[Effect] = []
    for row in rows:
        s = Subject(str(row.id), row.status, row, step.now)
        if row.role == "DONOR":
            effects.append(event("claims.received")(s, {}))
            if row.status == "open":  # worked in batches of the spine (actors/batch.py)
                effects.append(
                    outbox.task("acknowledge_claim", subject=subject(row.id), claim_id=str(row.id))
                )
        if row.status in STABLE:
            effects.extend(deadline_timers(s, {}))
    step.add(effects)
    return rows


def observe(
    step: Step,
    row: ClaimRow,
    dict_status: str | None = None,
    dict_fields: Mapping[str, Any] | None = None,
) -> tuple[str, ...]:
    """Bring our record level with the DICT; returns the triggers fired.

    ``dict_status``/``dict_fields``: what the DICT just said (a list item, an answer,
    a GetClaim). None, or an item older than what we saw already (the list repeats
    and lags): settle with the status last seen, kept in the row. A DICT status is
    never dropped: while a call of ours is in flight it waits in ``dict_status`` and
    the call's end settles it (``CATCH_UP``).
    """
    fields = dict(dict_fields or {})
    if dict_status is None or _older(row, fields):
        dict_status, fields = row.dict_status, {}
    if dict_status is None:
        return ()
    triggers = catch_up(row.status, dict_status)
    if triggers is None:
        anomaly = f"we hold {row.status} but the DICT says {dict_status}"
        mark_anomaly(step, row, anomaly, dict_status=dict_status, fields=fields)
        return ()
    if not triggers:
        if fields:
            _seen(step, row, dict_status, fields)
        return ()
    reason = fields.get("cancel_reason") or fields.get("confirm_reason")
    for trigger in triggers:
        apply(step, row.id, trigger, reason=reason, **fields)
    return triggers


def _older(row: ClaimRow, fields: Mapping[str, Any]) -> bool:
    seen, said = row.dict_last_modified, fields.get("dict_last_modified")
    return bool(seen and said and said < seen)


def _seen(step: Step, row: ClaimRow, dict_status: str, fields: Mapping[str, Any]) -> None:
    claims.seen(step.conn, row.id, step.now, {**fields, "dict_status": dict_status})


def mark_anomaly(
    step: Step,
    row: ClaimRow,
    anomaly: str,
    *,
    dict_status: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> None:
    """Record that the DICT and our record disagree in a way no trigger mends; alert."""
    said = {**(fields or {}), "dict_status": dict_status or row.dict_status}
    claims.seen(step.conn, row.id, step.now, said, anomaly=anomaly[:500])
    step.add(
        [
            outbox.event(
                "claims.anomaly",
                ClaimAnomaly(
                    claim_id=str(row.id),
                    dict_id=row.dict_id,
                    status=row.status,
                    dict_status=dict_status or row.dict_status,
                    anomaly=anomaly[:500],
                ),
                subject=subject(row.id),
            )
        ]
    )


def pending_reason(row: ClaimRow) -> str:
    return str((row.pending or {}).get("reason", ""))


def request(
    step: Step,
    claim_id: Any,
    operation: str,
    reason: str | None = None,
    *,
    deadline: str | None = None,
    attempt: int = 0,
) -> None:
    """Ask for acknowledge, confirm, cancel or complete: the call leaves with the row.

    ``deadline`` names the duty the call fulfils (``claim_deadline`` timers), so a
    refusal schedules the duty again instead of forgetting it.
    """
    core.fire(
        step,
        SPEC,
        claim_id,
        operation,
        reason=reason,
        params=lambda row: _asked(row, reason, deadline, attempt),
    )


def decide(
    step: Step, claim_id: Any, operation: str, reason: str | None, *, by_operator: bool = False
) -> None:
    """Our user's confirm or cancel, its reason checked against the claim as locked for
    the transition. Of decisions racing on one claim one wins; each other one meets the
    status the winner (or the DICT) left, and is refused for that status (IllegalTrigger,
    409), never judged against a row read before the winner committed (which let a
    donor's cancel through on a claim the DICT had just confirmed, and answered the
    others 422 about their reason). A reason the rules refuse now is a ValidationError
    (422 naming ``reason``); for an operator (``ops.request``), an IllegalTrigger naming
    the reasons allowed, which the worker does not repeat.
    """

    def checked(row: ClaimRow) -> Mapping[str, Any]:
        triggers = SPEC.allowed(row.status)
        allowed = now_allowed(row, operation, step.now) if operation in triggers else frozenset()
        if not allowed:
            raise core.IllegalTrigger(
                MACHINE,
                str(row.id),
                row.status,
                operation,
                [t for t in triggers if t != operation],
                detail=f"claim {row.id} is {row.status} now: no {operation} is allowed "
                f"for a {row.type} claim as {row.role}",
            )
        if reason not in allowed and by_operator:
            raise core.IllegalTrigger(
                MACHINE,
                str(row.id),
                row.status,
                operation,
                triggers,
                detail=f"{operation} of claim {row.id} ({row.type}, {row.role}, {row.status})"
                f" takes one of: {', '.join(sorted(allowed))}",
            )
        if reason not in allowed:
            rule = f"one of {', '.join(sorted(allowed))} for a {row.type} claim as {row.role}"
            raise ValidationError(
                [Violation("reason", "claim_reason", f"{rule} while {row.status}")]
            )
        return _asked(row, reason)

    core.fire(step, SPEC, claim_id, operation, reason=reason, params=checked)


def _asked(
    row: ClaimRow, reason: str | None, deadline: str | None = None, attempt: int = 0
) -> dict[str, Any]:
    """The UPDATE's values for a call asked from ``row`` (locked): the call waits in
    ``pending`` with the status it left, where a refusal brings the claim back."""
    pending: dict[str, Any] = {"reason": reason, "from": row.status}
    if deadline:
        pending["deadline"] = deadline
    if attempt:
        pending["attempt"] = attempt
    return core.dict_params(DICT_FIELDS, {}, pending, None)


def now_allowed(row: ClaimRow, operation: str, at: datetime) -> frozenset[str]:
    """The reasons our role may use for ``operation`` now (empty: not allowed now)."""
    status = DICT_STATUS.get(row.status) or ""
    found = periods(row)
    if found is None:
        return frozenset()
    if operation == "cancel":
        return frozenset(rules.allowed_cancel_reasons(row.type, row.role, status, at, found))
    if operation == "confirm" and row.role == "DONOR" and status == "WAITING_RESOLUTION":
        return frozenset(rules.allowed_confirm_reasons(row.type, at, found.resolution_end))
    return frozenset()


def apply(step: Step, claim_id: Any, trigger: str, **kwargs: Any) -> str:
    """Fire ``trigger`` and do what the new status means beyond the claim itself:
    the donor's entry leaves our base once confirmed, the claimer completes as soon as
    the rules allow, and the claimer's new entry joins our base at COMPLETED."""
    status = fire(step, claim_id, trigger, **kwargs).to_status
    row = claims.get(step.conn, claim_id)
    assert row is not None
    if row.role == "DONOR" and status in ("confirmed", "completed") and row.entry_id:
        entry.claimed_away(step, row.entry_id)
    elif status == "confirmed" and row.role == "CLAIMER":
        complete_if_due(step, row)
    elif status == "completed" and row.role == "CLAIMER" and row.entry_id is None:
        new = entry.adopt(step, _claimer_entry(row), row.completion_request_id)
        claims.set_entry(step.conn, claim_id, new)
    return status


def complete_if_due(
    step: Step, row: ClaimRow, *, deadline: str | None = None, attempt: int = 0
) -> bool:
    """Claimer: complete now if the rules allow it (portability at once; ownership after
    CompletionPeriodEnd, once our user proved possession)."""
    if row.status != "confirmed" or row.role != "CLAIMER":
        return False
    if row.type == "OWNERSHIP" and row.possession_validated_at is None:
        return False
    found = periods(row)
    if found is None or not rules.completion_allowed(row.type, step.now, found):
        return False
    request(step, row.id, "complete", deadline=deadline, attempt=attempt)
    return True


def _claimer_entry(row: ClaimRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "key_type": row.key_type,
        "participant": row.claimer_participant,
        "branch": row.claimer_branch,
        "account_number": row.claimer_account_number,
        "account_type": row.claimer_account_type,
        "opening_date": row.claimer_opening_date,
        "owner_type": row.claimer_type,
        "owner_tax_id": row.claimer_tax_id,
        "owner_name": row.claimer_name,
        "owner_trade_name": row.claimer_trade_name,
    }
