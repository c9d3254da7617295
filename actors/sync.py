"""Sync runs: prove each key type's VSync to the DICT, and repair our base when it says NOK.

One actor per open status of a run (``statemachines/sync_run.py``), each idempotent:
it re-reads the run, does nothing unless the run is still where its message expects,
calls the DICT with no transaction open, and commits its progress (a page of events, a
range of CIDs compared, a divergence handled) with the run's row. A run never keeps an
actor longer than SYNC_STEP_BUDGET_S: it writes the next message and stops, so a killed
worker costs at most one step, and no step depends on a message that only Redis holds.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import IO, Any
from zoneinfo import ZoneInfo

import dramatiq
import psycopg
from periodiq import cron

from actors.entries import client
from actors.spine import claim_slot, cron_slot
from app import clock, db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.domain.sync import KEY_TYPES, SHARDS, Action, Ours, Schedule, Side, decide, shard_range
from app.events import EntryReconciled, KeyTypeSummary, SyncReconciled, SyncSummary
from app.repo import cids, entries, sync_runs
from app.repo.sync_runs import DivergenceRow, SyncRunRow
from statemachines import entry, sync_run
from statemachines.core import Conflict, IllegalTrigger

log = logging.getLogger(__name__)

EVENTS_PAGE = 200
"""The DICT's largest page of CID events."""
EVENTS_LAG = timedelta(seconds=10)
"""Events are read from a little before the last OK verification (lists lag ≤5 s)."""
FILE_POLL_BACKOFF = (5, 10, 20, 40, 60)
"""Seconds between GetCidSetFile polls: the n-th poll waits the n-th, then the last."""
IN_FLIGHT_RETRY = timedelta(seconds=30)
IN_FLIGHT_ATTEMPTS = 20
"""An entry still in flight after this many looks (10 minutes) is left unresolved."""
DOWNLOAD_TIMEOUT_S = 300.0
CREATE_FILE_TIMEOUT_S = 60.0
"""The DICT answers CreateCidSetFile at once; the simulator builds the file first."""


STALLED_AFTER = timedelta(minutes=10)
"""An open run with no message of its own pending this long is given one again."""
STAGE_TIME_LIMIT_MS = 300_000
"""collect_sync downloads and stages a whole CID file in one run (its SHA-256 is of the
whole file): 650 MB for 10 million CIDs. Everything else stays within the default."""
ACTOR_OF = {
    "verifying": "verify_sync",
    "collecting": "collect_sync",
    "comparing": "compare_sync",
    "reconciling": "reconcile_sync",
}


def _settled(fn: Callable[[int], None]) -> Callable[[int], None]:
    """A transition a concurrent delivery already made is success, not a dead letter."""

    @functools.wraps(fn)
    def run(run_id: int) -> None:
        try:
            fn(run_id)
        except IllegalTrigger as exc:
            log.info("sync run %s already moved on (%s)", run_id, exc.current)

    return run


def _load(run_id: int, status: str) -> SyncRunRow | None:
    """The run, if it is still in ``status`` (else a repeated message: nothing to do)."""
    with db.pool().connection() as conn:
        row = sync_runs.get(conn, run_id)
    if row is None or row.status != status:
        log.info(
            "sync run %s is not %s (%s): nothing to do",
            run_id,
            status,
            row.status if row else "missing",
        )
        return None
    return row


def _participant() -> str:
    return settings.bridge().participant


def _again(
    s: outbox.Step, actor: str, run_id: int, at: datetime | None = None, dedupe: str | None = None
) -> None:
    """The run's next step, in the transaction that recorded this one's progress."""
    if at is None:
        s.add([outbox.task(actor, subject=sync_run.subject(run_id), run_id=run_id)])
    else:
        s.add(
            [
                outbox.timer(
                    actor,
                    at,
                    dedupe_key=dedupe or f"{actor}:{run_id}:{at.isoformat()}",
                    subject=sync_run.subject(run_id),
                    run_id=run_id,
                )
            ]
        )


