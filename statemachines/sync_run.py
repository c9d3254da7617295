"""The sync run machine: one verification of one key type's VSync and, when the DICT
answers NOK, the search for the divergences, their repair and a second verification
(DICT.md §3; docs/reconciliation.md says which side moves for each divergence).

    verifying --in_sync--> ok
        |  `--still_diverged--> failed         (NOK after a repair from the file, and at
        |                                       each of SYNC_RECHECKS rechecks a minute apart)
        |  `--verify_refused--> failed         (the DICT refused the verification)
        `--diverged--> collecting --collect_failed--> failed
                           `--collected--> comparing --compared--> reconciling
                                               `--held--> awaiting_approval --approve--> reconciling
                                                               `--reject--> rejected
    reconciling --reconciled--> verifying      (the VSync recomputed from our CIDs)
    comparing --restage--> collecting          (a database crash emptied the staged file)

Each non-terminal status has one actor that moves it (``actors/sync.py``), in short runs
that leave their progress in the row; ``abandon`` ends a run from any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app import outbox, settings
from app.events import SyncDiverged, SyncFailed, SyncVerified
from app.outbox import Effect, Step
from app.repo import sync_runs
from app.repo.sync_runs import SyncRunRow
from statemachines import core
from statemachines.core import Spec, Subject, T, Transition

MACHINE = "sync_run"
OPEN = ("verifying", "collecting", "comparing", "awaiting_approval", "reconciling")


def subject(run_id: Any) -> str:
    return f"sync_run:{run_id}"


def _call(actor: str) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    def build(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
        return [outbox.task(actor, subject=subject(s.id), run_id=int(s.id))]

    return build


def _verified(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
    row: SyncRunRow = s.row
    event = SyncVerified(
        run_id=row.id,
        key_type=row.key_type,
        vsync=ctx["vsync"],
        verification_id=ctx["verification_id"],
        repaired=row.repaired,
    )
    return [outbox.event("sync.verified", event, subject=subject(s.id))]


def _failed(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
    row: SyncRunRow = s.row
    event = SyncFailed(run_id=row.id, key_type=row.key_type, status=s.state, problem=ctx["problem"])
    return [outbox.event("sync.failed", event, subject=subject(s.id))]


def _diverged(then: str | None) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    """sync.diverged (when there are any), then the next actor's call."""

    def build(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
        row: SyncRunRow = s.row
        effects = [] if then is None else [outbox.task(then, subject=subject(s.id), run_id=row.id)]
        if ctx["divergences"]:
            event = SyncDiverged(
                run_id=row.id,
                key_type=row.key_type,
                divergences=ctx["divergences"],
                source=row.source or "file",
                awaiting_approval=then is None,
                threshold=row.threshold,
            )
            effects.insert(0, outbox.event("sync.diverged", event, subject=subject(s.id)))
        return effects

    return build


SPEC = Spec(
    table="sync_runs",
    row=SyncRunRow,
    name=MACHINE,
    states=(*OPEN, "ok", "failed", "rejected"),
    initial=("verifying",),
    terminal=("ok", "failed", "rejected"),
    transitions=(
        T("in_sync", "verifying", "ok", effects=_verified),
        T("diverged", "verifying", "collecting", effects=_call("collect_sync")),
        T("still_diverged", "verifying", "failed", effects=_failed),
        T("verify_refused", "verifying", "failed", effects=_failed),
        T("collected", "collecting", "comparing", effects=_call("compare_sync")),
        T("restage", "comparing", "collecting", effects=_call("collect_sync")),
        T("collect_failed", "collecting", "failed", effects=_failed),
        T("compared", "comparing", "reconciling", effects=_diverged("reconcile_sync")),
        T("held", "comparing", "awaiting_approval", effects=_diverged(None)),
        T("approve", "awaiting_approval", "reconciling", effects=_call("reconcile_sync")),
        T("reject", "awaiting_approval", "rejected", effects=_failed),
        T("reconciled", "reconciling", "verifying", effects=_call("verify_sync")),
        T("abandon", OPEN, "failed", effects=_failed),
    ),
)

_KEPT_WHEN_NONE = (
    "source",
    "vsync",
    "verification_id",
    "verified_at",
    "since",
    "snapshot_at",
    "file_bytes",
    "file_sha256",
    "file_cids",
    "divergences",
    "repaired",
    "decided_by",
    "problem",
)
"""The columns a transition may set (``sync_runs.set_status``); None keeps the value."""


def fire(
    step: Step, run_id: Any, trigger: str, *, reason: str | None = None, **values: Any
) -> Transition:
    """``core.fire`` on the sync run machine, with the columns this transition sets."""
    unknown = set(values) - {*_KEPT_WHEN_NONE, "verified"}
    if unknown:
        raise TypeError(f"sync_runs.set_status has no {', '.join(sorted(unknown))}")
    params = {k: None for k in _KEPT_WHEN_NONE} | {"verified": False} | values
    return core.fire(step, SPEC, run_id, trigger, reason=reason, params=params)


def start(
    step: Step, key_types: Sequence[str], cause: str, requested_by: str | None = None
) -> list[SyncRunRow]:
    """A run for each key type that has none open, each with its verify_sync call."""
    step.tag("start", cause)
    runs = sync_runs.start(
        step.conn, key_types, cause, settings.sync().approval_threshold, step.now, requested_by
    )
    step.add(outbox.task("verify_sync", subject=subject(r.id), run_id=r.id) for r in runs)
    return runs


def approve(step: Step, run_id: Any, by: str, reason: str | None = None) -> Transition:
    """An operator lets a large reconciliation go ahead."""
    return fire(step, run_id, "approve", reason=reason, decided_by=by)


def reject(step: Step, run_id: Any, by: str, reason: str | None = None) -> Transition:
    """An operator refuses a large reconciliation: the run ends, our base untouched."""
    problem = f"reconciliation rejected by {by}" + (f": {reason}" if reason else "")
    return fire(step, run_id, "reject", reason=reason, decided_by=by, problem=problem)


def abandon(step: Step, run_id: Any, by: str, reason: str | None = None) -> Transition:
    """An operator ends a run stuck in any open status."""
    problem = f"abandoned by {by}" + (f": {reason}" if reason else "")
    return fire(step, run_id, "abandon", reason=reason, decided_by=by, problem=problem)
