"""The claim machine: portability and ownership, as claimer and as donor.

Statuses are the DICT's (lowercase) plus our calls in flight (submitting, confirming,
completing, cancelling). Every deadline and the action each role owes at it comes
from ``app.domain.claims.deadlines`` and becomes an outbox timer here, when the
claim reaches the status the deadline watches (``_deadline_timers``). The
``claim_deadline`` actor re-checks the rules when the timer fires.

    submitting -> open -> waiting_resolution -> confirmed -> completed
         |          |  \\         |    \\           |   \\
      rejected      |   `-------|-----`--> cancelling -> cancelled
                    `----- (learned from the DICT: acknowledged / confirmed / cancelled)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from app import db, outbox
from app.domain import claims as rules
from app.outbox import Effect, Step
from statemachines import entry
from statemachines.core import Conflict, Spec, Subject, T

MACHINE = "claim"
STABLE = ("open", "waiting_resolution", "confirmed")
TERMINAL = ("rejected", "completed", "cancelled")
DICT_STATUS = {
    "open": "OPEN",
    "waiting_resolution": "WAITING_RESOLUTION",
    "confirmed": "CONFIRMED",
    "completed": "COMPLETED",
    "cancelled": "CANCELLED",
    "confirming": "WAITING_RESOLUTION",
    "cancelling": None,
    "completing": "CONFIRMED",
    "submitting": None,
    "rejected": None,
}


def subject(claim_id: Any) -> str:
    return f"claim:{claim_id}"


def periods(row: Mapping[str, Any]) -> rules.ClaimPeriods:
    """The claim's instants as the DICT gave them (computed from creation otherwise)."""
    computed = rules.ClaimPeriods.of(row["type"], row["created_at"])
    return rules.ClaimPeriods(
        row["resolution_period_end"] or computed.resolution_end,
        row["completion_period_end"] or computed.completion_end,
        row["day30_limit"] or computed.day30_limit,
    )


