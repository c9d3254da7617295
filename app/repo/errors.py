"""psycopg errors as domain errors, keyed on the constraint that refused (one place).

The database is the last guard: a transition the ``state_transitions`` mirror does
not allow, a second live entry for a key, a second open claim on a key in one role.
Whoever reaches it (a race the code did not foresee, an operator in psql, a bug),
the caller gets an error that says which rule held, and the API answers 409, never 500.
"""

from __future__ import annotations

import psycopg


class StateConflict(Exception):
    """The database refused a change the current state does not allow (API: 409).

    Shaped like ``statemachines.core.IllegalTrigger`` (``current``, ``allowed``), so the
    API renders both the same way.
    """

    def __init__(self, constraint: str, detail: str) -> None:
        super().__init__(detail)
        self.constraint, self.detail = constraint, detail
        self.current, self.allowed = "", list[str]()


CONSTRAINTS: dict[str, str] = {
    "illegal_transition": "the state machine does not allow this status change",
    "entries_live_key": "this key already has a live entry here",
    "claims_dict_id_role": "this claim is already recorded in this role",
    "claims_one_open_per_key_role": "a claim on this key is already open in this role",
    "infraction_reports_one_live_per_transaction": (
        "a report of ours on this transaction and reason is already live"
    ),
    "infraction_reports_dict_id_role": "this report is already recorded in this role",
    "fraud_markers_dict_id": "this fraud marker is already recorded",
    "fraud_markers_one_per_report": "the fraud marker of this report is already recorded",
    "refunds_one_open_per_transaction": "a refund of ours on this transaction is in progress",
    "refunds_dict_id_role": "this refund request is already recorded in this role",
}
"""Constraint name -> what it protects (the trigger's ``illegal_transition`` included)."""


def domain_error(exc: BaseException) -> StateConflict | None:
    """The domain error a psycopg error stands for, or None when no rule of ours refused."""
    if not isinstance(exc, psycopg.errors.IntegrityError):
        return None
    constraint = exc.diag.constraint_name if exc.diag else None
    if constraint not in CONSTRAINTS:
        return None
    return StateConflict(constraint, CONSTRAINTS[constraint])
