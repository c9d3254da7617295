"""Our calls on an object the DICT holds and we follow (infraction reports, refund
requests): the rules claims follow too, written once.

Re-read, act only in the expected status, no transaction across the call, apply the
answer guarded by the status it expects. Transport failures, 5xx and rate limits raise:
Dramatiq retries the same call (the DICT answers a repeat of these calls as the first).
A refusal goes back to the status the call left, then the object is read again and moved
to whatever the DICT holds: the other side may have won a race.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from app import db, outbox
from app.domain import problems
from statemachines.core import Follower, IllegalTrigger

log = logging.getLogger(__name__)


class Row(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def status(self) -> str: ...
    @property
    def dict_id(self) -> str | None: ...


class Item(Protocol):
    @property
    def status(self) -> str: ...


ItemT = TypeVar("ItemT", bound=Item)
RowT = TypeVar("RowT", bound=Row)


@dataclass(frozen=True)
class Followed(Generic[ItemT, RowT]):
    """How the actors reach one kind of object."""

    what: str
    """Its name in logs ("infraction report")."""
    machine: Follower
    get: Callable[[db.Conn, Any], RowT | None]
    read: Callable[[str], ItemT]
    """The object as the DICT holds it now, by the DICT's id."""
    fields: Callable[[ItemT, RowT], Mapping[str, Any]]
    """What the DICT says of it, as our columns (our row gives the role)."""

    def load(self, subject_id: Any) -> RowT | None:
        with db.pool().connection() as conn:
            return self.get(conn, subject_id)

    def locked(self, s: outbox.Step, subject_id: Any) -> RowT:
        row = self.get(s.conn, subject_id)
        assert row is not None
        return row

    def apply(self, subject_id: Any, change: Callable[[outbox.Step], Any]) -> None:
        """Apply an answer; a concurrent delivery or a poll that got there first is
        success."""
        try:
            with outbox.step(actor="worker") as s:
                change(s)
        except IllegalTrigger as exc:
            log.info("%s %s already moved on (%s)", self.what, subject_id, exc.current)

    def settle(self, s: outbox.Step, row: RowT, answer: ItemT, first: str | None = None) -> None:
        """Fire ``first`` (the trigger that ends our call when the DICT's status says
        nothing of it: submitted, updated) with what the DICT said, then catch up."""
        fields = self.fields(answer, row)
        if first is not None:
            self.machine.fire(s, row.id, first, **fields)
        self.machine.observe(s, self.locked(s, row.id), answer.status, fields)

    def dict_id(self, row: RowT) -> str:
        """The DICT's id of an object past ``submitting`` (a CHECK constraint guarantees it)."""
        if row.dict_id is None:
            raise LookupError(f"{self.what} {row.id} has no DICT id yet")
        return row.dict_id

    def call(
        self,
        subject_id: str,
        in_flight: str,
        send: Callable[[RowT], ItemT],
        *,
        refused: str,
        done: str | None = None,
    ) -> None:
        """Make the call waiting in ``in_flight`` (``send`` builds and sends it from the
        row and its ``pending``); apply the DICT's answer (``done`` first, if given), or
        its refusal (``refused``)."""
        row = self.load(subject_id)
        if row is None or row.status != in_flight:
            return
        try:
            answer = send(row)
        except problems.DictProblem as exc:
            if exc.retryable:
                raise
            self.refuse(row, refused, exc)
            return
        self.apply(subject_id, lambda s: self.settle(s, row, answer, done))

    def refuse(self, row: RowT, trigger: str, exc: problems.DictProblem) -> None:
        """Go back with the DICT's refusal, then move to what the DICT holds. The object
        is read first: if that fails the actor is retried and nothing changed."""
        fresh = self.read(self.dict_id(row))

        def change(s: outbox.Step) -> None:
            problem = (exc.type, exc.detail)
            self.machine.fire(s, row.id, trigger, reason=exc.type, problem=problem)
            self.settle(s, row, fresh)

        self.apply(row.id, change)