def _fail(r: SyncRunRow, trigger: str, problem: str) -> None:
    log.warning("sync run %s (%s) fails: %s", r.id, r.key_type, problem)
    with outbox.step(actor="worker") as s:
        sync_run.fire(s, r.id, trigger, problem=problem[:1000])


# ------------------------------------------------------------------------- verifying


def _our_vsync(r: SyncRunRow, now: datetime) -> str:
    """The first verification sends the VSync kept incrementally; after a repair, the
    one recomputed from every CID (and the shards are corrected if they drifted)."""
    with db.pool().connection() as conn:
        if r.verifications == 0:
            return cids.vsync(conn, r.key_type)
        kept, fresh = cids.both(conn, r.key_type)
        if fresh == kept:
            return fresh
    with outbox.step(actor="worker", trigger="repair_vsync") as s:
        repaired = cids.repair(s.conn, r.key_type, s.now)
        fresh = cids.recompute(s.conn, r.key_type)
    log.error(
        "VSync shards of %s disagreed with its CIDs; repaired shards %s", r.key_type, repaired
    )
    return fresh


@dramatiq.actor(queue_name="dict")
@_settled
def verify_sync(run_id: int) -> None:
    """CreateSyncVerification with our VSync of the run's key type."""
    r = _load(run_id, "verifying")
    if r is None:
        return
    at = clock.now()
    vsync = _our_vsync(r, at)
    request = pb.CreateSyncVerificationRequest(
        participant=_participant(), key_type=r.key_type, participant_sync_verifier=vsync
    )
    try:
        answer = client().create_sync_verification(request)
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        _fail(r, "verify_refused", f"the DICT refused the verification: {exc.type}: {exc}")
        return
    with outbox.step(actor="worker") as s:
        _verified(s, r, answer, vsync, at)


def _verified(
    s: outbox.Step, r: SyncRunRow, answer: pb.SyncVerification, vsync: str, at: datetime
) -> None:
    said: dict[str, Any] = {"vsync": vsync, "verification_id": answer.id, "verified": True}
    if answer.result == "OK":
        sync_run.fire(s, r.id, "in_sync", verified_at=at, **said)
    elif r.verifications == 0:
        source, since = _source(s.conn, r, at)
        sync_run.fire(s, r.id, "diverged", source=source, since=since, snapshot_at=at, **said)
    elif r.source == "events":  # the events did not explain it all: the whole file
        sync_run.fire(s, r.id, "diverged", **said)
        sync_runs.restart_collecting(s.conn, r.id, s.now)
    elif r.rechecks < settings.sync().rechecks:  # a key may be moving at this instant
        if sync_runs.recheck(s.conn, r, vsync, answer.id, s.now):
            again = s.now + timedelta(seconds=settings.sync().recheck_after_s)
            _again(s, "verify_sync", r.id, at=again, dedupe=f"recheck:{r.id}:{r.rechecks}")
            log.info(
                "sync run %s (%s): NOK after the repair, verified again at %s",
                r.id,
                r.key_type,
                again,
            )
    else:
        problem = "the DICT still answers NOK after the repair from its CID file"
        if r.rechecks:
            problem += f" and at {r.rechecks} more verifications after it"
        sync_run.fire(s, r.id, "still_diverged", problem=problem, **said)


def _source(conn: db.Conn, r: SyncRunRow, now: datetime) -> tuple[str, datetime | None]:
    """Events since the last OK verification when that is recent, else the CID file."""
    state = sync_runs.by_key_type(conn, [r.key_type])[0]
    window = timedelta(hours=settings.sync().events_window_h)
    if state.last_ok is not None and now - state.last_ok <= window:
        return "events", state.last_ok
    return "file", state.last_ok


# ------------------------------------------------------------------------- collecting


@dramatiq.actor(queue_name="dict", time_limit=STAGE_TIME_LIMIT_MS)
@_settled
def collect_sync(run_id: int) -> None:
    """Read the DICT's side: its CID events of the window, or its CID file."""
    r = _load(run_id, "collecting")
    if r is None:
        return
    if r.source == "events":
        _collect_events(r)
    else:
        _collect_file(r)


