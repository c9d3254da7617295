"""State machines as data, executed by pytransitions, persisted by guarded UPDATEs.

A machine module declares a ``Spec``: its states, which of them a row may start in,
its transitions (trigger, sources, dest, guards, effects), and the table its subjects
live in with their row type. One pytransitions ``Machine`` per spec is built once with
``model=None``; firing attaches nothing to it, it runs the event on a throw-away
``Subject`` holding the row's saved status. Guards and effect builders do no I/O:
effects are values the caller writes to the outbox in the same transaction as the
status change. ``fire`` is the one write path of every machine.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from psycopg.types.json import Jsonb
from transitions import EventData, Machine, MachineError

from app import repo
from app.outbox import Effect, Step

log = logging.getLogger(__name__)
R = TypeVar("R")

# pytransitions logs every callback at INFO: thousands of lines a second in a worker.
logging.getLogger("transitions").setLevel(logging.WARNING)

Guard = Callable[["Subject", Mapping[str, Any]], bool]
EffectBuilder = Callable[["Subject", Mapping[str, Any]], "list[Effect] | Effect"]


class IllegalTrigger(Exception):
    """A trigger the subject's current status does not allow (the API answers 409)."""

    retryable = False  # the same trigger on the same status is refused again: no retries

    def __init__(
        self,
        machine: str,
        subject_id: str,
        current: str,
        trigger: str,
        allowed: list[str],
        detail: str = "",
    ) -> None:
        self.machine, self.subject_id, self.current = machine, subject_id, current
        self.trigger, self.allowed = trigger, allowed
        self.detail = detail or (
            f"{machine} {subject_id} is {current}: {trigger!r} is not allowed "
            f"(allowed: {', '.join(allowed) or 'none'})"
        )
        super().__init__(self.detail)


class Conflict(IllegalTrigger):
    """The row changed under us: the guarded UPDATE matched nothing (someone else won)."""


@dataclass(frozen=True)
class T:
    """One transition: ``trigger`` moves a subject from any of ``source`` to ``dest``."""

    trigger: str
    source: tuple[str, ...]
    dest: str
    guards: tuple[Guard, ...] = ()
    effects: EffectBuilder | None = None

    def __init__(
        self,
        trigger: str,
        source: str | tuple[str, ...],
        dest: str,
        guards: tuple[Guard, ...] = (),
        effects: EffectBuilder | None = None,
    ) -> None:
        object.__setattr__(self, "trigger", trigger)
        object.__setattr__(self, "source", (source,) if isinstance(source, str) else source)
        object.__setattr__(self, "dest", dest)
        object.__setattr__(self, "guards", guards)
        object.__setattr__(self, "effects", effects)


@dataclass
class Subject:
    """The model pytransitions moves: a row's id and status, and what firing produced."""

    id: str
    state: str
    row: Any  # the subject's typed row (e.g. app.repo.claims.ClaimRow), before the change
    now: datetime
    effects: list[Effect] = field(default_factory=list)


@dataclass(frozen=True)
class Fired:
    """The outcome of a trigger: the status change and the effects to write."""

    trigger: str
    from_status: str
    to_status: str
    effects: list[Effect]


