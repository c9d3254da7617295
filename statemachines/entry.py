"""The entry machine: a Pix key of ours, from registration to deletion.

    registering --registered--> active --update--> updating --updated--> active
         |                        |                    `--update_refused--> active
         `--register_refused--> rejected
                                  `--delete--> deleting --deleted--> deleted
                                                   `--delete_refused--> active

Every change of an entry's CID moves it in or out of ``cids`` and the key type's VSync
in the same transaction: the trigger ``entries_cid_moved`` (migration 0009) does it,
so no step here can forget.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from app import db, outbox
from app.domain import problems
from app.domain.cid import compute_cid
from app.events import EntryEvent
from app.outbox import Effect, Step
from app.repo import claims, entries
from app.repo.entries import EntryRow
from statemachines import core
from statemachines.core import Params, Spec, Subject, T, Transition

MACHINE = "entry"


def _subject(s: Subject) -> str:
    return f"entry:{s.id}"


def _call(actor: str) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    def build(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
        return [outbox.task(actor, subject=_subject(s), entry_id=s.id)]

    return build


def _event(topic: str) -> Callable[[Subject, Mapping[str, Any]], list[Effect]]:
    def build(s: Subject, ctx: Mapping[str, Any]) -> list[Effect]:
        event = EntryEvent(
            entry_id=s.id,
            key_type=s.row.key_type,
            key=ctx.get("key") or s.row.key,
            status=s.state,
            problem_type=ctx.get("problem_type"),
        )
        return [outbox.event(topic, event, subject=_subject(s))]

    return build


SPEC = Spec(
    table="entries",
    row=EntryRow,
    name=MACHINE,
    states=("registering", "active", "updating", "deleting", "deleted", "rejected"),
    initial=("registering",),
    terminal=("deleted", "rejected"),
    transitions=(
        T("registered", "registering", "active", effects=_event("entries.created")),
        T("register_refused", "registering", "rejected", effects=_event("entries.rejected")),
        T("update", "active", "updating", effects=_call("update_entry")),
        T("updated", "updating", "active", effects=_event("entries.updated")),
        T("update_refused", "updating", "active", effects=_event("entries.update_refused")),
        T("delete", "active", "deleting", effects=_call("delete_entry")),
        T("deleted", "deleting", "deleted", effects=_event("entries.deleted")),
        T("delete_refused", "deleting", "active", effects=_event("entries.delete_refused")),
        T("claimed_away", ("active", "updating"), "deleted", effects=_event("entries.deleted")),
        T("reconciled", "active", "active"),
        T("reconciled_away", "active", "deleted"),
    ),
)


def cid_of(row: EntryRow, **changes: Any) -> str:
    """The entry's CID, keyed by its creation RequestId (DICT.md §3), with ``changes``."""
    r = msgspec.structs.replace(row, **changes) if changes else row
    return compute_cid(
        str(r.request_id),
        r.key_type,
        r.key or "",
        r.owner_tax_id,
        r.owner_name,
        r.owner_trade_name,
        r.participant,
        r.branch,
        r.account_number,
        r.account_type,
    )


def cid_of_fields(fields: Mapping[str, Any], request_id: uuid.UUID) -> str:
    """The CID of an entry given as the columns of ``entries`` (a DICT entry)."""
    return compute_cid(
        str(request_id),
        fields["key_type"],
        fields["key"],
        fields["owner_tax_id"],
        fields["owner_name"],
        fields["owner_trade_name"],
        fields["participant"],
        fields["branch"],
        fields["account_number"],
        fields["account_type"],
    )


class KeyTaken(Exception):
    """The key already has a live entry here (unique index ``entries_live_key``)."""

    violations = [("key", "key_already_registered", "this key already has a live entry here")]


def _uuid4s(n: int) -> list[uuid.UUID]:
    """``n`` random (version 4) UUIDs from one ``os.urandom`` call. ``uuid4()`` makes one
    call each, and each call releases the GIL: in the API the batcher's thread then waits
    for the event loop to hand it back, up to the 5 ms switch interval, twice per entry
    (docs/benchmarks.md)."""
    random = os.urandom(16 * n)
    return [uuid.UUID(bytes=random[i : i + 16], version=4) for i in range(0, 16 * n, 16)]


