"""Following one of the DICT's lists (infraction reports, refund requests) by polling:
pages in ascending LastModified from a cursor kept in ``poll_cursors``.

Each page is applied in its own transaction, its cursor saved with it: a crash loses
at most a page. The list lags writes by up to 5 s and repeats items, so each pass reads
again ``OVERLAP`` before its cursor and pages are inclusive; an item listed again
unchanged is applied once per pass, and the machines skip what they already hold. An
item that raises is logged and skipped, inside a savepoint: one bad item never stops
the poll: it is recorded in ``poll_failures`` and every later pass reads it again by
id (``Listing.get``) until it applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from app import clock, db, outbox
from app.repo import polls

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=30)
MAX_PAGES = 200
PAGE = 200  # the DICT's Limit is at most 200
RETRIES_PER_POLL = 20
"""Earlier failures read again per pass, at most (one Get call each)."""


class Timestamp(Protocol):
    def ByteSize(self) -> int: ...
    def ToDatetime(self, tzinfo: Any = ...) -> datetime: ...
    def ToMicroseconds(self) -> int: ...


class Item(Protocol):
    """What every item of the DICT's lists has."""

    @property
    def id(self) -> str: ...
    @property
    def last_modified(self) -> Timestamp: ...


ItemT = TypeVar("ItemT", bound=Item)
RowT = TypeVar("RowT")


def ts(value: Timestamp) -> datetime | None:
    """A protobuf Timestamp as an aware datetime; None when unset."""
    return value.ToDatetime(tzinfo=UTC) if value.ByteSize() else None


@dataclass(frozen=True)
class Listing(Generic[ItemT, RowT]):
    """One role's view of one of the DICT's lists, and how its items are applied."""

    cursor: str
    """The poller's name in ``poll_cursors``."""
    fetch: Callable[[datetime], tuple[Sequence[ItemT], bool]]
    """One page of the items modified since (inclusive), and whether more follow."""
    lock: Callable[[db.Conn, list[str]], dict[str, RowT]]
    """Our rows for these DICT ids (in this role), locked."""
    apply: Callable[[outbox.Step, ItemT, RowT | None], None]
    """Bring one item into our records (``RowT`` the row we hold for it, if any)."""
    get: Callable[[str], ItemT]
    """The item as the DICT holds it now, by its id (to retry one that failed)."""
    first_look_back: timedelta
    """How far back the first poll reads."""


class RoleRow(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def dict_id(self) -> str | None: ...


RoleRowT = TypeVar("RoleRowT", bound=RoleRow)


def of_role(
    name: str,
    role: str,
    fetch: Callable[[str, datetime], tuple[Sequence[ItemT], bool]],
    lock_many: Callable[[db.Conn, list[str]], Sequence[RoleRowT]],
    apply: Callable[[str, outbox.Step, ItemT, RoleRowT | None], None],
    get: Callable[[str], ItemT],
    first_look_back: timedelta,
) -> Listing[ItemT, RoleRowT]:
    """``role``'s view of the list ``name`` (cursor ``<name>.<role>``): our rows in that
    role, locked by DICT id; ``fetch`` and ``apply`` are given the role first."""

    def lock(conn: db.Conn, ids: list[str]) -> dict[str, RoleRowT]:
        return {r.dict_id: r for r in lock_many(conn, ids) if r.role == role and r.dict_id}

    return Listing(
        cursor=f"{name}.{role.lower()}",
        fetch=partial(fetch, role),
        lock=lock,
        apply=partial(apply, role),
        get=get,
        first_look_back=first_look_back,
    )


def pages(
    fetch: Callable[[datetime], tuple[Sequence[ItemT], bool]], since: datetime
) -> Iterator[list[ItemT]]:
    """The list modified since ``since``, page by page while it has more."""
    for _ in range(MAX_PAGES):
        items, more = fetch(since)
        if items:
            yield list(items)
        newest = max((ts(i.last_modified) or since for i in items), default=since)
        if not more or newest <= since:
            return
        since = newest  # inclusive: the last items come again (the poll dedupes them)


def poll(listing: Listing[ItemT, RowT]) -> int:
    """One pass from the cursor; returns the items applied."""
    with db.pool().connection() as conn:
        cursor = polls.cursor(conn, listing.cursor)
    since = cursor - OVERLAP if cursor else clock.now() - listing.first_look_back
    started = clock.now()
    applied: dict[str, int] = {}  # DICT id -> the LastModified applied in this pass
    for page in pages(listing.fetch, since):
        newest = {  # ascending LastModified: a later item of an id is its newer state
            i.id: i for i in page if applied.get(i.id, -1) < i.last_modified.ToMicroseconds()
        }
        apply_page(listing, page, list(newest.values()))
        applied |= {k: i.last_modified.ToMicroseconds() for k, i in newest.items()}
    with outbox.step(actor="poller") as s:
        polls.polled(s.conn, listing.cursor, since, s.now)
    return len(applied) + retry_failures(listing, started)


def retry_failures(listing: Listing[ItemT, RowT], before: datetime) -> int:
    """Read again, by id, the items earlier passes could not apply; returns those that
    applied now. A read that fails leaves the failure for the next pass."""
    with db.pool().connection() as conn:
        failed = polls.item_failures(conn, listing.cursor, before, RETRIES_PER_POLL)
    recovered = 0
    for dict_id in failed:
        try:
            item = listing.get(dict_id)
        except Exception as exc:  # the DICT is down, or forgot it: the next pass tries again
            log.warning("%s could not be read again: %s", dict_id, type(exc).__name__)
            continue
        with outbox.step(actor="poller") as s:
            held = listing.lock(s.conn, [dict_id])
            if isolated(
                s, listing.cursor, dict_id, partial(listing.apply, s, item, held.get(dict_id))
            ):
                polls.item_recovered(s.conn, listing.cursor, dict_id)
                recovered += 1
    return recovered


def apply_page(listing: Listing[ItemT, RowT], page: list[ItemT], items: list[ItemT]) -> None:
    """Apply ``items`` (the page's items not applied yet) in one transaction, each in a
    savepoint, and move the cursor to the page's newest."""
    with outbox.step(actor="poller") as s:
        held = listing.lock(s.conn, [i.id for i in items])
        for item in items:
            isolated(s, listing.cursor, item.id, partial(listing.apply, s, item, held.get(item.id)))
        last = max(ts(i.last_modified) or s.now for i in page)
        polls.save_cursor(s.conn, listing.cursor, last, s.now)


def isolated(s: outbox.Step, poller: str, dict_id: str, work: Callable[[], Any]) -> bool:
    """Run ``work`` in a savepoint; if it raises, record the failure in ``poll_failures``,
    log it and carry on. True when it applied."""
    dispatches = len(s.dispatches)
    try:
        with s.conn.transaction():
            work()
    except Exception as exc:
        del s.dispatches[dispatches:]  # their rows were rolled back with the savepoint
        log.exception("%s could not be applied by the poll %s", dict_id, poller)
        polls.item_failed(s.conn, poller, dict_id, type(exc).__name__, s.now)  # no customer data
        return False
    return True
