"""The outbox: every effect of a state change, written in the change's transaction.

An effect is a call to an actor now (task), later (timer: ``deliver_at`` in the
future, e.g. a claim's resolution deadline 7 days out) or an event for the core
banking system. ``step()`` opens the transaction; rows due within the relay horizon
are written already dispatched and enqueued right after commit, later ones wait
for the relay (``relay``: a pass every 10 s from the scheduler, every minute from the
relay cron). Dramatiq only ever sees work due within minutes. Each pass first takes
back what Redis lost (``recover_redis``): a killed worker's messages, or all of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
import redis
from prometheus_client import Histogram
from psycopg.types.json import Jsonb

from app import clock, db, events, repo, settings, tracing
from app.domain import infractions
from app.repo.spine import PARTITIONS_AHEAD, Partition

log = logging.getLogger(__name__)

HORIZON = timedelta(seconds=90)
"""Rows due within this are handed to Dramatiq (with the remaining delay). Longer than
the relay's one-minute period, so a timer is enqueued before it is due."""
LEASE = timedelta(minutes=10)
"""A dispatched row not done or failed this long after it was due is re-dispatched.
Longer than an actor's whole retry schedule (actors/broker.py). Only the last resort:
a killed worker's messages and Redis's lost data come back at the next relay pass
(``recover_redis``); what is left for the lease is a process dying between its commit
and its enqueue."""
RELAY_EVERY = timedelta(seconds=10)
"""The scheduler runs a relay pass this often (``relay_loop``), so what Redis lost is
back in a queue within this of the loss being seen."""
REDIS_SENTINEL = "dict-connect:relay:epoch"
"""The key each relay pass expects in Redis (``recover_redis``, migration 0021)."""
BATCH_MAX = 50
"""At most this many rows of one actor travel in one message (``enqueue``): a batch's
work is one transaction (``actors/batch.py``), and a worker thread holds it this long."""


QUEUES: dict[str, str] = {
    # entries and claims: the calls to the DICT (actors/entries.py, actors/claims.py)
    "register_entry": "dict",
    "update_entry": "dict",
    "delete_entry": "dict",
    "create_claim": "dict",
    "acknowledge_claim": "dict",
    "confirm_claim": "dict",
    "cancel_claim": "dict",
    "complete_claim": "dict",
    # sync runs (actors/sync.py): DICT calls, and the comparison in the database
    "verify_sync": "dict",
    "collect_sync": "dict",
    "compare_sync": "default",
    "reconcile_sync": "dict",
    # infraction reports (actors/infractions.py): the calls to the DICT, the deadlines
    "create_infraction_report": "dict",
    "acknowledge_infraction_report": "dict",
    "close_infraction_report": "dict",
    "cancel_infraction_report": "dict",
    "update_infraction_report": "dict",
    "infraction_deadline": "default",
    # fraud markers (actors/fraud_markers.py): the calls to the DICT, those of reports
    "create_fraud_marker": "dict",
    "cancel_fraud_marker": "dict",
    "record_fraud_marker": "dict",
    "report_marker_cancelled": "default",
    # refund requests (actors/refunds.py): the calls to the DICT, the deadlines
    "create_refund": "dict",
    "close_refund": "dict",
    "cancel_refund": "dict",
    "refund_deadline": "default",
    # timers and operators' requests (actors/claim_deadlines.py, actors/spine.py)
    "claim_deadline": "default",
    "claim_retry": "default",
    "fire_trigger": "default",
    "probe": "default",
    # events for the core banking system, after the DICT work (actors/spine.py)
    "publish_event": "events",
}
"""The queue each actor an effect may name declares (``queue_name=``): an outbox row
goes where its actor listens, so a worker started for some queues gets their work.
``tests/unit/test_queues.py`` keeps this equal to the declarations."""


def queue_of(actor: str) -> str:
    """The queue ``actor`` listens on; an actor no effect may name is a bug (KeyError)."""
    try:
        return QUEUES[actor]
    except KeyError:
        raise KeyError(f"{actor!r} is not an actor effects may name (app.outbox.QUEUES)") from None


@dataclass(frozen=True)
class Effect:
    """Something to do as a consequence of a state change."""

    actor: str
    args: dict[str, Any]
    kind: str = "task"
    deliver_at: datetime | None = None  # None: now
    dedupe_key: str | None = None
    subject: str | None = None
    queue: str = "default"
    cancel: bool = False  # cancel the pending timer with this dedupe_key instead
    trace_context: str | None = None  # None: the current span's (``tracing.traceparent``)

    def traceparent(self) -> str | None:
        """The trace context its outbox row carries to the actor."""
        return self.trace_context or tracing.traceparent()


