"""/v1/entries: our customers' Pix keys.

Writes validate with ``app.domain`` before anything is stored, commit the entry
and its outbox row in one transaction and answer 202: the DICT's answer arrives
later through the worker and moves the entry to active or rejected.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from app import db, outbox, settings, tracing
from app.api import idempotency, pagination
from app.api.auth import requires
from app.api.errors import FieldError, KeyAlreadyRegistered, NotFoundError, ValidationFailed
from app.batcher import Batcher
from app.domain import keys
from app.repo import entries
from app.repo.entries import EntryRow
from statemachines import entry


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    participant: str
    account_number: str
    account_type: str
    opening_date: datetime
    branch: str | None = None


class OwnerIn(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    tax_id: str
    name: str
    trade_name: str | None = None


class EntryCreate(msgspec.Struct, forbid_unknown_fields=True):
    key_type: str
    account: AccountIn
    owner: OwnerIn
    key: str | None = None  # omitted for EVP: the DICT generates it


class EntryUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """An account change, a name change, or both."""

    account: AccountIn | None = None
    name: str | None = None
    trade_name: str | None = None
    reason: str = "USER_REQUESTED"


class Account(msgspec.Struct):
    participant: str
    branch: str | None
    account_number: str
    account_type: str
    opening_date: datetime


class Owner(msgspec.Struct):
    type: str
    tax_id: str
    name: str
    trade_name: str | None


class Entry(msgspec.Struct):
    id: uuid.UUID
    key: str | None
    key_type: str
    status: str
    account: Account
    owner: Owner
    request_id: uuid.UUID
    cid: str | None
    problem_type: str | None
    problem_detail: str | None
    created_at: datetime
    updated_at: datetime


class EntryPage(msgspec.Struct):
    items: list[Entry]
    next_cursor: str | None


def _entry(row: EntryRow) -> Entry:
    return Entry(
        id=row.id,
        key=row.key,
        key_type=row.key_type,
        status=row.status,
        account=Account(
            row.participant, row.branch, row.account_number, row.account_type, row.opening_date
        ),
        owner=Owner(row.owner_type, row.owner_tax_id, row.owner_name, row.owner_trade_name),
        request_id=row.request_id,
        cid=row.cid,
        problem_type=row.problem_type,
        problem_detail=row.problem_detail,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _domain_account(a: AccountIn) -> keys.Account:
    return keys.Account(
        participant=a.participant,
        branch=a.branch,
        account_number=a.account_number,
        account_type=a.account_type,
        opening_date=a.opening_date,
    )


def _domain_owner(o: OwnerIn) -> keys.Owner:
    return keys.Owner(type=o.type, tax_id=o.tax_id, name=o.name, trade_name=o.trade_name)


def _check_participant(account: AccountIn, field: str = "account.participant") -> None:
    ours = settings.bridge().participant
    if account.participant != ours:
        raise ValidationFailed(
            [(field, "participant_is_ours", f"entries are registered for our ISPB {ours}")]
        )


def _find(conn: db.Conn, ref: str) -> EntryRow:
    """An entry by id, or by key (the live one, else the latest attempt)."""
    row = entries.find(conn, ref)
    if row is None:
        raise NotFoundError("entry", ref)
    return row


def _accepted(row: EntryRow) -> Response[Entry]:
    """The answer to a registration."""
    return Response(_entry(row), status_code=202, headers={"Location": f"/v1/entries/{row.id}"})


def registration(data: EntryCreate) -> dict[str, Any]:
    """A valid registration's columns for ``entry.register``, else a 4xx naming the field
    (also what the API benchmark's ceiling runs: ``tests/bench/noop_api.py``)."""
    _check_participant(data.account)
    key = keys.validate_entry(
        data.key_type, data.key, _domain_account(data.account), _domain_owner(data.owner)
    )
    return {
        "key": key,
        "key_type": data.key_type,
        "participant": data.account.participant,
        "branch": data.account.branch,
        "account_number": data.account.account_number,
        "account_type": data.account.account_type,
        "opening_date": data.account.opening_date,
        "owner_type": data.owner.type,
        "owner_tax_id": data.owner.tax_id,
        "owner_name": data.owner.name,
        "owner_trade_name": data.owner.trade_name,
        "trace_context": tracing.traceparent(),  # for its outbox row: the batch has no span
    }


_registrations: Batcher[Mapping[str, Any], EntryRow] = Batcher(entry.register, name="registrations")
"""Concurrent registrations share one statement and commit (``app.batcher``)."""


class EntryController(Controller):
    path = "/v1/entries"
    tags = ["entries"]

    @post(
        "/",
        status_code=202,
        operation_id="createEntry",
        guards=[requires("entries:write")],
    )
    async def create(self, data: JSONBody[EntryCreate]) -> Response[Entry]:
        """Register a key: validated now, sent to the DICT by the worker."""
        fields = registration(data)
        try:  # with an Idempotency-Key, its answer commits in the batch's transaction
            row = await _registrations.submit(fields, idempotency.answer_in_batch(_accepted))
        except entry.KeyTaken as exc:
            errors = [FieldError(*v) for v in exc.violations]
            raise KeyAlreadyRegistered(str(exc.violations[0][2]), errors=errors) from None
        return _accepted(row)

    @get(
        "/{ref:str}",
        operation_id="getEntry",
        guards=[requires("entries:read")],
        sync_to_thread=True,
    )
    def get_one(self, ref: FromPath[str]) -> Entry:
        """An entry by its id or its key."""
        with db.pool().connection() as conn:
            return _entry(_find(conn, ref))

    @get("/", operation_id="listEntries", guards=[requires("entries:read")], sync_to_thread=True)
    def list_(
        self,
        participant: FromQuery[str | None] = None,
        account_number: FromQuery[str | None] = None,
        branch: FromQuery[str | None] = None,
        owner_tax_id: FromQuery[str | None] = None,
        key_type: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> EntryPage:
        """Entries in creation order; pass ``next_cursor`` back as ``cursor``."""
        if key_type is not None and key_type not in keys.KeyType.__members__:
            raise ValidationFailed([("key_type", "one_of", f"one of {', '.join(keys.KeyType)}")])
        if status is not None and status not in entry.SPEC.states:
            allowed = ", ".join(entry.SPEC.states)
            raise ValidationFailed([("status", "one_of", f"one of {allowed}")])
        filters = {
            "participant": participant,
            "account_number": account_number,
            "branch": branch,
            "owner_tax_id": owner_tax_id,
            "key_type": key_type,
            "status": status,
        }
        with db.pool().connection() as conn:
            rows = entries.page(conn, filters, pagination.decode(cursor), limit + 1)
        items, nxt = pagination.cut(rows, limit, lambda r: (r.created_at, r.id))
        return EntryPage([_entry(r) for r in items], nxt)

    @patch(
        "/{ref:str}",
        status_code=202,
        operation_id="updateEntry",
        guards=[requires("entries:write")],
        sync_to_thread=True,
    )
    def update(self, ref: FromPath[str], data: JSONBody[EntryUpdate]) -> Entry:
        """Change the account or the owner's name; sent to the DICT by the worker."""
        if data.reason not in keys.UPDATE_REASONS:
            allowed = ", ".join(keys.UPDATE_REASONS)
            raise ValidationFailed([("reason", "one_of", f"one of {allowed}")])
        if data.account is None and data.name is None and data.trade_name is None:
            raise ValidationFailed(
                [("account", "required", "give an account, a name or a trade name to change")]
            )
        with outbox.step(actor="api") as s:
            row = _find(s.conn, ref)
            if data.reason not in keys.update_reasons(row.key_type):
                rule = f"a {row.key_type} key is updated only with RFB_VALIDATION (DICT v2.6.1)"
                raise ValidationFailed([("reason", "evp_update_reason", rule)])
            changes = _update_changes(row, data)
            entry.request_update(s, row.id, changes, data.reason)
            row = _find(s.conn, str(row.id))
        return _entry(row)

    @delete(
        "/{ref:str}",
        status_code=202,
        operation_id="deleteEntry",
        guards=[requires("entries:write")],
        sync_to_thread=True,
    )
    def remove(self, ref: FromPath[str], reason: FromQuery[str]) -> Entry:
        """Remove a key from the DICT; ``reason`` is one of the DICT's deletion reasons."""
        if reason not in keys.DELETE_REASONS:
            allowed = ", ".join(keys.DELETE_REASONS)
            raise ValidationFailed([("reason", "one_of", f"one of {allowed}")])
        with outbox.step(actor="api") as s:
            row = _find(s.conn, ref)
            entry.request_delete(s, row.id, reason)
            row = _find(s.conn, str(row.id))
        return _entry(row)


def _update_changes(row: EntryRow, data: EntryUpdate) -> dict[str, Any]:
    """Validate the entry as it would be after the update; return the changed fields."""
    account = data.account or AccountIn(
        participant=row.participant,
        branch=row.branch,
        account_number=row.account_number,
        account_type=row.account_type,
        opening_date=row.opening_date,
    )
    _check_participant(account)
    owner = OwnerIn(
        type=row.owner_type,
        tax_id=row.owner_tax_id,
        name=data.name if data.name is not None else row.owner_name,
        trade_name=data.trade_name if data.trade_name is not None else row.owner_trade_name,
    )
    keys.validate_entry(
        row.key_type,
        row.key,
        _domain_account(account),
        _domain_owner(owner),
        creating=False,
    )
    return {
        "branch": account.branch,
        "account_number": account.account_number,
        "account_type": account.account_type,
        "opening_date": account.opening_date.isoformat(),
        "owner_name": owner.name,
        "owner_trade_name": owner.trade_name,
    }
