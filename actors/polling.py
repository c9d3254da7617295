"""Polling the DICT's claim list: the only way to learn what the other side did.

Every 15 s (a cron tick each minute sends a poll now and three delayed ones) we list
claims where we are donor or claimer, modified after our cursor minus an overlap
(the list lags writes by up to 5 s and repeats items), and bring each claim we hold
level with what the DICT says (``statemachines.claim.CATCH_UP``). A new donor claim
is recorded with its ``acknowledge_claim`` task (``claim_steps.learn``), which the
worker runs in the spine's batches; every poll acknowledges itself, many calls at a
time, the donor claims still open whose task died (a dead letter after an outage),
settles claims whose DICT status arrived while a call of ours was in flight, and
retries the claims an earlier poll could not apply.

One claim that cannot be applied never stops the poll: it is isolated in a savepoint,
recorded in ``claim_poll_failures`` (alerted), and the cursor moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import dramatiq
import psycopg
from periodiq import cron

from actors.claims import acknowledge, dict_fields, get, read_claim
from actors.entries import client
from actors.spine import claim_slot, cron_slot
from app import clock, db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.repo import claims as repo_claims
from app.repo import entries, polls
from app.repo.claims import ClaimRow
from statemachines import claim_steps as steps
from statemachines.claim import catch_up

log = logging.getLogger(__name__)

CURSOR = "claims"
OVERLAP = timedelta(seconds=30)
FIRST_LOOK_BACK = timedelta(days=31)  # a claim lives at most 30 days
PAGE = 200
MAX_PAGES = 200
SWEEP = 500
"""Unsettled claims and earlier failures looked at again per poll, at most."""

ACK_CALLS = 16
"""AcknowledgeClaim calls in flight at once for the open donor claims whose task died."""
ACK_SWEEP = 10_000
"""Open donor claims whose task died acknowledged per poll, at most."""

POLL_EVERY_S = 15
"""Seconds between polls. The DICT wants one a minute and the homologation an
acknowledgement within a minute of a claim appearing; four polls a minute leave most
of that minute to the work (CLAIMS_LIST_WITH_ROLE refills 40 a minute)."""


@dramatiq.actor(queue_name="cron", periodic=cron("* * * * *"), max_retries=0)
def poll_claims_tick() -> None:
    """Every minute: a poll now and every POLL_EVERY_S seconds until the next tick."""
    if claim_slot("poll_claims", cron_slot()):
        for delay_s in range(0, 60, POLL_EVERY_S):
            poll_claims.send_with_options(delay=delay_s * 1000 or None)


POLL_TIME_LIMIT_MS = 300_000
"""A burst of thousands of claims keeps a poll busy past Dramatiq's default 60 s limit;
killing it then would leave its acknowledgements running and let the next poll repeat
them (the advisory lock keeps one poll at a time, so a long one only delays the next)."""


@dramatiq.actor(
    queue_name="poll",
    max_retries=3,
    min_backoff=1000,
    max_backoff=5000,
    time_limit=POLL_TIME_LIMIT_MS,
)
def poll_claims() -> None:
    """One pass over every page modified since the cursor (``poll``)."""
    poll()


def poll() -> int:
    """One pass over every page modified since the cursor; returns claims seen.

    One poller at a time (a session advisory lock): a poll still busy with a burst
    when the next one starts would only repeat its work.
    """
    with db.pool().connection() as lock:
        if not polls.try_lock(lock):
            return 0
        try:
            return _poll()
        finally:
            polls.unlock(lock)


def _poll() -> int:
    with db.pool().connection() as conn:
        cursor = polls.cursor(conn, CURSOR)
        left_open = repo_claims.open_donor(conn, ACK_SWEEP)
    started = clock.now()
    since = cursor - OVERLAP if cursor else started - FIRST_LOOK_BACK
    first, seen = since, 0
    with ThreadPoolExecutor(ACK_CALLS, thread_name_prefix="acknowledge") as calls:
        acks = [calls.submit(acknowledge, claim_id) for claim_id in left_open]
        for _ in range(MAX_PAGES):
            request = pb.ListClaimsRequest(
                participant=settings.bridge().participant,
                is_donor=True,
                is_claimer=True,
                limit=PAGE,
            )
            request.modified_after.FromDatetime(since)
            page = client().list_claims(request)
            if not page.claims:
                break
            newest = apply_page(list(page.claims))
            seen += len(page.claims)
            if not page.has_more_elements or newest <= since:
                break
            since = newest  # inclusive: the last items come again and are deduped
        _retry_failures(started)
    settle_unsettled()
    _report(acks)
    with outbox.step(actor="poller") as s:
        polls.polled(s.conn, CURSOR, first, s.now)
    return seen


def _report(acks: list[Future[None]]) -> None:
    """A failed acknowledgement is retried by the next poll (its claim stays open)."""
    failed = [f.exception() for f in acks if f.exception() is not None]
    if failed:
        log.warning(
            "%d of %d acknowledgements failed; the next poll retries them (first: %r)",
            len(failed),
            len(acks),
            failed[0],
        )


def apply_page(claims: list[pb.Claim], *, cursor: bool = True) -> datetime:
    """Apply one page in one transaction; advance the cursor. Returns the newest
    LastModified.

    Claims new to us are inserted together; a change to one we hold moves its machine
    inside a savepoint. A claim that raises is isolated: recorded as a poll failure,
    its savepoint rolled back, the rest of the page and the cursor go on.
    """
    ours = settings.bridge().participant
    newest: datetime = max(dict_fields(c)["dict_last_modified"] for c in claims)
    failed: set[str] = set()
    with outbox.step(actor="poller") as s:
        held = {
            (r.dict_id, r.role): r for r in repo_claims.lock_many(s.conn, (c.id for c in claims))
        }
        live = entries.live_ids_by_keys(s.conn, (c.key for c in claims))
        new: list[tuple[pb.Claim, dict[str, Any], str]] = []
        for c in claims:
            fields = dict_fields(c)
            for role in _roles(c, ours):
                row = held.get((c.id, role))
                if row is None:
                    new.append((c, {**_learned_fields(c, role, live), **fields}, c.status.lower()))
                elif _changed(row, c.status, fields):
                    observe = partial(steps.observe, s, row, c.status, fields)
                    _isolated(s, c.id, failed, observe)
        _learn(s, new, failed)
        recovered = [c.id for c in claims if c.id not in failed]
        polls.recovered(s.conn, recovered)
        if cursor:
            polls.save_cursor(s.conn, CURSOR, newest, s.now)
    return newest


def _isolated(s: outbox.Step, dict_id: str, failed: set[str], work: Callable[[], Any]) -> Any:
    """Run ``work`` in a savepoint; if it raises, record the failure (``failed`` and
    ``claim_poll_failures``, and an anomaly on the claims we hold) and carry on."""
    dispatches = len(s.dispatches)
    try:
        with s.conn.transaction():
            return work()
    except Exception as exc:
        del s.dispatches[dispatches:]  # their rows were rolled back with the savepoint
        error = _describe(exc)
        log.error("claim %s could not be applied by the poll: %s", dict_id, error)
        failed.add(dict_id)
        polls.failed(s.conn, dict_id, error, s.now)
        for row in repo_claims.by_dict_id(s.conn, dict_id):
            steps.mark_anomaly(s, row, f"poll could not apply the DICT's claim: {error}")
        return None


def _describe(exc: BaseException) -> str:
    """The failure without customer data: PostgreSQL errors quote values, so only their
    class and constraint are kept; our own exceptions name fields, never values."""
    if isinstance(exc, psycopg.Error):
        constraint = exc.diag.constraint_name if exc.diag else None
        return f"{type(exc).__name__}{f' ({constraint})' if constraint else ''}"
    return f"{type(exc).__name__}: {exc}"[:500]


def _learn(
    s: outbox.Step, new: list[tuple[pb.Claim, dict[str, Any], str]], failed: set[str]
) -> list[Any]:
    """Insert the claims new to us in one round trip; if that fails, one by one, so
    only the bad one is isolated. A claim of ours whose CreateClaim answer was lost
    is attached to its submitting row instead."""
    rest = [
        (c, f, st)
        for c, f, st in new
        if not (f["role"] == "CLAIMER" and _isolated(s, c.id, failed, partial(_adopted, s, c, f)))
        and c.id not in failed
    ]
    if not rest:
        return []
    dispatches = len(s.dispatches)
    try:
        with s.conn.transaction():
            return steps.learn(s, [(f, st) for _, f, st in rest])
    except Exception:
        del s.dispatches[dispatches:]
        log.warning("a page of %d new claims failed as one; inserting one by one", len(rest))
    learned: list[Any] = []
    for c, f, st in rest:
        learned += _isolated(s, c.id, failed, partial(steps.learn, s, [(f, st)])) or []
    return learned


def _adopted(s: outbox.Step, c: pb.Claim, fields: dict[str, Any]) -> bool:
    """Our own claim whose CreateClaim answer was lost: attach the DICT's id to it."""
    row = repo_claims.submitting_for_key(s.conn, c.key)
    if row is None:
        return False
    steps.apply(s, row.id, "submitted", **fields)
    steps.observe(s, get(s, row.id), c.status, fields)
    return True