def task(
    actor: str,
    *,
    subject: str | None = None,
    dedupe_key: str | None = None,
    trace_context: str | None = None,
    **args: Any,
) -> Effect:
    """A call to ``actor(**args)`` now. ``trace_context`` is for work handed to another
    thread (the API's batcher): the request's ``traceparent``, taken where it ran."""
    return Effect(
        actor,
        args,
        subject=subject,
        dedupe_key=dedupe_key,
        queue=queue_of(actor),
        trace_context=trace_context,
    )


def timer(
    actor: str, at: datetime, *, dedupe_key: str, subject: str | None = None, **args: Any
) -> Effect:
    return Effect(
        actor,
        args,
        kind="timer",
        deliver_at=at,
        dedupe_key=dedupe_key,
        subject=subject,
        queue=queue_of(actor),
    )


def event(topic: str, payload: msgspec.Struct, *, subject: str | None = None) -> Effect:
    """An event for the core banking system: ``payload`` is the topic's struct
    (``app.events.TOPICS``), checked here."""
    return Effect(
        "publish_event",
        {"topic": topic, "payload": events.payload(topic, payload)},
        kind="event",
        subject=subject,
        queue=queue_of("publish_event"),
    )


def cancel_timer(dedupe_key: str) -> Effect:
    return Effect("", {}, dedupe_key=dedupe_key, cancel=True)


@dataclass(frozen=True)
class Dispatch:
    """An outbox row handed to Dramatiq."""

    id: int
    actor: str
    queue: str
    args: dict[str, Any]
    deliver_at: datetime
    trace_context: str | None = None