def _deadline_timers(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
    """A timer for each deadline our role owes an action at, in the status it watches."""
    row = {**s.row, **{k: v for k, v in ctx.items() if v is not None}}
    if row.get("created_at") is None:
        return []
    status = DICT_STATUS[s.state]
    return [
        outbox.timer(
            "claim_deadline",
            d.at,
            dedupe_key=f"claim:{s.id}:{d.name}",
            subject=subject(s.id),
            claim_id=s.id,
            deadline=d.name,
        )
        for d in rules.deadlines(row["type"], row["role"], row["created_at"], periods=periods(row))
        if status in d.statuses
    ]


def _cancel_deadline_timers(s: Subject) -> list[Effect]:
    return [
        outbox.cancel_timer(f"claim:{s.id}:{name}")
        for name in ("ResolutionPeriodEnd", "CompletionPeriodEnd", "Day30Limit")
    ]


def _event(topic: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    def build(s: Subject, ctx: Mapping[str, Any]) -> Effect:
        row = s.row
        return outbox.event(
            topic,
            {
                "claim_id": s.id,
                "dict_id": ctx.get("dict_id") or row["dict_id"],
                "role": row["role"],
                "type": row["type"],
                "key": row["key"],
                "key_type": row["key_type"],
                "status": s.state,
            },
            subject=subject(s.id),
        )

    return build


def _effects(*builders: Callable[[Subject, Mapping[str, Any]], Any]) -> Callable[..., list[Effect]]:
    """Combine builders that return one effect, a list, or None."""

    def build(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
        out: list[Effect] = []
        for b in builders:
            made = b(s, ctx)
            out.extend(made if isinstance(made, list) else [made] if made else [])
        return out

    return build


def _call(actor: str) -> Callable[[Subject, Mapping[str, Any]], Effect]:
    return lambda s, ctx: outbox.task(actor, subject=subject(s.id), claim_id=s.id)


def _donor_only(build: Callable[[Subject, Mapping[str, Any]], Any]) -> Callable[..., Any]:
    return lambda s, ctx: build(s, ctx) if s.row["role"] == "DONOR" else None


def _pending_from(status: str) -> Callable[[Subject, Mapping[str, Any]], bool]:
    """Guard: the refused call was made from ``status`` (a refusal goes back there)."""
    return lambda s, ctx: (s.row["pending"] or {}).get("from") == status


_ended = _effects(_event("claims.cancelled"), lambda s, ctx: _cancel_deadline_timers(s))

SPEC = Spec(
    name=MACHINE,
    states=(
        "submitting",
        "rejected",
        "open",
        "waiting_resolution",
        "confirming",
        "confirmed",
        "completing",
        "cancelling",
        "completed",
        "cancelled",
    ),
    # submitting: our own claim; the others: a claim first learned from the DICT's list.
    initial=("submitting", "open", "waiting_resolution", "confirmed", "completed", "cancelled"),
    terminal=TERMINAL,
    transitions=(
        T("submitted", "submitting", "open", effects=_deadline_timers),
        T("submit_refused", "submitting", "rejected", effects=_event("claims.rejected")),
        T(
            "acknowledged",
            "open",
            "waiting_resolution",
            effects=_effects(_event("claims.acknowledged"), _deadline_timers),
        ),
        T("confirm", "waiting_resolution", "confirming", effects=_call("confirm_claim")),
        T("confirm_refused", "confirming", "waiting_resolution"),
        T(
            "confirmed",
            ("confirming", "waiting_resolution", "open"),
            "confirmed",
            effects=_effects(
                _event("claims.confirmed"),
                lambda s, ctx: _cancel_deadline_timers(s),
                _deadline_timers,
            ),
        ),
        T("complete", "confirmed", "completing", effects=_call("complete_claim")),
        T("complete_refused", "completing", "confirmed"),
        T(
            "completed",
            ("completing", "confirmed"),
            "completed",
            effects=_effects(_event("claims.completed"), lambda s, ctx: _cancel_deadline_timers(s)),
        ),
        T("cancel", STABLE, "cancelling", effects=_call("cancel_claim")),
        *(
            T("cancel_refused", "cancelling", back, guards=(_pending_from(back),))
            for back in STABLE
        ),
        T("cancelled", ("cancelling", *STABLE), "cancelled", effects=_ended),
    ),
)

# What polling may do with a DICT status, by our status: the trigger, or None to ignore
# (the DICT's list lags, or the answer of our own call in flight will move us).
LEARN: dict[str, dict[str, str]] = {
    "WAITING_RESOLUTION": {"open": "acknowledged"},
    "CONFIRMED": {
        "open": "confirmed",
        "waiting_resolution": "confirmed",
        "confirming": "confirmed",
    },
    "COMPLETED": {"confirmed": "completed", "completing": "completed"},
    "CANCELLED": {
        s: "cancelled" for s in ("open", "waiting_resolution", "confirmed", "cancelling")
    },
}
_ORDER = {"OPEN": 0, "WAITING_RESOLUTION": 1, "CONFIRMED": 2, "COMPLETED": 3, "CANCELLED": 3}


def _absent(row_status: str, dict_status: str) -> str | None:
    """None when ignoring ``dict_status`` is right; else why it is an anomaly."""
    ours = DICT_STATUS.get(row_status)
    if row_status in TERMINAL and dict_status in ("COMPLETED", "CANCELLED"):
        if DICT_STATUS.get(row_status) != dict_status:
            return f"we hold {row_status} but the DICT says {dict_status}"
        return None
    if ours is None or _ORDER[dict_status] <= _ORDER.get(ours, 0):
        return None  # behind us (list lag) or our call in flight will settle it
    return f"the DICT says {dict_status}, which {row_status} cannot reach"


_FIELDS = (
    "dict_id",
    "dict_status",
    "dict_last_modified",
    "donor_participant",
    "created_at",
    "resolution_period_end",
    "completion_period_end",
    "day30_limit",
    "confirm_reason",
    "cancel_reason",
    "cancelled_by",
    "entry_id",
)


def fire(
    step: Step,
    claim_id: Any,
    trigger: str,
    *,
    reason: str | None = None,
    pending: Mapping[str, Any] | None = None,
    problem: tuple[str, str] | None = None,
    **dict_fields: Any,
) -> tuple[dict[str, Any], str]:
    """Lock the claim, fire ``trigger``, persist with a guarded UPDATE, write effects.

    ``dict_fields`` are what the DICT said (see ``_FIELDS``); returns the row before
    the change and the new status.
    """
    row = step.conn.execute(db.q("claims.lock"), {"id": claim_id}).fetchone()
    if row is None:
        raise LookupError(f"claim {claim_id} not found")
    fired = SPEC.fire(str(claim_id), row["status"], row, trigger, step.now, **dict_fields)
    step.tag(trigger, reason)
    params = {f: dict_fields.get(f) for f in _FIELDS}
    cur = step.conn.execute(
        db.q("claims.set_status"),
        {
            **params,
            "id": claim_id,
            "from_status": fired.from_status,
            "to_status": fired.to_status,
            "now": step.now,
            "pending": Jsonb(pending) if pending else None,
            "problem_type": problem[0] if problem else None,
            "problem_detail": problem[1][:500] if problem else None,
        },
    )
    if cur.rowcount != 1:
        raise Conflict(MACHINE, str(claim_id), row["status"], trigger, SPEC.allowed(row["status"]))
    step.add(fired.effects)
    return row, fired.to_status


def submit(step: Step, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Insert our claim as submitting and schedule its CreateClaim call."""
    claim_id = uuid.uuid4()
    step.tag("submit", "USER_REQUESTED")
    row = step.conn.execute(
        db.q("claims.insert"),
        {
            **_blank(),
            **fields,
            "id": claim_id,
            "role": "CLAIMER",
            "status": "submitting",
            "completion_request_id": uuid.uuid4(),
            "now": step.now,
        },
    ).fetchone()
    step.add([outbox.task("create_claim", subject=subject(claim_id), claim_id=str(claim_id))])
    assert row is not None
    return row


def learn(step: Step, items: Sequence[tuple[Mapping[str, Any], str]]) -> list[dict[str, Any]]:
    """Record claims first seen in the DICT's list, each in the status it has there.

    ``items`` are (fields, status) pairs, inserted in one round trip (a poll may bring
    thousands at once). Returns the rows inserted (one already recorded by another
    poller is skipped); the poller acknowledges the donor claims still OPEN among them.
    """
    if not items:
        return []
    step.tag("learned", None)
    rows: list[dict[str, Any]] = []
    with step.conn.cursor() as cur:
        cur.executemany(
            db.q("claims.insert"),
            [
                {
                    **_blank(),
                    **fields,
                    "id": uuid.uuid4(),
                    "status": status,
                    "completion_request_id": uuid.uuid4(),
                    "now": step.now,
                }
                for fields, status in items
            ],
            returning=True,
        )
        for _ in items:
            row = cur.fetchone()
            if row is not None:
                rows.append(row)
            cur.nextset()
    effects: list[Effect] = []
    for row in rows:
        s = Subject(str(row["id"]), row["status"], row, step.now)
        if row["role"] == "DONOR":  # the poller acknowledges it (actors/polling.py)
            effects.append(_event("claims.received")(s, {}))
        if row["status"] in STABLE:
            effects.extend(_deadline_timers(s, {}))
    step.add(effects)
    return rows


def _blank() -> dict[str, Any]:
    return {
        f: None
        for f in (
            "dict_id",
            "dict_status",
            "dict_last_modified",
            "donor_participant",
            "claimer_branch",
            "claimer_trade_name",
            "created_at",
            "resolution_period_end",
            "completion_period_end",
            "day30_limit",
            "entry_id",
            "confirm_reason",
            "cancel_reason",
            "cancelled_by",
        )
    }


def observe(
    step: Step, row: Mapping[str, Any], dict_status: str, dict_fields: Mapping[str, Any]
) -> str | None:
    """Apply a status the DICT reports for a claim we hold; returns the trigger fired.

    Never backwards: a status behind ours is list lag. A status our machine cannot
    reach from where it is is recorded as an anomaly (alerted), not ignored.
    """
    trigger = LEARN.get(dict_status, {}).get(row["status"])
    if trigger is None:
        anomaly = _absent(row["status"], dict_status)
        step.conn.execute(
            db.q("claims.seen"),
            {
                "id": row["id"],
                "dict_status": dict_status,
                "now": step.now,
                "anomaly": anomaly,
                "dict_last_modified": dict_fields.get("dict_last_modified"),
            },
        )
        if anomaly:
            step.add(
                [
                    outbox.event(
                        "claims.anomaly",
                        {
                            "claim_id": str(row["id"]),
                            "dict_id": row["dict_id"],
                            "status": row["status"],
                            "dict_status": dict_status,
                            "anomaly": anomaly,
                        },
                        subject=subject(row["id"]),
                    )
                ]
            )
        return None
    apply(
        step,
        row["id"],
        trigger,
        reason=dict_fields.get("cancel_reason") or dict_fields.get("confirm_reason"),
        **dict_fields,
    )
    return trigger


def pending_reason(row: Mapping[str, Any]) -> str:
    return str((row["pending"] or {}).get("reason", ""))


def request(step: Step, claim_id: Any, operation: str, reason: str | None = None) -> None:
    """Ask for confirm, cancel or complete: the call leaves with the claim's row."""
    trigger = {"confirm": "confirm", "cancel": "cancel", "complete": "complete"}[operation]
    row = step.conn.execute(db.q("claims.get"), {"id": claim_id}).fetchone()
    fire(
        step,
        claim_id,
        trigger,
        reason=reason,
        pending={"reason": reason, "from": row["status"] if row else None},
    )


def now_allowed(row: Mapping[str, Any], operation: str, at: datetime) -> frozenset[str]:
    """The reasons our role may use for ``operation`` now (empty: not allowed now)."""
    status = DICT_STATUS.get(row["status"]) or ""
    if operation == "cancel":
        return frozenset(
            rules.allowed_cancel_reasons(row["type"], row["role"], status, at, periods(row))
        )
    if operation == "confirm" and row["role"] == "DONOR" and status == "WAITING_RESOLUTION":
        return frozenset(
            rules.allowed_confirm_reasons(row["type"], at, periods(row).resolution_end)
        )
    return frozenset()


def apply(step: Step, claim_id: Any, trigger: str, **kwargs: Any) -> str:
    """Fire ``trigger`` and do what the new status means beyond the claim itself:
    the donor's entry leaves our base at CONFIRMED, the claimer completes as soon as
    the rules allow, and the claimer's new entry joins our base at COMPLETED."""
    before, status = fire(step, claim_id, trigger, **kwargs)
    row = step.conn.execute(db.q("claims.get"), {"id": claim_id}).fetchone()
    assert row is not None
    if status == "confirmed" and row["role"] == "DONOR" and row["entry_id"]:
        entry.claimed_away(step, row["entry_id"])
    elif status == "confirmed" and row["role"] == "CLAIMER":
        complete_if_due(step, row)
    elif status == "completed" and row["role"] == "CLAIMER" and row["entry_id"] is None:
        new = entry.adopt(step, _claimer_entry(row), row["completion_request_id"])
        step.conn.execute(db.q("claims.set_entry"), {"id": claim_id, "entry_id": new["id"]})
    del before
    return status


def complete_if_due(step: Step, row: Mapping[str, Any]) -> bool:
    """Claimer: complete now if the rules allow it (portability at once; ownership after
    CompletionPeriodEnd, once our user proved possession)."""
    if row["status"] != "confirmed" or row["role"] != "CLAIMER":
        return False
    if row["type"] == "OWNERSHIP" and row["possession_validated_at"] is None:
        return False
    if not rules.completion_allowed(row["type"], step.now, periods(row)):
        return False
    request(step, row["id"], "complete")
    return True


def _claimer_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": row["key"],
        "key_type": row["key_type"],
        "participant": row["claimer_participant"],
        "branch": row["claimer_branch"],
        "account_number": row["claimer_account_number"],
        "account_type": row["claimer_account_type"],
        "opening_date": row["claimer_opening_date"],
        "owner_type": row["claimer_type"],
        "owner_tax_id": row["claimer_tax_id"],
        "owner_name": row["claimer_name"],
        "owner_trade_name": row["claimer_trade_name"],
    }
