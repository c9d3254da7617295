"""Entries: carry each of our key changes to the DICT and apply its answer.

Each actor re-reads the entry, does nothing unless it is still in the status that
asked for the call (a repeat finds the work done), calls the DICT with no
transaction open, then applies the answer in a new transaction guarded by the
expected status. CreateEntry carries the RequestId stored with the entry, so a
retry after a lost answer is a repeat to the DICT, not a second key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dramatiq
import redis

from app import db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.ratelimit.limiter import Limiter
from app.repo import entries
from app.repo.entries import EntryRow
from statemachines import entry
from statemachines.core import IllegalTrigger


@functools.cache
def client() -> DictClient:
    """The worker's client, its calls held to our copy of the DICT's buckets (unless
    ``DICT_LIMITER=off``): none of ours meets a 429 (``app.ratelimit``)."""
    c = DictClient.from_settings()
    if settings.limiter_enabled():
        redis_client = redis.Redis.from_url(settings.redis().url, socket_timeout=2)
        c.limiter = Limiter(redis_client, settings.lookups().category)
    return c


def _load(entry_id: str) -> EntryRow | None:
    with db.pool().connection() as conn:
        return entries.get(conn, entry_id)


def _account(row: EntryRow) -> pb.Account:
    account = pb.Account(
        participant=row.participant,
        branch=row.branch or "",
        account_number=row.account_number,
        account_type=row.account_type,
    )
    account.opening_date.FromDatetime(row.opening_date)
    return account


def to_pb(row: EntryRow) -> pb.Entry:
    return pb.Entry(
        key_type=row.key_type,
        key=row.key or "",
        account=_account(row),
        owner=pb.Owner(
            type=row.owner_type,
            tax_id_number=row.owner_tax_id,
            name=row.owner_name,
            trade_name=row.owner_trade_name or "",
        ),
    )


def _apply(change: Callable[[outbox.Step], None]) -> None:
    """Apply the DICT's answer (in a batch: in the batch's transaction, ``actors/batch.py``);
    a concurrent delivery that already did is success."""
    outbox.apply(change, moot=(IllegalTrigger,))


def _call_dict(entry_id: str, refuse_trigger: str, call: Callable[[], Any]) -> Any | None:
    """Call the DICT; a final refusal is recorded on the entry, a transient one retried."""
    try:
        return call()
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        refusal = exc
    _apply(lambda s: entry.refused(s, entry_id, refuse_trigger, refusal.type, refusal.detail))
    return None


@dramatiq.actor(queue_name="dict")
def register_entry(entry_id: str) -> None:
    """CreateEntry for an entry in ``registering``."""
    row = _load(entry_id)
    if row is None or row.status != "registering":
        return
    request = pb.CreateEntryRequest(
        entry=to_pb(row), reason="USER_REQUESTED", request_id=str(row.request_id)
    )
    answer = _call_dict(entry_id, "register_refused", lambda: client().create_entry(request))
    if answer is not None:
        key = answer.entry.entry.key
        _apply(lambda s: entry.registered(s, entry_id, key))


@dramatiq.actor(queue_name="dict")
def update_entry(entry_id: str) -> None:
    """UpdateEntry for an entry in ``updating``, with the data waiting in ``pending``."""
    row = _load(entry_id)
    if row is None or row.status != "updating":
        return
    new = entry.with_pending(row)
    request = pb.UpdateEntryRequest(
        key=row.key or "",
        account=_account(new),
        name=new.owner_name,
        trade_name=new.owner_trade_name or "",
        reason=(row.pending or {})["reason"],
    )
    if _call_dict(entry_id, "update_refused", lambda: client().update_entry(request)):
        _apply(lambda s: entry.updated(s, entry_id))


@dramatiq.actor(queue_name="dict")
def delete_entry(entry_id: str) -> None:
    """DeleteEntry for an entry in ``deleting``; NotFound means an earlier try succeeded."""
    row = _load(entry_id)
    if row is None or row.status != "deleting":
        return
    request = pb.DeleteEntryRequest(
        key=row.key or "", participant=row.participant, reason=(row.pending or {})["reason"]
    )

    def call() -> Any:
        try:
            return client().delete_entry(request)
        except problems.NotFound:
            return True

    if _call_dict(entry_id, "delete_refused", call) is not None:
        _apply(lambda s: entry.deleted(s, entry_id))