def _ts(value: Any) -> datetime:
    at: datetime = value.ToDatetime(tzinfo=UTC)
    return at


def _collect_events(r: SyncRunRow) -> None:
    assert r.snapshot_at is not None and r.since is not None
    stop = time.monotonic() + settings.sync().step_budget_s
    kept, pages = r.events_after, r.event_pages  # the cursor as the row holds it
    while True:
        if pages >= settings.sync().events_max_pages:
            with outbox.step(actor="worker") as s:
                sync_runs.switch_to_file(s.conn, r.id, s.now)
                _again(s, "collect_sync", r.id)
            return
        after = kept or r.since - EVENTS_LAG
        request = pb.ListCidSetEventsRequest(
            participant=_participant(), key_type=r.key_type, limit=EVENTS_PAGE
        )
        request.start_time.FromDatetime(after)
        request.end_time.FromDatetime(r.snapshot_at)
        page = client().list_cid_set_events(request)
        events = [(e.cid, e.type, _ts(e.timestamp)) for e in page.events]
        next_after = _next_after(after, events, page.has_more_elements, r.snapshot_at)
        with outbox.step(actor="worker") as s:
            sync_runs.events_page(s.conn, r.id, kept, next_after, events, s.now)
            if not page.has_more_elements:
                sync_run.fire(s, r.id, "collected")
                return
            if time.monotonic() > stop:
                _again(s, "collect_sync", r.id)
                return
        kept, pages = next_after, pages + 1


def _next_after(
    after: datetime, events: list[tuple[str, str, datetime]], more: bool, end: datetime
) -> datetime:
    """Where the next page starts: the last event's instant (pages overlap there; the
    last event per CID is kept), a microsecond on if a whole page shares it."""
    if not more:
        return end
    last = events[-1][2] if events else after
    return last if last > after else after + timedelta(microseconds=1)


def _collect_file(r: SyncRunRow) -> None:
    if r.file_id is None:
        snapshot = clock.now()  # our CIDs added after this are newer than the file
        request = pb.CreateCidSetFileRequest(participant=_participant(), key_type=r.key_type)
        created = client().create_cid_set_file(request, timeout_s=CREATE_FILE_TIMEOUT_S)
        with outbox.step(actor="worker") as s:
            if sync_runs.file_requested(s.conn, r.id, created.id, snapshot, s.now):
                _again(s, "collect_sync", r.id, s.now + timedelta(seconds=FILE_POLL_BACKOFF[0]))
        return
    file = client().get_cid_set_file(pb.GetCidSetFileRequest(id=r.file_id))
    if file.status == "AVAILABLE":
        _stage(r, file)
        return
    now = clock.now()
    timeout = settings.sync().file_timeout_s
    if file.status in ("ERROR", "UNAVAILABLE"):
        _fail(r, "collect_failed", f"the DICT's CID file {r.file_id} is {file.status}")
    elif r.file_requested_at and (now - r.file_requested_at).total_seconds() > timeout:
        _fail(
            r,
            "collect_failed",
            f"the DICT's CID file {r.file_id} was not AVAILABLE "
            f"{timeout:g} s after it was requested (still {file.status})",
        )
    else:
        wait = FILE_POLL_BACKOFF[min(r.file_polls, len(FILE_POLL_BACKOFF) - 1)]
        with outbox.step(actor="worker") as s:
            if sync_runs.file_polled(s.conn, r.id, r.file_id, s.now):
                _again(
                    s,
                    "collect_sync",
                    r.id,
                    s.now + timedelta(seconds=wait),
                    dedupe=f"collect_sync:{r.id}:poll:{r.file_polls + 1}",
                )


class FileRefused(Exception):
    """A downloaded CID file does not match what GetCidSetFile announced."""