def _roles(c: pb.Claim, ours: str) -> list[str]:
    return [
        role
        for role, isp in (
            ("DONOR", c.donor_participant),
            ("CLAIMER", c.claimer_account.participant),
        )
        if isp == ours
    ]


def _changed(row: ClaimRow, status: str, fields: dict[str, Any]) -> bool:
    """False when the overlap window repeats what we saw already and our record is level."""
    last, now_seen = row.dict_last_modified, fields["dict_last_modified"]
    repeat = row.dict_status == status and last and now_seen and last >= now_seen
    return not repeat or bool(catch_up(row.status, status))


def settle_unsettled() -> int:
    """Move claims at rest to the DICT status they saw while a call of ours was in
    flight (kept in ``dict_status``); each in its own savepoint. Returns how many moved."""
    moved: list[Any] = []
    failed: set[str] = set()
    with outbox.step(actor="poller") as s:
        for row in repo_claims.unsettled(s.conn, SWEEP):
            if row.dict_id and row.dict_status and catch_up(row.status, row.dict_status):
                moved.append(_isolated(s, row.dict_id, failed, partial(steps.observe, s, row)))
    return sum(1 for m in moved if m)


def _retry_failures(before: datetime) -> None:
    """Read again (GetClaim) each claim an earlier poll could not apply, and apply it."""
    with db.pool().connection() as conn:
        failed = polls.failures(conn, before, SWEEP)
    fresh: list[pb.Claim] = []
    for dict_id in failed:
        try:
            fresh.append(read_claim(dict_id))
        except problems.DictProblem as exc:
            log.warning("claim %s could not be read again: %s", dict_id, exc.type)
    if fresh:
        apply_page(fresh, cursor=False)


def _learned_fields(c: pb.Claim, role: str, live: dict[str, Any]) -> dict[str, Any]:
    a, o = c.claimer_account, c.claimer
    return {
        "role": role,
        "type": c.type,
        "key": c.key,
        "key_type": c.key_type,
        "claimer_participant": a.participant,
        "claimer_branch": a.branch or None,
        "claimer_account_number": a.account_number,
        "claimer_account_type": a.account_type,
        "claimer_opening_date": a.opening_date.ToDatetime(tzinfo=clock.now().tzinfo),
        "claimer_type": o.type,
        "claimer_tax_id": o.tax_id_number,
        "claimer_name": o.name,
        "claimer_trade_name": o.trade_name or None,
        "entry_id": live.get(c.key) if role == "DONOR" else None,
    }