def create(step: Step, batch: Sequence[Mapping[str, Any]]) -> list[EntryRow | KeyTaken]:
    """Insert validated entries as registering, each with its CreateEntry call, in one
    statement (``entries.create``; run it in an ``outbox.statement()`` step). One
    answer per entry, in order: its row, or ``KeyTaken``."""
    rows, calls = [], []
    ids = _uuid4s(2 * len(batch))
    for n, fields in enumerate(batch):
        entry_id, request_id = ids[2 * n], ids[2 * n + 1]
        calls.append(
            outbox.task(
                "register_entry",
                subject=f"entry:{entry_id}",
                trace_context=fields.get("trace_context"),  # the request's (app.tracing)
                entry_id=str(entry_id),
            )
        )
        rows.append(
            {
                **fields,
                "id": entry_id,
                "status": "registering",
                "request_id": request_id,
                "created_at": step.now,
                "updated_at": step.now,
            }
        )
    outbox_rows = [outbox.params(c, step.now) for c in calls]
    inserted = {
        r["id"]: r
        for r in step.conn.execute(
            db.q("entries.create"),
            {
                **step.tags("create", step.reason or "USER_REQUESTED"),
                "now": step.now,
                "entries": Jsonb(rows, dumps=msgspec.json.encode),
                "outbox": Jsonb(outbox_rows, dumps=msgspec.json.encode),
            },
        )
    }
    answers: list[EntryRow | KeyTaken] = []
    for r, call in zip(rows, calls, strict=True):
        row = inserted.get(r["id"])
        if row is None:
            answers.append(KeyTaken())
        else:
            step.written(call, row.pop("outbox_id"))
            answers.append(EntryRow(**row))
    return answers


def register(batch: list[Mapping[str, Any]]) -> list[EntryRow | BaseException]:
    """``create`` for the API's batcher: one statement for the whole batch; if it
    fails, each entry alone, so that one bad entry fails only its own request."""
    try:
        with outbox.statement(actor="api", trigger="create", reason="USER_REQUESTED") as s:
            return list(create(s, batch))
    except psycopg.OperationalError:  # the database cannot run it: alone would not either
        raise
    except psycopg.Error:
        if len(batch) == 1:
            raise
    answers: list[EntryRow | BaseException] = []
    for fields in batch:
        try:
            answers.extend(register([fields]))
        except psycopg.Error as exc:
            answers.append(exc)
    return answers


def fire(
    step: Step,
    entry_id: uuid.UUID | str,
    trigger: str,
    *,
    query: str = "entries.set_status",
    reason: str | None = None,
    params: Params = None,
) -> Transition:
    """``core.fire`` on the entry machine."""
    return core.fire(step, SPEC, entry_id, trigger, query=query, reason=reason, params=params)


def registered(step: Step, entry_id: uuid.UUID | str, key: str) -> None:
    """The DICT created the entry (for an EVP, ``key`` is the one it generated)."""
    fire(
        step,
        entry_id,
        "registered",
        query="entries.set_active",
        params=lambda row: {"key": key, "cid": cid_of(row, key=key)},
    )


def refused(
    step: Step, entry_id: uuid.UUID | str, trigger: str, problem_type: str, detail: str
) -> None:
    """The DICT refused a create, update or delete: keep its problem type on the entry."""
    fire(
        step,
        entry_id,
        trigger,
        query="entries.set_refused",
        reason=problem_type,
        params={"problem_type": problem_type, "problem_detail": detail[:500]},
    )


def request_update(
    step: Step, entry_id: uuid.UUID | str, changes: Mapping[str, Any], reason: str
) -> None:
    fire(
        step,
        entry_id,
        "update",
        query="entries.set_pending",
        reason=reason,
        params={"pending": Jsonb({**changes, "reason": reason})},
    )


_UPDATABLE = (
    "branch",
    "account_number",
    "account_type",
    "opening_date",
    "owner_name",
    "owner_trade_name",
)


def with_pending(row: EntryRow) -> EntryRow:
    """The entry as its pending update would leave it (what UpdateEntry sends)."""
    pending = row.pending or {}
    changes = {k: pending[k] for k in _UPDATABLE if k in pending}
    if isinstance(changes.get("opening_date"), str):
        changes["opening_date"] = datetime.fromisoformat(changes["opening_date"])
    return msgspec.structs.replace(row, **changes)