class Spec:
    """A machine's declaration and its pytransitions executor."""

    def __init__(
        self,
        name: str,
        states: tuple[str, ...],
        initial: tuple[str, ...],
        transitions: tuple[T, ...],
        terminal: tuple[str, ...] = (),
        *,
        table: str,
        row: type[Any],
    ) -> None:
        self.name, self.states, self.initial = name, states, initial
        self.terminal, self.transitions = terminal, transitions
        self.table, self.row = table, row
        """``table``: the file of its named queries (``<table>.lock``, ``<table>.set_status``);
        ``row``: the row type those queries return."""
        self._machine = Machine(
            model=None,
            states=list(states),
            initial=None,
            auto_transitions=False,
            send_event=True,
            transitions=[self._as_dict(t) for t in transitions],
        )

    @staticmethod
    def _as_dict(t: T) -> dict[str, Any]:
        def guard(g: Guard) -> Callable[[EventData], bool]:
            return lambda ev: g(cast(Subject, ev.model), ev.kwargs)

        def effects(ev: EventData) -> None:
            if t.effects is not None:
                subject = cast(Subject, ev.model)
                made = t.effects(subject, ev.kwargs)
                subject.effects.extend(made if isinstance(made, list) else [made])

        return {
            "trigger": t.trigger,
            "source": list(t.source),
            "dest": t.dest,
            "conditions": [guard(g) for g in t.guards],
            "after": [effects],
        }

    def allowed(self, status: str) -> list[str]:
        """Triggers declared from ``status`` (guards aside)."""
        return sorted({t.trigger for t in self.transitions if status in t.source})

    def edges(self) -> set[tuple[str, str, str]]:
        """(trigger, from, to) for every declared transition: what migrate mirrors."""
        return {(t.trigger, s, t.dest) for t in self.transitions for s in t.source}

    def fire(
        self,
        subject_id: str,
        status: str,
        row: Mapping[str, Any],
        trigger: str,
        now: datetime,
        **ctx: Any,
    ) -> Fired:
        """Run ``trigger`` on a subject in ``status``; raise IllegalTrigger if refused."""
        subject = Subject(id=subject_id, state=status, row=row, now=now)
        event = self._machine.events.get(trigger)
        if event is None:
            raise IllegalTrigger(self.name, subject_id, status, trigger, self.allowed(status))
        try:
            moved = event.trigger(subject, **ctx)
        except MachineError:
            raise IllegalTrigger(
                self.name, subject_id, status, trigger, self.allowed(status)
            ) from None
        if not moved:
            raise IllegalTrigger(
                self.name,
                subject_id,
                status,
                trigger,
                self.allowed(status),
                detail=f"{self.name} {subject_id} is {status}: a guard of {trigger!r} refused",
            )
        return Fired(trigger, status, subject.state, subject.effects)


@dataclass(frozen=True)
class Transition:
    """What ``fire`` did: the row before the change, the status after, the values the
    UPDATE was given."""

    before: Any
    to_status: str
    values: Mapping[str, Any]


Params = Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None


def fire(
    step: Step,
    spec: Spec,
    subject_id: Any,
    trigger: str,
    *,
    reason: str | None = None,
    query: str | None = None,
    params: Params = None,
) -> Transition:
    """The one write path of every machine: lock the subject (its lock query also tags
    the transaction for ``state_history``), fire ``trigger``, persist with a guarded
    ``UPDATE … WHERE id = … AND status = <old>``, write the effects to the outbox.

    ``query`` (default ``<table>.set_status``) gets ``params`` (or a function of the
    locked row giving them) plus id, from/to status and now. Raises IllegalTrigger
    when the status does not allow the trigger, Conflict when the UPDATE matched no row.
    """
    row = repo.one(
        step.conn,
        f"{spec.table}.lock",
        {"id": subject_id, "now": step.now, **step.tags(trigger, reason)},
        spec.row,
    )
    if row is None:
        raise LookupError(f"{spec.name} {subject_id} not found")
    values = (params(row) if callable(params) else params) or {}
    fired = spec.fire(str(subject_id), row.status, row, trigger, step.now, **values)
    changed = repo.run(
        step.conn,
        query or f"{spec.table}.set_status",
        {
            **values,
            "id": subject_id,
            "from_status": fired.from_status,
            "to_status": fired.to_status,
            "now": step.now,
        },
    )
    if changed != 1:
        raise Conflict(spec.name, str(subject_id), row.status, trigger, spec.allowed(row.status))
    step.add(fired.effects)
    return Transition(row, fired.to_status, values)