def _download(file: pb.CidSetFile, into: IO[bytes]) -> None:
    """Stream the file to ``into`` (a temporary file: no transaction is open during
    the transfer), refusing it unless its size and SHA-256 are the announced ones."""
    digest, size = hashlib.sha256(), 0
    chunks = client().download_cid_set_file(
        pb.DownloadCidSetFileRequest(id=file.id), timeout_s=DOWNLOAD_TIMEOUT_S
    )
    for data in chunks:
        digest.update(data)
        size += len(data)
        into.write(data)
    if size != file.bytes:
        raise FileRefused(
            f"the CID file {file.id} has {size} bytes, the DICT announced {file.bytes}"
        )
    if digest.hexdigest() != file.sha256.lower():
        raise FileRefused(
            f"the CID file {file.id} has SHA-256 {digest.hexdigest()}, the DICT "
            f"announced {file.sha256}: a corrupted download, refused"
        )
    into.seek(0)


def _chunks(f: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk


def _stage(r: SyncRunRow, file: pb.CidSetFile) -> None:
    with tempfile.TemporaryFile(prefix="dict-cids-") as tmp:
        try:
            _download(file, tmp)
        except FileRefused as exc:
            _fail(r, "collect_failed", str(exc))
            return
        try:
            with outbox.step(actor="worker") as s:
                sync_runs.clear_staged(s.conn, r.key_type)
                lines = sync_runs.stage(s.conn, r.key_type, _chunks(tmp))
                sync_run.fire(
                    s,
                    r.id,
                    "collected",
                    file_bytes=file.bytes,
                    file_sha256=file.sha256.lower(),
                    file_cids=lines,
                )
        except (psycopg.DataError, psycopg.IntegrityError) as exc:  # a line that is no CID
            _fail(r, "collect_failed", f"the CID file {file.id} could not be staged: {exc}")
            return
    log.info("sync run %s staged the DICT's %s CIDs of %s", r.id, lines, r.key_type)


# ------------------------------------------------------------------------- comparing


@dramatiq.actor(queue_name="default")
@_settled
def compare_sync(run_id: int) -> None:
    """Compare our CIDs with the DICT's: its events of the window at once, its file a
    range of CIDs per transaction, until the step budget is spent."""
    r = _load(run_id, "comparing")
    if r is None:
        return
    if r.source == "events":
        with outbox.step(actor="worker") as s:
            sync_runs.compare_events(s.conn, r, s.now)
            _compared(s, r)
        return
    if r.file_cids and r.shard < SHARDS:
        with db.pool().connection() as conn:
            staged = sync_runs.staged_any(conn, r.key_type)
        if not staged:  # unlogged: a database crash emptied it
            with outbox.step(actor="worker") as s:
                sync_run.fire(s, r.id, "restage")
                sync_runs.restage(s.conn, r.id, s.now)
            return
    stop = time.monotonic() + settings.sync().step_budget_s
    try:
        for shard in range(r.shard, SHARDS):
            if _compare_shard(r, shard, stop):
                return
    except _Overtaken:
        log.info("sync run %s: another delivery is comparing it", r.id)


class _Overtaken(Exception):
    """Another delivery of the same message moved the run first: roll back, stop."""


def _compare_shard(r: SyncRunRow, shard: int, stop: float) -> bool:
    """Compare one range in one transaction; True when this actor run is over."""
    lo, hi = shard_range(shard)
    with outbox.step(actor="worker") as s:
        s.conn.execute("SET LOCAL work_mem = '64MB'")
        sync_runs.compare_shard(s.conn, r, lo, hi, s.now)
        if not sync_runs.shard_done(s.conn, r.id, shard, s.now):
            raise _Overtaken
        if shard == SHARDS - 1:
            sync_runs.clear_staged(s.conn, r.key_type)
            _compared(s, r)
            return True
        if time.monotonic() > stop:
            _again(s, "compare_sync", r.id)
            return True
    return False


def _compared(s: outbox.Step, r: SyncRunRow) -> None:
    found = sync_runs.count_found(s.conn, r.id)
    total = sync_runs.count_divergences(s.conn, r.id)
    trigger = "held" if found > r.threshold else "compared"
    sync_run.fire(s, r.id, trigger, divergences=total)


# ------------------------------------------------------------------------- reconciling


@dramatiq.actor(queue_name="dict")
@_settled
def reconcile_sync(run_id: int) -> None:
    """Move our base to the DICT's state, divergence by divergence
    (``app.domain.sync.decide``), then verify again."""
    r = _load(run_id, "reconciling")
    if r is None:
        return
    stop = time.monotonic() + settings.sync().step_budget_s
    while time.monotonic() < stop:
        with db.pool().connection() as conn:
            batch = sync_runs.due_divergences(conn, r.id, clock.now(), 50)
        if not batch:
            break
        for d in batch:
            _handle(r, d)
            if time.monotonic() > stop:
                break
    with outbox.step(actor="worker") as s:
        left, next_retry = sync_runs.divergences_left(s.conn, r.id)
        if left == 0:
            _reconciled(s, r)
        elif next_retry is not None and next_retry > s.now:
            _again(s, "reconcile_sync", r.id, next_retry)
        else:
            _again(s, "reconcile_sync", r.id)


def _reconciled(s: outbox.Step, r: SyncRunRow) -> None:
    n = sync_runs.outcomes(s.conn, r.id)
    repaired = n.get("inserted", 0) + n.get("updated", 0) + n.get("removed", 0)
    sync_run.fire(s, r.id, "reconciled", repaired=repaired)
    event = SyncReconciled(
        run_id=r.id,
        key_type=r.key_type,
        inserted=n.get("inserted", 0),
        updated=n.get("updated", 0),
        removed=n.get("removed", 0),
        resolved=n.get("resolved", 0),
        unresolved=n.get("unresolved", 0),
    )
    s.add([outbox.event("sync.reconciled", event, subject=sync_run.subject(r.id))])
    sync_runs.prune_events(s.conn, r.id)


class _Refused(Exception):
    """The DICT refused GetEntryByCid for good (not NotFound): an operator looks."""


def _in_dict(cid: str) -> pb.GetEntryByCidResponse | None:
    try:
        return client().get_entry_by_cid(pb.GetEntryByCidRequest(cid=cid))
    except problems.DictProblem as exc:
        if exc.type == "NotFound":
            return None
        if exc.retryable:
            raise
        raise _Refused(f"the DICT refused GetEntryByCid: {exc.type}: {exc}") from exc


def _ours(row: Any) -> Ours | None:
    return Ours(status=row.status, cid=row.cid) if row is not None else None


def _handle(r: SyncRunRow, d: DivergenceRow) -> None:
    """Decide and apply one divergence; an entry that moved meanwhile is looked at again."""
    try:
        _decide_and_apply(r, d)
    except _Refused as exc:  # e.g. a line of the DICT's file that is no CID
        with outbox.step(actor="worker") as s:
            sync_runs.set_outcome(s.conn, d, "unresolved", s.now, detail=str(exc)[:1000])


def _decide_and_apply(r: SyncRunRow, d: DivergenceRow) -> None:
    dict_entry = None
    if d.side == Side.DICT_ONLY:
        dict_entry = _in_dict(d.cid)
        key = dict_entry.entry.entry.key if dict_entry else None
        with db.pool().connection() as conn:
            ours = entries.live_by_key(conn, key) if key else None
    else:
        with db.pool().connection() as conn:  # the comparison recorded whose CID it is
            ours = entries.get(conn, d.entry_id)
        if ours is not None and ours.status in ("deleted", "rejected"):
            ours = None
        if ours is not None and ours.status == "active" and ours.cid == d.cid:
            dict_entry = _in_dict(d.cid)
    action = decide(Side(d.side), d.cid, dict_entry is not None, _ours(ours))
    try:
        with outbox.step(actor="worker", trigger="reconcile", reason="RECONCILIATION") as s:
            _apply(s, r, d, action, ours, dict_entry)
    except Conflict:
        with outbox.step(actor="worker") as s:
            _retry(s, d, "the entry changed while the run looked at it")
    except psycopg.Error as exc:  # one divergence the database refuses does not stop the run
        log.exception("sync run %s: divergence %s could not be applied", r.id, d.cid)
        with outbox.step(actor="worker") as s:
            sync_runs.set_outcome(
                s.conn,
                d,
                "unresolved",
                s.now,
                detail=f"could not be applied: {type(exc).__name__}: {exc}"[:1000],
            )


def _retry(s: outbox.Step, d: DivergenceRow, why: str) -> None:
    if d.attempts + 1 >= IN_FLIGHT_ATTEMPTS:
        sync_runs.set_outcome(
            s.conn,
            d,
            "unresolved",
            s.now,
            detail=f"{why}, {d.attempts + 1} times: left for an operator",
        )
    else:
        sync_runs.set_outcome(
            s.conn, d, "in_flight", s.now, detail=why, retry_at=s.now + IN_FLIGHT_RETRY
        )


def dict_fields(e: pb.Entry) -> dict[str, Any]:
    """A DICT entry as the columns of ``entries``."""
    return {
        "key": e.key,
        "key_type": e.key_type,
        "participant": e.account.participant,
        "branch": e.account.branch or None,
        "account_number": e.account.account_number,
        "account_type": e.account.account_type,
        "opening_date": _ts(e.account.opening_date),
        "owner_type": e.owner.type,
        "owner_tax_id": e.owner.tax_id_number,
        "owner_name": e.owner.name,
        "owner_trade_name": e.owner.trade_name or None,
    }


def _apply(
    s: outbox.Step,
    r: SyncRunRow,
    d: DivergenceRow,
    action: Action,
    ours: Any,
    dict_entry: pb.GetEntryByCidResponse | None,
) -> None:
    if not sync_runs.lock_open(s.conn, d.run_id, d.cid):
        return  # another delivery handled it meanwhile
    if action is Action.IN_FLIGHT:
        _retry(s, d, f"entry {ours.id} is {ours.status}: its own operation settles it first")
        return
    if action is Action.RESOLVED:
        sync_runs.set_outcome(
            s.conn,
            d,
            "resolved",
            s.now,
            detail="no longer a divergence when handled",
            entry_id=ours.id if ours else None,
        )
        return
    if action is Action.REMOVE:
        other = sync_runs.dict_side_of_key(s.conn, r.id, ours.key)
        if other is not None:  # the DICT holds the key, with attributes we could not take
            sync_runs.set_outcome(
                s.conn,
                d,
                "unresolved",
                s.now,
                entry_id=ours.id,
                key=ours.key,
                detail=f"not removed: the DICT holds this key (its CID {other}, left unresolved)",
            )
            return
        entry.reconciled_away(s, ours.id, ours.version)
        _done(s, r, d, action, ours.id, ours.key, "deleted")
        return
    assert dict_entry is not None
    fields = dict_fields(dict_entry.entry.entry)
    request_id = uuid.UUID(dict_entry.request_id)
    mismatch = _cid_mismatch(fields, request_id, d.cid)
    if mismatch:
        sync_runs.set_outcome(s.conn, d, "unresolved", s.now, detail=mismatch, key=fields["key"])
        return
    if action is Action.INSERT:
        entry_id = entry.adopt(s, fields, request_id, trigger="reconciled")
    else:
        entry.reconcile(s, ours.id, ours.version, fields, request_id)
        entry_id = ours.id
    _done(s, r, d, action, entry_id, fields["key"], "active")


def _cid_mismatch(fields: dict[str, Any], request_id: uuid.UUID, cid: str) -> str | None:
    """Our CID of the DICT's entry must be the DICT's; if not, writing it would only move
    the divergence (a formatting difference in some attribute: an operator looks)."""
    ours = entry.cid_of_fields(fields, request_id)
    if ours == cid:
        return None
    return (
        f"our CID of the DICT's entry is {ours}, the DICT's is {cid}: "
        "some attribute is written differently; left for an operator"
    )


def _done(
    s: outbox.Step,
    r: SyncRunRow,
    d: DivergenceRow,
    action: Action,
    entry_id: uuid.UUID,
    key: str | None,
    status: str,
) -> None:
    sync_runs.set_outcome(s.conn, d, action.value, s.now, key=key, entry_id=entry_id)
    event = EntryReconciled(
        entry_id=str(entry_id),
        key_type=r.key_type,
        key=key,
        status=status,
        action=action.value,
        run_id=r.id,
    )
    s.add([outbox.event("entries.reconciled", event, subject=f"entry:{entry_id}")])


# ------------------------------------------------------------------------- scheduling


def schedule() -> Schedule:
    conf = settings.sync()
    hours, _, minutes = conf.daily_at.partition(":")
    return Schedule(
        at=dtime(int(hours), int(minutes or 0)),
        tz=ZoneInfo(conf.timezone),
        catch_up_after=timedelta(hours=conf.catch_up_after_h),
        retry_gap=timedelta(minutes=conf.retry_gap_min),
    )


def start_due(now: datetime) -> list[SyncRunRow]:
    """Start the runs the schedule says are due (``Schedule.due``) for key types with
    none open: the daily slot not run yet, or a last OK verification too old."""
    plan = schedule()
    with outbox.step(actor="scheduler") as s:
        s.now = now
        due: dict[str, list[str]] = {}
        for st in sync_runs.by_key_type(s.conn, KEY_TYPES):
            cause = plan.due(now, st.last_started, st.last_ok) if st.open_run is None else None
            if cause:
                due.setdefault(cause, []).append(st.key_type)
        started = [r for cause, kinds in due.items() for r in sync_run.start(s, kinds, cause)]
        restart_stalled(s)
        return started


def restart_stalled(s: outbox.Step) -> list[int]:
    """Give a message again to each open run that has none pending and has not moved
    for STALLED_AFTER (its message died: a dead letter, a lost lease past retries)."""
    stalled = sync_runs.stalled(s.conn, s.now - STALLED_AFTER)
    for r in stalled:
        log.warning("sync run %s (%s) stalled while %s: restarted", r.id, r.key_type, r.status)
        s.add([outbox.task(ACTOR_OF[r.status], subject=sync_run.subject(r.id), run_id=r.id)])
    return [r.id for r in stalled]


def publish_summary(now: datetime) -> bool:
    """The previous local day's ``sync.summary``, once (the first tick of a new day)."""
    plan = schedule()
    today = plan.summary_day(now)
    day_start = datetime.combine(today, dtime(), plan.tz)
    if not claim_slot("sync_summary", day_start):
        return False
    start, end = day_start - timedelta(days=1), day_start
    with outbox.step(actor="scheduler") as s:
        runs = sync_runs.finished_between(s.conn, start, end)
        last_ok = {st.key_type: st.last_ok for st in sync_runs.by_key_type(s.conn, KEY_TYPES)}
        summary = SyncSummary(
            day=(today - timedelta(days=1)).isoformat(),
            key_types=[
                KeyTypeSummary(
                    key_type=k,
                    last_ok=_iso(last_ok.get(k)),
                    runs=sum(1 for r in runs if r.key_type == k),
                    ok=sum(1 for r in runs if r.key_type == k and r.status == "ok"),
                    divergences=sum(r.divergences for r in runs if r.key_type == k),
                    repaired=sum(r.repaired for r in runs if r.key_type == k),
                )
                for k in KEY_TYPES
            ],
        )
        s.add([outbox.event("sync.summary", summary)])
    return True


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


@dramatiq.actor(queue_name="cron", periodic=cron("* * * * *"), max_retries=0)
def sync_schedule() -> None:
    """Every minute: start due sync runs; once a day, the summary."""
    if not claim_slot("sync_schedule", cron_slot()):
        return
    now = clock.now()
    for r in start_due(now):
        log.info("sync run %s of %s started (%s)", r.id, r.key_type, r.cause)
    publish_summary(now)