def updated(step: Step, entry_id: uuid.UUID | str) -> None:
    """The DICT accepted the pending update: apply it (its new CID replaces the old)."""

    def apply(row: EntryRow) -> dict[str, Any]:
        new = with_pending(row)
        return {**{k: getattr(new, k) for k in _UPDATABLE}, "cid": cid_of(new)}

    fire(step, entry_id, "updated", query="entries.set_updated", params=apply)


def request_delete(step: Step, entry_id: uuid.UUID | str, reason: str) -> None:
    """Ask the DICT to remove the key; refused while a claim on it is open (the DICT's
    own rule, EntryLockedByClaim, applied here before the call)."""
    row = entries.get(step.conn, entry_id)
    if row and row.key and claims.key_locked_by_claim(step.conn, row.key):
        raise problems.EntryLockedByClaim("a claim on this key is open; it cannot be deleted")
    fire(
        step,
        entry_id,
        "delete",
        query="entries.set_pending",
        reason=reason,
        params={"pending": Jsonb({"reason": reason})},
    )


def deleted(step: Step, entry_id: uuid.UUID | str) -> None:
    """The DICT removed the entry: its CID leaves the VSync."""
    fire(step, entry_id, "deleted", query="entries.set_deleted")


def claimed_away(step: Step, entry_id: uuid.UUID | str) -> None:
    """A claim on our key was confirmed: the entry leaves our base and its CID our VSync.
    Idempotent: an entry already out of our base is left alone."""
    row = entries.get(step.conn, entry_id)
    if row is None or "claimed_away" not in SPEC.allowed(row.status):
        return
    fire(step, entry_id, "claimed_away", query="entries.set_deleted", reason="CLAIM_CONFIRMED")


def adopt(
    step: Step,
    fields: Mapping[str, Any],
    request_id: uuid.UUID,
    trigger: str = "claim_completed",
) -> uuid.UUID:
    """An entry the DICT created for us (our claim completed, with the completion
    RequestId; or one only the DICT had, found by a sync run): record it here, active,
    its CID keyed by that RequestId. Returns its id."""
    entry_id = uuid.uuid4()
    step.tag(trigger, None)
    step.conn.execute(
        db.q("entries.insert"),
        {
            **fields,
            "id": entry_id,
            "status": "registering",
            "request_id": request_id,
            "now": step.now,
        },
    )
    registered(step, entry_id, fields["key"])
    return entry_id


RECONCILED_FIELDS = (
    "branch",
    "account_number",
    "account_type",
    "opening_date",
    "owner_type",
    "owner_tax_id",
    "owner_name",
    "owner_trade_name",
    "participant",
)
"""What a sync run may replace in one of our entries: all but its key and key type."""


def _unchanged(row: EntryRow, version: int) -> None:
    """A sync run decided on ``version`` of the entry: anything newer is decided again."""
    if row.version != version:
        raise core.Conflict(
            MACHINE,
            str(row.id),
            row.status,
            "reconciled",
            SPEC.allowed(row.status),
            detail=f"entry {row.id} changed since the sync run read it",
        )


def reconcile(
    step: Step,
    entry_id: uuid.UUID,
    version: int,
    fields: Mapping[str, Any],
    request_id: uuid.UUID,
) -> None:
    """A sync run found the DICT holding other attributes for our key: ours take the
    DICT's, with the RequestId that keys its CID (docs/reconciliation.md)."""

    def apply(row: EntryRow) -> dict[str, Any]:
        _unchanged(row, version)
        new = msgspec.structs.replace(
            row, request_id=request_id, **{k: fields[k] for k in RECONCILED_FIELDS}
        )
        values = {k: getattr(new, k) for k in RECONCILED_FIELDS}
        return {**values, "request_id": request_id, "cid": cid_of(new)}

    fire(
        step,
        entry_id,
        "reconciled",
        query="entries.set_reconciled",
        reason="RECONCILIATION",
        params=apply,
    )


def reconciled_away(step: Step, entry_id: uuid.UUID, version: int) -> None:
    """A sync run found our key absent from the DICT: it leaves our base."""

    def check(row: EntryRow) -> dict[str, Any]:
        _unchanged(row, version)
        return {}

    fire(
        step,
        entry_id,
        "reconciled_away",
        query="entries.set_deleted",
        reason="RECONCILIATION",
        params=check,
    )