def dict_params(
    names: Iterable[str],
    fields: Mapping[str, Any],
    pending: Mapping[str, Any] | None,
    problem: tuple[str, str] | None,
) -> dict[str, Any]:
    """The UPDATE values of a machine that follows a DICT object (claims, infraction
    reports): what the DICT said (``names``, None when not said), the call now in
    flight (``pending``) and the DICT's last refusal (``problem``: type, detail)."""
    return {
        **{f: fields.get(f) for f in names},
        "pending": Jsonb(pending) if pending else None,
        "problem_type": problem[0] if problem else None,
        "problem_detail": problem[1][:500] if problem else None,
    }


Triggers = tuple[str, ...] | None
"""What brings our record level with a status the DICT reports: the triggers to fire in
order; () nothing now (the list lags behind us, or a call of ours is in flight and its
answer settles it); None an anomaly (our record can never reach it: logged, left for an
operator)."""


@dataclass(frozen=True)
class Follower:
    """The steps of a machine that follows a DICT object (infraction reports, refunds,
    fraud markers): fire with what the DICT said, ask for a call, catch up."""

    spec: Spec
    fields: tuple[str, ...]
    """The columns a transition may fill with what the DICT said (``<table>.set_status``)."""
    catch_up: Mapping[str, Mapping[str, Triggers]]
    """By our status then the DICT's: the triggers that bring our record level."""
    get: Callable[[Any, Any], Any]
    """``(conn, id)`` -> the row."""
    seen: Callable[[Any, Any, Any, Mapping[str, Any]], None]
    """``(conn, id, now, said)``: record what the DICT said when our status does not move."""
    kept: tuple[str, ...] = ()
    """Arguments of our call in flight the DICT's object does not echo (a close's fraud
    type): kept when the DICT's status arrives."""

    def fire(
        self,
        step: Step,
        subject_id: Any,
        trigger: str,
        *,
        reason: str | None = None,
        pending: Mapping[str, Any] | None = None,
        problem: tuple[str, str] | None = None,
        **said: Any,
    ) -> Transition:
        """``fire`` with what the DICT said (``fields``), the call now in flight
        (``pending``) and the DICT's last refusal (``problem``)."""
        params = dict_params(self.fields, said, pending, problem)
        return fire(step, self.spec, subject_id, trigger, reason=reason, params=params)

    def request(self, step: Step, subject_id: Any, operation: str, **arguments: Any) -> Transition:
        """Ask for a call: it leaves with the row, its arguments and the status it left
        waiting in ``pending``."""
        row = self.get(step.conn, subject_id)
        pending = {"from": row.status if row else None, **arguments}
        return self.fire(step, subject_id, operation, pending=pending)

    def triggers(self, status: str, dict_status: str) -> Triggers:
        return self.catch_up.get(status, {}).get(dict_status, ())

    def observe(
        self, step: Step, row: Any, dict_status: str, said: Mapping[str, Any]
    ) -> tuple[str, ...]:
        """Bring our record level with what the DICT just said; returns the triggers
        fired. An item older than what we saw (the lists repeat and lag) changes nothing."""
        before, now = row.dict_last_modified, said.get("dict_last_modified")
        if before and now and now < before:
            return ()
        triggers = self.triggers(row.status, dict_status)
        if triggers is None:
            log.warning(
                "%s %s: we hold %s but the DICT says %s",
                self.spec.name,
                row.id,
                row.status,
                dict_status,
            )
            return ()
        if not triggers:
            self.seen(step.conn, row.id, step.now, said)
            return ()
        fields = {**said, **{k: (row.pending or {}).get(k) for k in self.kept}}
        for trigger in triggers:
            self.fire(step, row.id, trigger, **fields)
        return triggers


def new_row(
    row: Callable[..., R], now: datetime, fields: Mapping[str, Any], status: str, **ids: Any
) -> R:
    """A row to insert in ``status``, its id drawn here (and any other ``ids`` given)."""
    return row(**fields, id=uuid.uuid4(), status=status, inserted_at=now, updated_at=now, **ids)
