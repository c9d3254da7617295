"""Every machine, and their mirror in SQL (written by ``dict-connect migrate``)."""

from __future__ import annotations

from collections.abc import Callable

from app import db
from app.outbox import Step
from statemachines import claim, entry
from statemachines.core import IllegalTrigger, Spec

MACHINES: dict[str, Spec] = {s.name: s for s in (entry.SPEC, claim.SPEC)}


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


_OPERATOR_TRIGGERS: dict[str, dict[str, Callable[[Step, str, str | None], None]]] = {
    "entry": {
        "delete": lambda s, i, r: entry.request_delete(s, i, r or "RECONCILIATION"),
    },
}
