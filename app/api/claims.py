"""/v1/claims: portability and ownership claims, as claimer and as donor.

As claimer a POST submits a claim; as donor claims arrive by polling. Decisions
(confirm, cancel, possession validated) are checked against the DICT's rules for our
role, type, status and the claim's periods (``app.domain.claims``) before anything
is stored, on the claim as locked for the transition (``claim_steps.decide``): of a
confirm and cancels racing on one claim exactly one wins and the others get 409 with
the status the claim is in now.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from app import db, outbox
from app.api import pagination
from app.api.auth import requires
from app.api.entries import AccountIn, OwnerIn, _check_participant, _domain_account, _domain_owner
from app.api.errors import ConflictError, NotFoundError, ValidationFailed, one_of
from app.api.history import Change, history
from app.domain import keys
from app.domain.claims import ClaimType
from app.repo import claims
from app.repo.claims import ClaimRow
from statemachines import claim
from statemachines import claim_steps as steps

CLAIM_TYPES = tuple(t.value for t in ClaimType)


class ClaimCreate(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    key_type: str
    key: str
    account: AccountIn
    owner: OwnerIn


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class Deadlines(msgspec.Struct):
    resolution_period_end: datetime | None
    completion_period_end: datetime | None
    day30_limit: datetime | None


class Action(msgspec.Struct):
    actor: str
    at: datetime
    deadline: str | None
    status: str


class Claim(msgspec.Struct):
    id: uuid.UUID
    dict_id: str | None
    role: str
    type: str
    key: str
    key_type: str
    status: str
    dict_status: str | None
    donor_participant: str | None
    claimer_participant: str
    deadlines: Deadlines
    possession_validated_at: datetime | None
    confirm_reason: str | None
    cancel_reason: str | None
    cancelled_by: str | None
    problem_type: str | None
    problem_detail: str | None
    anomaly: str | None
    entry_id: uuid.UUID | None
    created_at: datetime | None
    updated_at: datetime
    next_actions: list[Action] | None = None
    history: list[Change] | None = None


class ClaimPage(msgspec.Struct):
    items: list[Claim]
    next_cursor: str | None


def _claim(row: ClaimRow, conn: db.Conn | None = None) -> Claim:
    view = Claim(
        id=row.id,
        dict_id=row.dict_id,
        role=row.role,
        type=row.type,
        key=row.key,
        key_type=row.key_type,
        status=row.status,
        dict_status=row.dict_status,
        donor_participant=row.donor_participant,
        claimer_participant=row.claimer_participant,
        deadlines=Deadlines(row.resolution_period_end, row.completion_period_end, row.day30_limit),
        possession_validated_at=row.possession_validated_at,
        confirm_reason=row.confirm_reason,
        cancel_reason=row.cancel_reason,
        cancelled_by=row.cancelled_by,
        problem_type=row.problem_type,
        problem_detail=row.problem_detail,
        anomaly=row.anomaly,
        entry_id=row.entry_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
    if conn is not None:
        view.next_actions = [
            Action(a.actor, a.deliver_at, a.args.get("deadline"), a.status)
            for a in claims.next_actions(conn, claim.subject(row.id))
        ]
        view.history = history(conn, "claim", str(row.id))
    return view


def _find(conn: db.Conn, claim_id: uuid.UUID) -> ClaimRow:
    row = claims.get(conn, claim_id)
    if row is None:
        raise NotFoundError("claim", str(claim_id))
    return row


class ClaimController(Controller):
    path = "/v1/claims"
    tags = ["claims"]

    @post(
        "/",
        status_code=202,
        operation_id="createClaim",
        guards=[requires("claims:write")],
        sync_to_thread=True,
    )
    def create(self, data: JSONBody[ClaimCreate]) -> Response[Claim]:
        """Claim a key held elsewhere for our customer (as claimer)."""
        if data.type not in CLAIM_TYPES:
            raise ValidationFailed([("type", "one_of", "PORTABILITY or OWNERSHIP")])
        _check_participant(data.account)
        key = keys.validate_entry(
            data.key_type,
            data.key,
            _domain_account(data.account),
            _domain_owner(data.owner),
            creating=False,
        )
        if not keys.claimable(data.key_type, data.type):
            raise ValidationFailed(
                [
                    (
                        "key_type",
                        "claimable",
                        f"a {data.key_type} key cannot be claimed by {data.type}",
                    )
                ]
            )
        a, o = data.account, data.owner
        with outbox.step(actor="api") as s:
            row = steps.submit(
                s,
                {
                    "type": data.type,
                    "key": key,
                    "key_type": data.key_type,
                    "claimer_participant": a.participant,
                    "claimer_branch": a.branch,
                    "claimer_account_number": a.account_number,
                    "claimer_account_type": a.account_type,
                    "claimer_opening_date": a.opening_date,
                    "claimer_type": o.type,
                    "claimer_tax_id": o.tax_id,
                    "claimer_name": o.name,
                    "claimer_trade_name": o.trade_name,
                },
            )
        return Response(_claim(row), status_code=202, headers={"Location": f"/v1/claims/{row.id}"})

    @get(
        "/{claim_id:uuid}",
        operation_id="getClaim",
        guards=[requires("claims:read")],
        sync_to_thread=True,
    )
    def get_one(self, claim_id: FromPath[uuid.UUID]) -> Claim:
        """A claim with its deadlines, the next scheduled action and its history."""
        with db.pool().connection() as conn:
            return _claim(_find(conn, claim_id), conn)

    @get("/", operation_id="listClaims", guards=[requires("claims:read")], sync_to_thread=True)
    def list_(
        self,
        role: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        type: FromQuery[str | None] = None,
        key: FromQuery[str | None] = None,
        deadline_before: FromQuery[datetime | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> ClaimPage:
        """Claims in arrival order; pass ``next_cursor`` back as ``cursor``."""
        one_of("role", role, ("CLAIMER", "DONOR"))
        one_of("status", status, claim.SPEC.states)
        one_of("type", type, CLAIM_TYPES)
        after = pagination.decode(cursor)
        filters = {
            "role": role,
            "status": status,
            "type": type,
            "key": key,
            "deadline_before": deadline_before,
        }
        with db.pool().connection() as conn:
            rows = claims.page(conn, filters, after, limit + 1)
        items, nxt = pagination.cut(rows, limit, lambda r: (r.inserted_at, r.id))
        return ClaimPage([_claim(r) for r in items], nxt)

    @post(
        "/{claim_id:uuid}/confirm",
        status_code=202,
        operation_id="confirmClaim",
        guards=[requires("claims:write")],
        sync_to_thread=True,
    )
    def confirm(self, claim_id: FromPath[uuid.UUID], data: JSONBody[Decision]) -> Claim:
        """Donor: our customer agrees to give the key up."""
        return self._decide(claim_id, "confirm", data.reason)

    @post(
        "/{claim_id:uuid}/cancel",
        status_code=202,
        operation_id="cancelClaim",
        guards=[requires("claims:write")],
        sync_to_thread=True,
    )
    def cancel(self, claim_id: FromPath[uuid.UUID], data: JSONBody[Decision]) -> Claim:
        """Either role: cancel with a reason the rules allow for our role now."""
        return self._decide(claim_id, "cancel", data.reason)

    @post(
        "/{claim_id:uuid}/possession-validated",
        status_code=202,
        operation_id="possessionValidated",
        guards=[requires("claims:write")],
        sync_to_thread=True,
    )
    def possession_validated(self, claim_id: FromPath[uuid.UUID]) -> Claim:
        """Ownership claimer: our customer proved possession; complete when allowed."""
        with outbox.step(actor="api") as s:
            row = _find(s.conn, claim_id)
            ours = row.role == "CLAIMER" and row.type == "OWNERSHIP"
            if not ours or row.status in claim.TERMINAL:
                raise ConflictError(
                    "possession is validated for an open OWNERSHIP claim of ours (as claimer)",
                    current=row.status,
                    allowed=[],
                )
            row = claims.validate_possession(s.conn, claim_id, s.now) or row
            steps.complete_if_due(s, row)
            row = _find(s.conn, claim_id)
        return _claim(row)

    def _decide(self, claim_id: uuid.UUID, operation: str, reason: str) -> Claim:
        """409 unless the claim, as locked, allows ``operation`` now; 422 for a reason
        the rules refuse now (``claim_steps.decide``)."""
        with outbox.step(actor="api") as s:
            _find(s.conn, claim_id)  # 404 for a claim that does not exist
            steps.decide(s, claim_id, operation, reason)
            row = _find(s.conn, claim_id)
        return _claim(row)