@dataclass
class Step:
    """One transaction of the spine: its connection, its time, the rows to dispatch."""

    conn: db.Conn
    now: datetime
    actor: str = "system"
    trigger: str | None = None
    reason: str | None = None
    dispatches: list[Dispatch] = field(default_factory=list)

    def add(self, effects: Iterable[Effect]) -> None:
        self.dispatches.extend(write(self.conn, effects, self.now))

    def tags(self, trigger: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """The tags as query parameters, for a statement that calls ``dict_tag()``."""
        return {
            "tag_actor": self.actor,
            "tag_trigger": trigger or self.trigger or "",
            "tag_reason": reason or self.reason or "",
        }

    def written(self, e: Effect, outbox_id: int | None) -> None:
        """Record an outbox row the step's own statement inserted (``params``)."""
        at = e.deliver_at or self.now
        if outbox_id is not None and at <= self.now + HORIZON:
            self.dispatches.append(
                Dispatch(outbox_id, e.actor, e.queue, e.args, at, e.traceparent())
            )

    def tag(self, trigger: str | None = None, reason: str | None = None) -> None:
        """Tag the transaction for ``state_history`` before a status change."""
        db.set_tags(
            self.conn,
            actor=self.actor,
            trigger=trigger or self.trigger,
            reason=reason or self.reason,
        )


def write(conn: db.Conn, effects: Iterable[Effect], now: datetime) -> list[Dispatch]:
    """Insert effects as outbox rows; return those to enqueue after commit.

    Consecutive inserts go in one ``executemany`` (one round trip for a page of new
    claims); a cancellation first flushes what precedes it, so a timer cancelled and
    scheduled again by one transition ends scheduled.
    """
    due: list[Dispatch] = []
    batch: list[Effect] = []
    for e in effects:
        if e.cancel:
            _insert(conn, batch, now, due)
            conn.execute(db.q("outbox.cancel"), {"dedupe_key": e.dedupe_key, "now": now})
        else:
            batch.append(e)
    _insert(conn, batch, now, due)
    return due


def _insert(conn: db.Conn, batch: list[Effect], now: datetime, due: list[Dispatch]) -> None:
    if not batch:
        return
    rows = [{**params(e, now), "args": Jsonb(e.args)} for e in batch]
    with conn.cursor() as cur:
        if len(rows) == 1:  # executemany's pipeline costs round trips a lone row does not
            cur.execute(db.q("outbox.insert"), rows[0])
        else:
            cur.executemany(db.q("outbox.insert"), rows, returning=True)
        for e, r in zip(batch, rows, strict=True):
            row = cur.fetchone()
            at = e.deliver_at or now
            if row is not None and at <= now + HORIZON:  # None: the dedupe key is live
                due.append(Dispatch(row["id"], e.actor, e.queue, e.args, at, r["trace_context"]))
            cur.nextset()
    batch.clear()


def params(e: Effect, now: datetime) -> dict[str, Any]:
    """``e``'s outbox row, column by column (``args`` as a plain dict)."""
    at = e.deliver_at or now
    soon = at <= now + HORIZON
    return {
        "actor": e.actor,
        "queue": e.queue,
        "args": e.args,
        "kind": e.kind,
        "subject": e.subject,
        "dedupe_key": e.dedupe_key,
        "status": "dispatched" if soon else "pending",
        "deliver_at": at,
        "created_at": now,
        "dispatched_at": now if soon else None,
        "lease_until": max(at, now) + LEASE if soon else None,
        "attempts": int(soon),
        "trace_context": e.traceparent(),
    }


@contextmanager
def step(
    *, actor: str = "system", trigger: str | None = None, reason: str | None = None
) -> Iterator[Step]:
    """A transaction whose effects are enqueued once it has committed."""
    with db.pool().connection() as conn:
        with _traced(actor, trigger), conn.transaction():
            s = Step(conn, clock.now(), actor, trigger, reason)
            yield s
        db.after_commit(lambda: enqueue(s.dispatches, s.now))  # a held one's commit


@contextmanager
def statement(
    *, actor: str = "system", trigger: str | None = None, reason: str | None = None
) -> Iterator[Step]:
    """A step that is one statement, its own transaction (no BEGIN/COMMIT round trips:
    the API's hot path). The statement tags itself (``Step.tags``), inserts its own
    outbox rows (``params``) and reports them (``Step.written``)."""
    with _traced(actor, trigger), db.pool().connection() as conn:
        s = Step(conn, clock.now(), actor, trigger, reason)
        yield s
    db.after_commit(lambda: enqueue(s.dispatches, s.now))


@dataclass(frozen=True)
class Change:
    """A worker's change to apply (``apply``): run ``fn`` in a step; ``moot`` is what it
    raises when a concurrent delivery or a poll already made it (success, nothing to do)."""

    fn: Callable[[Step], Any]
    actor: str = "worker"
    moot: tuple[type[Exception], ...] = ()


_deferred: ContextVar[list[Change] | None] = ContextVar("deferred_changes", default=None)


def apply(
    fn: Callable[[Step], Any], *, actor: str = "worker", moot: tuple[type[Exception], ...] = ()
) -> None:
    """Apply a worker's change (the DICT's answer) in a step of its own now; inside a
    batch's row (``deferring``), later, in the batch's one transaction (``apply_batch``)."""
    change = Change(fn, actor, moot)
    deferred = _deferred.get()
    if deferred is not None:
        deferred.append(change)
        return
    try:
        with step(actor=actor) as s:
            fn(s)
    except moot as exc:
        log.info("nothing to apply: %s", exc)


@contextmanager
def deferring() -> Iterator[list[Change]]:
    """Within the block ``apply`` collects the changes instead of applying them."""
    changes: list[Change] = []
    token = _deferred.set(changes)
    try:
        yield changes
    finally:
        _deferred.reset(token)


@dataclass
class RowWork:
    """One row of a batch after its actor ran outside any transaction: the changes to
    apply, or the error it raised, or the time our limiter lets its call go."""

    id: int
    changes: list[Change] = field(default_factory=list)
    error: BaseException | None = None
    wait_until: datetime | None = None


RetryAt = Callable[[BaseException, int, datetime], "datetime | None"]
"""When a row whose work raised is tried again, given the error and its attempts so
far; None: never (a dead letter)."""


def live(ids: list[int]) -> set[int]:
    """The rows of ``ids`` still dispatched (a duplicate delivery finds the others done)."""
    with db.pool().connection() as conn:
        return {r["id"] for r in conn.execute(db.q("outbox.live"), {"ids": ids})}


class _RowFailed(Exception):
    """A row's changes raised while the batch ran without savepoints."""


def apply_batch(work: list[RowWork], retry_at: RetryAt) -> list[Dispatch]:
    """The batch's one transaction: lock its rows still dispatched, apply each row's
    changes, and record each row's outcome in the same transaction: done, handed out
    again (retry after a backoff, or the limiter's wait), or failed (dead letter). A row
    another delivery finished meanwhile is skipped. Returns what to enqueue once it
    committed.

    Rows nearly always apply cleanly, so the batch first runs without a savepoint per
    row (two round trips a row fewer: a third of a batch's time, measured). If a row's
    changes raise, that transaction is rolled back whole and the batch runs again with
    each row in a savepoint of its own, so that one row's failure fails only that row.
    Nothing but the database is touched while a batch applies, so the first run leaves
    nothing behind."""
    try:
        return _apply_batch(work, retry_at, isolated=False)
    except _RowFailed:
        return _apply_batch(work, retry_at, isolated=True)


def _apply_batch(work: list[RowWork], retry_at: RetryAt, *, isolated: bool) -> list[Dispatch]:
    now = clock.now()
    dispatches: list[Dispatch] = []
    done: list[int] = []
    with db.pool().connection() as conn, conn.transaction():
        ids = [w.id for w in work]
        attempts = {
            r["id"]: r["attempts"] for r in conn.execute(db.q("outbox.lock_batch"), {"ids": ids})
        }
        for w in work:
            if w.id not in attempts:
                continue
            error = w.error
            if error is None and w.wait_until is None:
                if isolated:
                    applied, error = _apply_row(conn, now, w.changes)
                else:
                    applied = _apply_row_unguarded(conn, now, w.changes)
                if error is None:
                    dispatches.extend(applied)
                    done.append(w.id)
                    continue
            dispatches.extend(_settle(conn, now, w, error, attempts[w.id], retry_at))
        conn.execute(db.q("outbox.end_batch"), {"ids": done, "now": now})
    return dispatches


def _apply_row_unguarded(conn: db.Conn, now: datetime, changes: list[Change]) -> list[Dispatch]:
    """A row's changes with no savepoint of their own: any error fails the batch's run."""
    try:
        with _traced("worker", None):
            return _run_changes(conn, now, changes, [])
    except Exception as exc:
        raise _RowFailed from exc


def _apply_row(
    conn: db.Conn, now: datetime, changes: list[Change]
) -> tuple[list[Dispatch], Exception | None]:
    """Apply a row's changes in one savepoint; an error rolls back to it. A change that
    turns out moot is dropped and the others applied again without it."""
    left = list(changes)
    while True:
        running: list[Change] = []
        try:
            with _traced("worker", None), conn.transaction():
                return _run_changes(conn, now, left, running), None
        except Exception as exc:
            if not running or not isinstance(exc, running[-1].moot):
                return [], exc
            log.info("nothing to apply: %s", exc)
            left.remove(running[-1])


def _run_changes(
    conn: db.Conn, now: datetime, changes: list[Change], running: list[Change]
) -> list[Dispatch]:
    """Each change in a step of its own on ``conn``; what they wrote to enqueue. Each
    change is appended to ``running`` as it starts (the one that raised is the last)."""
    dispatches: list[Dispatch] = []
    for change in changes:
        running.append(change)
        s = Step(conn, now, change.actor)
        change.fn(s)
        dispatches.extend(s.dispatches)
    return dispatches


def _settle(
    conn: db.Conn,
    now: datetime,
    w: RowWork,
    error: BaseException | None,
    attempts: int,
    retry_at: RetryAt,
) -> list[Dispatch]:
    """The outcome of a row that was not applied, in the batch's transaction."""
    lease_s = LEASE.total_seconds()
    if error is None:  # the limiter's wait: not an attempt, not an error
        wait = {"id": w.id, "at": w.wait_until, "lease_s": lease_s}
        return repo.many(conn, "outbox.defer", wait, Dispatch)
    text = f"{type(error).__name__}: {error}"[:1000]
    at = retry_at(error, attempts, now)
    if at is None:
        log.warning("outbox row %s failed for good (%s): dead letter", w.id, text)
        conn.execute(db.q("outbox.mark_failed"), {"id": w.id, "now": now, "error": text})
        return []
    log.warning("outbox row %s failed (%s); tried again at %s", w.id, text, at)
    retry = {"id": w.id, "at": at, "error": text, "lease_s": lease_s}
    return repo.many(conn, "outbox.retry_later", retry, Dispatch)


def _traced(actor: str, trigger: str | None) -> AbstractContextManager[Any]:
    """A span for a step's transaction, inside a request's or an actor's span only."""
    return tracing.child_span("outbox.step", {"dict.actor": actor, "dict.trigger": trigger or ""})


@dataclass
class Publication:
    """Inside a worker's batch (``publishing_here``): the events its steps wrote are
    published by the worker after the batch, not by a ``publish_event`` message each."""

    events: bool = False


_publication: ContextVar[Publication | None] = ContextVar("publication", default=None)


@contextmanager
def publishing_here() -> Iterator[Publication]:
    """Within the block, ``enqueue`` keeps event rows out of Dramatiq and counts them
    in the ``Publication`` it yields; its owner runs the publication pass after."""
    found = Publication()
    token = _publication.set(found)
    try:
        yield found
    finally:
        _publication.reset(token)


def enqueue(dispatches: Iterable[Dispatch], now: datetime) -> None:
    """Hand rows to Dramatiq: the rows of one actor due at the same moment go together,
    up to ``BATCH_MAX`` a message (``queue.batch_message``; one row alone goes as a
    plain message), each with its trace context. Inside ``publishing_here`` event rows
    are left to the caller's publication pass. A failure here loses nothing: the lease
    re-dispatches."""
    from app import queue

    found = _publication.get()
    groups: dict[tuple[str, str, datetime | None], list[Dispatch]] = {}
    for d in dispatches:
        if found is not None and d.actor == "publish_event":
            found.events = True
            continue
        later = d.deliver_at if d.deliver_at > now else None
        groups.setdefault((d.actor, d.queue, later), []).append(d)
    batch = [
        (_message(rows[i : i + BATCH_MAX]), rows[0].deliver_at - now)
        for rows in groups.values()
        for i in range(0, len(rows), BATCH_MAX)
    ]
    if not batch:
        return
    try:
        queue.send_many(batch)
    except Exception:  # Redis down: the relay re-dispatches when the lease expires
        log.warning(
            "enqueue of %d outbox row(s) failed; their lease will re-dispatch them",
            len(batch),
            exc_info=True,
        )


def _message(rows: list[Dispatch]) -> Any:
    """One message for rows of one actor and queue: a plain one for a lone row."""
    from app import queue

    first = rows[0]
    if len(rows) == 1:
        message = queue.message(first.id, first.actor, first.queue, first.args)
    else:
        items = [(d.id, d.args, d.trace_context) for d in rows]
        message = queue.batch_message(first.actor, first.queue, items)
    if first.trace_context is not None:
        message.options["trace_context"] = first.trace_context
    return message


def relay_tick(now: datetime | None = None, limit: int = 1000) -> int:
    """Re-arm expired leases, then dispatch what is due within the horizon."""
    now = now or clock.now()
    with db.pool().connection() as conn, conn.transaction():
        conn.execute(db.q("outbox.expire_leases"), {"now": now, "limit": limit})
        dispatches = repo.many(
            conn,
            "outbox.claim_due",
            {
                "now": now,
                "horizon": now + HORIZON,
                "limit": limit,
                "lease_s": LEASE.total_seconds(),
            },
            Dispatch,
        )
    enqueue(dispatches, now)
    return len(dispatches)


RELAY_SECONDS = Histogram(
    "dict_outbox_relay_seconds",
    "Time a relay pass took (app/outbox.py relay), failed passes included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def relay(limit: int = 1000) -> int:
    """One relay pass: take back what Redis lost (``recover_redis``), then dispatch what
    is due, a batch at a time. Returns how many rows it dispatched. Redis unreachable
    raises before anything is dispatched into the void. Timed (``RELAY_SECONDS``): a
    pass as long as the interval between passes delays every timer."""
    with RELAY_SECONDS.time():
        recover_redis()
        total = n = relay_tick(limit=limit)
        while n == limit:  # a full batch: more may be due
            n = relay_tick(limit=limit)
            total += n
        return total


def relay_loop(stop: threading.Event, every: timedelta = RELAY_EVERY) -> None:
    """Relay passes every ``every`` until ``stop`` is set (the scheduler's thread). A pass
    that fails (PostgreSQL or Redis away) is logged; the next one tries again."""
    while True:
        try:
            relay()
        except Exception:
            log.warning("relay pass failed; next in %g s", every.total_seconds(), exc_info=True)
        if stop.wait(every.total_seconds()):
            return


def recover_redis() -> int:
    """Put back what Redis lost; return how many rows were handed back to the relay.

    - A worker killed (SIGKILL, OOM, a lost node) leaves the messages it had fetched
      unacknowledged: Dramatiq's own maintenance puts them back on their queues once the
      worker's heartbeat is ``queue.HEARTBEAT_TIMEOUT_MS`` old (``Broker.recover``, run
      here on every queue rather than on a random 0.1 % of Dramatiq's calls).
    - Redis flushed or restarted (``_hand_back_if_redis_lost``): every dispatched row is
      handed back at once and dispatched again by this pass.
    """
    from app import queue

    broker = queue.broker()
    handed = _hand_back_if_redis_lost(broker.client)
    broker.recover(set(QUEUES.values()) | broker.get_declared_queues())
    return handed


def _hand_back_if_redis_lost(client: redis.Redis) -> int:
    """Compare Redis's run id and our sentinel key with the epoch recorded in PostgreSQL
    (``relay_redis``): the sentinel gone (flushed, restarted empty) or a new run id
    (restarted, failed over) means the messages of dispatched rows may be gone, so all
    go back to pending. The first pass against a database records the epoch and hands
    nothing back. Relays compare one at a time (the row is locked), and the sentinel is
    written before the commit, so a second relay finds it and hands nothing back twice.
    A loss before a database's first pass (its first seconds) cannot be told from a
    first start: the lease covers those rows."""
    run_id = _run_id(client)
    with db.pool().connection() as conn, conn.transaction():
        row = conn.execute(db.q("outbox.lock_redis_epoch")).fetchone()
        seen = row["epoch"] if row else None
        if seen == run_id and client.get(REDIS_SENTINEL) == run_id.encode():
            return 0
        handed = 0
        if seen is not None:
            handed = conn.execute(db.q("outbox.hand_back_all")).rowcount
            log.warning(
                "Redis lost its messages (run id %s, was %s, or our sentinel is gone): "
                "%d dispatched outbox row(s) handed back to the relay",
                run_id,
                seen,
                handed,
            )
        conn.execute(db.q("outbox.set_redis_epoch"), {"epoch": run_id, "now": clock.now()})
        client.set(REDIS_SENTINEL, run_id)
    return handed


def _run_id(client: redis.Redis) -> str:
    """The Redis server's run id, new at each start; "" where INFO is refused (some
    managed services), leaving the sentinel alone to tell a loss."""
    try:
        return str(client.info("server").get("run_id", ""))
    except redis.ResponseError:
        return ""


PRUNE_SLICE = 10_000
"""Rows a prune moves per transaction: a large PSP finishes millions of rows a day, and
one statement moving them all would hold back vacuum's horizon on every table for minutes."""


def prune(before: datetime, slice_rows: int = PRUNE_SLICE) -> int:
    """Move the rows done or cancelled before ``before`` into ``outbox_archive`` (the
    maintenance cron; an event's payload is not kept), a slice per transaction; how many.
    Failed rows stay until an operator retries them."""
    after, pruned = 0, 0
    while True:
        with db.pool().connection() as conn:
            params = {"before": before, "after": after, "limit": slice_rows}
            ids = [r["id"] for r in conn.execute(db.q("outbox.prune_done"), params)]
        pruned += len(ids)
        if len(ids) < slice_rows:
            return pruned
        after = max(ids)


def keep_archive_partitions(
    conn: db.Conn, now: datetime, months: int, ahead: int = PARTITIONS_AHEAD
) -> list[Partition]:
    """The maintenance step after the prune: the archive's partitions of ``now``'s month
    and ``ahead`` more created, those whose whole month ended more than ``months`` ago
    dropped (``month_partitions()``, migration 0024); returns what it did."""
    params = {"now": now, "ahead": ahead, "months": months}
    return repo.many(conn, "outbox.archive_partitions", params, Partition)


def finish(
    outbox_id: int, *, error: str | None = None, failed: bool = False, retrying: bool = False
) -> None:
    """Record an actor's outcome on its row (called by the worker middleware)."""
    now = clock.now()
    with db.pool().connection() as conn:
        if retrying:
            conn.execute(
                db.q("outbox.mark_retrying"),
                {"id": outbox_id, "now": now, "error": error, "lease_s": LEASE.total_seconds()},
            )
        elif failed:
            conn.execute(db.q("outbox.mark_failed"), {"id": outbox_id, "now": now, "error": error})
        else:
            conn.execute(db.q("outbox.mark_done"), {"id": outbox_id, "now": now})


def defer(outbox_id: int, at: datetime) -> bool:
    """Hand a dispatched row out again at ``at`` (our limiter held its call back): the
    message is re-sent now with that delay, and the row's lease moves past ``at`` (a lost
    message is re-dispatched then). Not an attempt, not an error. False when the row is
    no longer dispatched (its lease expired and the relay took it back)."""
    with db.pool().connection() as conn:
        params = {"id": outbox_id, "at": at, "lease_s": LEASE.total_seconds()}
        rows = repo.many(conn, "outbox.defer", params, Dispatch)
    enqueue(rows, clock.now())
    return bool(rows)


@dataclass(frozen=True)
class Backlog:
    """The outbox at a glance (``outbox.backlog``)."""

    due: int
    oldest_due: datetime | None
    in_flight: int
    dead: int


class BacklogCollector:
    """Gauges read from Postgres at scrape time: the outbox (the relay's health, timer
    lag), claims (open by role and status; past a deadline with no action taken), the
    sync runs, MED (infraction reports and refunds: ``_med_gauges``) and the DICT's
    rate-limit buckets of ours (``_rate_limit_gauges``)."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from app.domain.sync import KEY_TYPES
        from app.repo import claims, event_log, med, polls, rate_limits, sync_runs

        now = clock.now()
        with db.pool().connection() as conn:
            open_claims = claims.by_status(conn)
            at_risk = claims.at_risk(conn, now, timedelta(minutes=5))
            row = repo.one(conn, "outbox.backlog", {"now": now}, Backlog)
            poll = polls.health(conn)
            sync_state = sync_runs.by_key_type(conn, KEY_TYPES)
            sync_open = sync_runs.open_by_status(conn)
            sync_last = sync_runs.last_finished(conn)
            med_state = med.gauges(conn, now, *med_params())
            buckets = rate_limits.gauges(conn)
            events = event_log.lag(conn)
        assert row is not None  # an aggregate always answers one row
        oldest = row.oldest_due
        yield GaugeMetricFamily(
            "dict_outbox_due_rows", "Outbox rows due and not yet dispatched", value=row.due
        )
        yield GaugeMetricFamily(
            "dict_outbox_oldest_due_seconds",
            "Age of the oldest due, undispatched outbox row (timer lag)",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "dict_outbox_in_flight_rows", "Outbox rows handed to Dramatiq", value=row.in_flight
        )
        yield GaugeMetricFamily(
            "dict_outbox_dead_rows", "Outbox rows that failed (dead letters)", value=row.dead
        )
        yield GaugeMetricFamily(
            "dict_events_unpublished",
            "Events for core banking committed and not yet logged, or logged and not yet"
            " pushed to the Redis streams",
            value=events.unlogged + events.unpushed,
        )
        yield GaugeMetricFamily(
            "dict_events_oldest_unpublished_seconds",
            "Age of the oldest event committed and not yet logged or pushed (publication lag)",
            value=max(0.0, (now - events.oldest).total_seconds()) if events.oldest else 0.0,
        )
        by_status = GaugeMetricFamily(
            "dict_claims_open", "Open claims by role and status", labels=["role", "status"]
        )
        for r in open_claims:
            by_status.add_metric([r.role, r.status], r.n)
        yield by_status
        risk = GaugeMetricFamily(
            "dict_claims_deadline_missed",
            "Open claims more than 5 minutes past a deadline our role owes an action at",
            labels=["role"],
        )
        for role in ("CLAIMER", "DONOR"):
            risk.add_metric([role], sum(r.n for r in at_risk if r.role == role))
        yield risk
        yield from _poll_gauges(poll, now)
        yield from _sync_gauges(sync_state, sync_open, sync_last, now)
        yield from _med_gauges(med_state, now)
        yield from _rate_limit_gauges(buckets, now)


def _sync_gauges(state: Any, open_runs: Any, last: Any, now: datetime) -> Iterator[Any]:
    """Synchronisation: how old each key type's last OK verification is (the DICT allows
    36 h), runs open by status, and each key type's last finished run."""
    from prometheus_client.core import GaugeMetricFamily

    age = GaugeMetricFamily(
        "dict_sync_last_ok_age_seconds",
        "Seconds since the DICT last answered OK to this key type's VSync (never: -1)",
        labels=["key_type"],
    )
    for st in state:
        age.add_metric([st.key_type], (now - st.last_ok).total_seconds() if st.last_ok else -1.0)
    yield age
    opened = GaugeMetricFamily(
        "dict_sync_runs_open",
        "Sync runs open by key type and status",
        labels=["key_type", "status"],
    )
    for r in open_runs:
        opened.add_metric([r.key_type, r.status], r.n)
    yield opened
    families = {
        "ok": ("dict_sync_last_run_ok", "1 if the key type's last finished sync run ended OK"),
        "divergences": (
            "dict_sync_last_run_divergences",
            "Divergences its last finished run found",
        ),
        "repaired": ("dict_sync_last_run_repaired", "Divergences its last finished run repaired"),
        "duration": ("dict_sync_last_run_duration_seconds", "How long its last finished run took"),
    }
    gauges = {k: GaugeMetricFamily(n, h, labels=["key_type"]) for k, (n, h) in families.items()}
    for r in last:
        gauges["ok"].add_metric([r.key_type], 1.0 if r.status == "ok" else 0.0)
        gauges["divergences"].add_metric([r.key_type], r.divergences)
        gauges["repaired"].add_metric([r.key_type], r.repaired)
        gauges["duration"].add_metric([r.key_type], (r.finished_at - r.started_at).total_seconds())
    yield from gauges.values()


def _poll_gauges(poll: Any, now: datetime) -> Iterator[Any]:
    """The claims poll's health: how long since it last went through, what it could not
    apply, and claims whose DICT status our record cannot reach."""
    from prometheus_client.core import GaugeMetricFamily

    polled = poll.polled_at
    yield GaugeMetricFamily(
        "dict_claims_poll_age_seconds",
        "Seconds since the claims poll last went through the DICT's whole list (no poll yet: -1)",
        value=(now - polled).total_seconds() if polled else -1.0,
    )
    yield GaugeMetricFamily(
        "dict_claims_poll_failures",
        "Claims the poll could not apply (isolated, retried every poll)",
        value=poll.failures,
    )
    yield GaugeMetricFamily(
        "dict_claims_anomalies",
        "Claims whose DICT status our record cannot reach, until an operator clears them",
        value=poll.anomalies,
    )


MED_FINISHED = ("rejected", "closed", "cancelled")
"""An infraction report or refund request in one of these is finished for the gauges (a
closed report too, although its reporter may still cancel it)."""


def med_params() -> tuple[dict[str, list[str]], dict[str, timedelta]]:
    """By kind (``infraction_report``, ``refund``): the statuses of an item not
    finished, from its machine; and how long before its due_at our analysis is "due
    soon", as the machine's warning timer says: a report in the 2 days after the day-5
    warning, a refund in the last quarter of REFUND_ANALYSIS_HOURS (warned at 75 %)."""
    from statemachines import infraction_report, refund  # they import this module

    live = {
        spec.name: [s for s in spec.states if s not in MED_FINISHED]
        for spec in (infraction_report.SPEC, refund.SPEC)
    }
    allowed = timedelta(hours=settings.med().refund_analysis_hours)
    warnings = {
        "infraction_report": infractions.ANALYSIS_DEADLINE - infractions.DEADLINE_WARNING,
        "refund": allowed * (1 - refund.WARNING_SHARE),
    }
    return live, warnings


def _med_gauges(rows: Any, now: datetime) -> Iterator[Any]:
    """MED, by kind (infraction_report, refund): items not finished by role; of those
    ours to analyse, the ones due soon or overdue and the nearest deadline; the DICT's
    refusals; and how long since each role's poll went through the DICT's list."""
    from prometheus_client.core import GaugeMetricFamily

    opened = GaugeMetricFamily(
        "dict_med_open_total",
        "Infraction reports and refund requests not finished (a closed report counts as"
        " finished), by kind and our role",
        labels=["kind", "role"],
    )
    rejected = GaugeMetricFamily(
        "dict_med_rejected",
        "Our MED requests the DICT refused: creations rejected within the last hour, and"
        " items whose last call (acknowledge, close, cancel, update) was refused and not redone",
        labels=["kind", "role"],
    )
    polled = GaugeMetricFamily(
        "dict_med_poll_age_seconds",
        "Seconds since the poll of this list (poll_cursors.name) last went through (never: -1)",
        labels=["cursor"],
    )
    failures = GaugeMetricFamily(
        "dict_med_poll_failures",
        "Items of this list (poll_cursors.name) the poll could not apply (poll_failures):"
        " read again by id by every pass until they apply",
        labels=["cursor"],
    )
    for r in rows:
        opened.add_metric([r.kind, r.role], r.open)
        rejected.add_metric([r.kind, r.role], r.rejected)
        age = (now - r.polled_at).total_seconds() if r.polled_at else -1.0
        polled.add_metric([r.cursor], age)
        failures.add_metric([r.cursor], r.poll_failures)
    yield from (opened, rejected, polled, failures)
    yield from _med_due_gauges(rows, now)


def _med_due_gauges(rows: Any, now: datetime) -> Iterator[Any]:
    """Ours to analyse (COUNTERPARTY reports, CONTESTED refunds), by kind."""
    from prometheus_client.core import GaugeMetricFamily

    soon = GaugeMetricFamily(
        "dict_med_due_soon",
        "Reports and refunds ours to analyse, not closed, due within the warning window"
        " (reports: 2 days; refunds: the last 25 % of REFUND_ANALYSIS_HOURS)",
        labels=["kind"],
    )
    overdue = GaugeMetricFamily(
        "dict_med_overdue",
        "Reports and refunds ours to analyse, not closed, past their due_at",
        labels=["kind"],
    )
    nearest = GaugeMetricFamily(
        "dict_med_oldest_due_seconds",
        "Seconds until the nearest due_at of the reports or refunds ours to analyse"
        " (negative: past due; absent when none is waiting)",
        labels=["kind"],
    )
    for kind in ("infraction_report", "refund"):
        mine = [r for r in rows if r.kind == kind]
        soon.add_metric([kind], sum(r.due_soon for r in mine))
        overdue.add_metric([kind], sum(r.overdue for r in mine))
        due = [r.nearest_due for r in mine if r.nearest_due is not None]
        if due:
            nearest.add_metric([kind], (min(due) - now).total_seconds())
    yield from (soon, overdue, nearest)


def _rate_limit_gauges(rows: Any, now: datetime) -> Iterator[Any]:
    """The DICT's buckets of ours as the newest poll read them (``poll_rate_limits``, one
    query: ``rate_limits.gauges``): per policy the tokens left, the capacity, the share
    used and the level our thresholds give it; and how old that reading is."""
    from prometheus_client.core import GaugeMetricFamily

    from app.domain.bucket_levels import SEVERITY

    families = {
        "available": GaugeMetricFamily(
            "dict_rate_limit_available_tokens",
            "Tokens left in the DICT's bucket of this policy, as last read (may be negative)",
            labels=["policy"],
        ),
        "capacity": GaugeMetricFamily(
            "dict_rate_limit_capacity",
            "Capacity of the DICT's bucket of this policy, as last read",
            labels=["policy"],
        ),
        "utilisation": GaugeMetricFamily(
            "dict_rate_limit_utilisation",
            "Share of the bucket spent, 1 - available/capacity (above 1: in debt)",
            labels=["policy"],
        ),
        "level": GaugeMetricFamily(
            "dict_rate_limit_level",
            "The level our thresholds give the last reading: 0 ok, 1 warning, 2 critical",
            labels=["policy"],
        ),
    }
    newest = None
    for r in rows:
        newest = r.newest_read_at
        if r.policy is None or r.available_tokens is None or not r.capacity:
            continue
        families["available"].add_metric([r.policy], r.available_tokens)
        families["capacity"].add_metric([r.policy], r.capacity)
        families["utilisation"].add_metric([r.policy], 1 - r.available_tokens / r.capacity)
        families["level"].add_metric([r.policy], SEVERITY.get(r.level or "", 0))
    yield from families.values()
    yield GaugeMetricFamily(
        "dict_rate_limit_reading_age_seconds",
        "Seconds since the DICT's buckets of ours were last read (never: -1)",
        value=(now - newest).total_seconds() if newest else -1.0,
    )
