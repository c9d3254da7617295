"""/v1/sync-runs: verify our keys against the DICT's, see what a run found and did,
and approve or reject a large reconciliation (statemachines/sync_run.py).

Runs start on their own (daily, and at once when a key type's last OK verification is
too old: actors/sync.py ``sync_schedule``); a POST starts one now.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from app import db, outbox
from app.api import pagination
from app.api.auth import requires
from app.api.errors import ConflictError, NotFoundError, ValidationFailed, one_of
from app.api.history import Change, history
from app.domain.sync import KEY_TYPES
from app.repo import sync_runs
from app.repo.sync_runs import DivergenceRow, SyncRunRow
from statemachines import sync_run

OUTCOMES = ("found", "in_flight", "inserted", "updated", "removed", "resolved", "unresolved")


class SyncRunCreate(msgspec.Struct, forbid_unknown_fields=True):
    key_type: str | None = None
    """One of CPF, CNPJ, PHONE, EMAIL, EVP; absent: every key type."""


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    reason: str | None = None


class SyncRun(msgspec.Struct):
    id: int
    key_type: str
    status: str
    cause: str
    requested_by: str | None
    source: str | None
    vsync: str | None
    verification_id: int | None
    verifications: int
    rechecks: int
    """NOK answers after the repair from the CID file that were verified again later."""
    verified_at: datetime | None
    divergences: int
    repaired: int
    threshold: int
    file_id: int | None
    file_bytes: int | None
    file_sha256: str | None
    file_cids: int | None
    decided_by: str | None
    problem: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    outcomes: dict[str, int] | None = None
    history: list[Change] | None = None


class Started(msgspec.Struct):
    started: list[SyncRun]
    already_open: list[SyncRun]
    """Key types asked for that already had a run open: that run."""


class SyncRunPage(msgspec.Struct):
    items: list[SyncRun]
    next_cursor: str | None


class Divergence(msgspec.Struct):
    cid: str
    side: str
    outcome: str
    key: str | None
    entry_id: uuid.UUID | None
    detail: str | None
    attempts: int
    found_at: datetime
    handled_at: datetime | None


class DivergencePage(msgspec.Struct):
    items: list[Divergence]
    next_cursor: str | None


def _run(row: SyncRunRow, conn: db.Conn | None = None) -> SyncRun:
    view = SyncRun(
        id=row.id,
        key_type=row.key_type,
        status=row.status,
        cause=row.cause,
        requested_by=row.requested_by,
        source=row.source,
        vsync=row.vsync,
        verification_id=row.verification_id,
        verifications=row.verifications,
        rechecks=row.rechecks,
        verified_at=row.verified_at,
        divergences=row.divergences,
        repaired=row.repaired,
        threshold=row.threshold,
        file_id=row.file_id,
        file_bytes=row.file_bytes,
        file_sha256=row.file_sha256,
        file_cids=row.file_cids,
        decided_by=row.decided_by,
        problem=row.problem,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )
    if conn is not None:
        view.outcomes = sync_runs.outcomes(conn, row.id)
        view.history = history(conn, sync_run.MACHINE, str(row.id))
    return view


def _divergence(d: DivergenceRow) -> Divergence:
    return Divergence(
        d.cid, d.side, d.outcome, d.key, d.entry_id, d.detail, d.attempts, d.found_at, d.handled_at
    )


def _find(conn: db.Conn, run_id: int) -> SyncRunRow:
    row = sync_runs.get(conn, run_id)
    if row is None:
        raise NotFoundError("sync run", str(run_id))
    return row


def _caller(request: Request[Any, Any, Any]) -> str:
    key = request.scope.get("user")
    return f"api:{getattr(key, 'name', 'unknown')}"


class SyncRunController(Controller):
    path = "/v1/sync-runs"
    tags = ["sync"]

    @post(
        "/",
        status_code=201,
        operation_id="startSyncRuns",
        guards=[requires("sync:write")],
        sync_to_thread=True,
    )
    def start(
        self, request: Request[Any, Any, Any], data: JSONBody[SyncRunCreate]
    ) -> Response[Started]:
        """Verify one key type (or all) now. A key type with a run open keeps it: that
        run is returned in ``already_open`` (409 when the only one asked for is open)."""
        one_of("key_type", data.key_type, KEY_TYPES)
        wanted = [data.key_type] if data.key_type else list(KEY_TYPES)
        with outbox.step(actor=_caller(request)) as s:
            started = sync_run.start(s, wanted, "requested", requested_by=_caller(request))
            begun = {r.key_type for r in started}
            states = sync_runs.by_key_type(s.conn, [k for k in wanted if k not in begun])
            already = [_find(s.conn, st.open_run) for st in states if st.open_run is not None]
        if not started:
            ids = ", ".join(f"{r.key_type} {r.id} ({r.status})" for r in already)
            raise ConflictError(
                f"a sync run is already open: {ids}",
                current=already[0].status if already else "open",
            )
        return Response(
            Started([_run(r) for r in started], [_run(r) for r in already]), status_code=201
        )

    @get(
        "/{run_id:int}",
        operation_id="getSyncRun",
        guards=[requires("sync:read")],
        sync_to_thread=True,
    )
    def get_one(self, run_id: FromPath[int]) -> SyncRun:
        """A run: its progress, how its divergences ended, its history."""
        with db.pool().connection() as conn:
            return _run(_find(conn, run_id), conn)

    @get("/", operation_id="listSyncRuns", guards=[requires("sync:read")], sync_to_thread=True)
    def list_(
        self,
        key_type: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> SyncRunPage:
        """Runs, newest first; pass ``next_cursor`` back as ``cursor``."""
        one_of("key_type", key_type, KEY_TYPES)
        one_of("status", status, sync_run.SPEC.states)
        parts = pagination.decode_parts(cursor, 2)
        try:
            before = (datetime.fromisoformat(parts[0]), int(parts[1])) if parts else None
        except ValueError:
            raise ValidationFailed(
                [("cursor", "cursor", "not a cursor from a previous page")]
            ) from None
        with db.pool().connection() as conn:
            rows = sync_runs.page(
                conn, key_type=key_type, status=status, before=before, limit=limit + 1
            )
        items = rows[:limit]
        nxt = (
            pagination.encode_parts(items[-1].started_at.isoformat(), items[-1].id)
            if len(rows) > limit
            else None
        )
        return SyncRunPage([_run(r) for r in items], nxt)

    @get(
        "/{run_id:int}/divergences",
        operation_id="listSyncDivergences",
        guards=[requires("sync:read")],
        sync_to_thread=True,
    )
    def divergences(
        self,
        run_id: FromPath[int],
        outcome: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> DivergencePage:
        """What the run found, and what was done about each (docs/reconciliation.md)."""
        one_of("outcome", outcome, OUTCOMES)
        parts = pagination.decode_parts(cursor, 2)
        after = (parts[0], parts[1]) if parts else None
        with db.pool().connection() as conn:
            _find(conn, run_id)
            rows = sync_runs.divergences(
                conn, run_id, outcome=outcome, after=after, limit=limit + 1
            )
        items = rows[:limit]
        nxt = pagination.encode_parts(items[-1].side, items[-1].cid) if len(rows) > limit else None
        return DivergencePage([_divergence(d) for d in items], nxt)

    @post(
        "/{run_id:int}/approve",
        status_code=202,
        operation_id="approveSyncRun",
        guards=[requires("sync:write")],
        sync_to_thread=True,
    )
    def approve(
        self, request: Request[Any, Any, Any], run_id: FromPath[int], data: JSONBody[Decision]
    ) -> SyncRun:
        """Let a reconciliation above the threshold go ahead (the run is awaiting_approval)."""
        return self._decide(request, run_id, sync_run.approve, data.reason)

    @post(
        "/{run_id:int}/reject",
        status_code=202,
        operation_id="rejectSyncRun",
        guards=[requires("sync:write")],
        sync_to_thread=True,
    )
    def reject(
        self, request: Request[Any, Any, Any], run_id: FromPath[int], data: JSONBody[Decision]
    ) -> SyncRun:
        """Refuse a reconciliation above the threshold: the run ends, our base untouched."""
        return self._decide(request, run_id, sync_run.reject, data.reason)

    def _decide(
        self, request: Request[Any, Any, Any], run_id: int, decision: object, reason: str | None
    ) -> SyncRun:
        by = _caller(request)
        with outbox.step(actor=by, reason=reason) as s:
            _find(s.conn, run_id)
            decision(s, run_id, by, reason)  # type: ignore[operator]  # 409 unless awaiting_approval
            row = _find(s.conn, run_id)
        return _run(row)
