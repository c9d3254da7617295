"""Every machine, and their mirror in SQL (written by ``dict-connect migrate``)."""

from __future__ import annotations

from collections.abc import Callable

from app import db, outbox
from app.outbox import Step
from statemachines import (
    claim,
    claim_steps,
    entry,
    fraud_marker,
    infraction_report,
    refund,
    sync_run,
)
from statemachines.core import IllegalTrigger, Spec

MACHINES: dict[str, Spec] = {
    s.name: s
    for s in (
        entry.SPEC,
        claim.SPEC,
        sync_run.SPEC,
        infraction_report.SPEC,
        fraud_marker.SPEC,
        refund.SPEC,
    )
}


def mirror(conn: db.Conn) -> None:
    """Replace ``machine_states`` and ``state_transitions`` with the declarations."""
    conn.execute(db.q("migrate.clear_machines"))
    with conn.cursor() as cur:
        cur.executemany(
            db.q("migrate.add_state"),
            [
                {"machine": s.name, "status": st, "initial": st in s.initial}
                for s in MACHINES.values()
                for st in s.states
            ],
        )
        cur.executemany(
            db.q("migrate.add_transition"),
            [
                {"machine": s.name, "trigger": t, "from_status": a, "to_status": b}
                for s in MACHINES.values()
                for t, a, b in sorted(s.edges())
            ],
        )


def operator_fire(
    step: Step, machine: str, subject_id: str, trigger: str, reason: str | None
) -> None:
    """Fire a trigger an operator asked for; only triggers that need no DICT answer."""
    spec = MACHINES.get(machine)
    if spec is None:
        raise LookupError(f"no machine named {machine!r}")
    action = _OPERATOR_TRIGGERS.get(machine, {}).get(trigger)
    if action is None:
        raise IllegalTrigger(
            machine,
            subject_id,
            "?",
            trigger,
            sorted(_OPERATOR_TRIGGERS.get(machine, {})),
            detail=f"{trigger!r} cannot be asked for by an operator",
        )
    action(step, subject_id, reason)


def _claim_decision(operation: str) -> Callable[[Step, str, str | None], None]:
    """Confirm or cancel with a reason our role may give now (DICT.md §2), checked as the
    API's under the claim's lock; the DICT's answer arrives as for any other decision."""

    def act(step: Step, claim_id: str, reason: str | None) -> None:
        claim_steps.decide(step, claim_id, operation, reason, by_operator=True)

    return act


def _claim_acknowledge(step: Step, claim_id: str, reason: str | None) -> None:
    """Donor: AcknowledgeClaim now (the poll does it too; the call is idempotent)."""
    step.add([outbox.task("acknowledge_claim", subject=claim.subject(claim_id), claim_id=claim_id)])


_OPERATOR_TRIGGERS: dict[str, dict[str, Callable[[Step, str, str | None], object]]] = {
    "entry": {
        "delete": lambda s, i, r: entry.request_delete(s, i, r or "RECONCILIATION"),
    },
    "claim": {
        "acknowledge": _claim_acknowledge,
        "confirm": _claim_decision("confirm"),
        "cancel": _claim_decision("cancel"),
        "complete": lambda s, i, r: claim_steps.request(s, i, "complete"),
    },
    "sync_run": {
        "approve": lambda s, i, r: sync_run.approve(s, int(i), s.actor, r),
        "reject": lambda s, i, r: sync_run.reject(s, int(i), s.actor, r),
        "abandon": lambda s, i, r: sync_run.abandon(s, int(i), s.actor, r),
    },
    # MED: the calls that need no analysis (a close carries one: the API takes it).
    "infraction_report": {
        "acknowledge": lambda s, i, r: infraction_report.request(s, i, "acknowledge"),
        "cancel": lambda s, i, r: infraction_report.request(s, i, "cancel"),
    },
    "refund": {
        "cancel": lambda s, i, r: refund.request(s, i, "cancel"),
    },
}
