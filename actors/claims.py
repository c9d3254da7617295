"""Claims: our calls to the DICT for each claim, its deadlines, and polling the list.

The same rules as entries: re-read, act only in the expected status, no transaction
across the call, apply the answer guarded by the status it expects. A DICT refusal
that says "too early" (ClaimResolutionPeriodNotEnded, ClaimCompletionPeriodNotEnded)
sends the claim back and schedules the call again for the instant the DICT gives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq

from actors.entries import client
from app import db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import claims as rules
from app.domain import problems
from statemachines import claim
from statemachines.core import IllegalTrigger

log = logging.getLogger(__name__)

TOO_EARLY = (problems.ClaimResolutionPeriodNotEnded, problems.ClaimCompletionPeriodNotEnded)
RETRY_NOT_BEFORE = timedelta(minutes=2)
"""A too-early call is not repeated sooner than this, even if our clock says the period
has ended: the DICT's clock decides, and ours may run ahead of it."""


def _ts(value: Any) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if value.ByteSize() else None


def dict_fields(c: pb.Claim) -> dict[str, Any]:
    """What the DICT says of a claim, as the columns of ``claims``."""
    created = _ts(c.creation_date)
    return {
        "day30_limit": rules.day30_limit(created) if created else None,
        "dict_id": c.id,
        "dict_status": c.status,
        "dict_last_modified": _ts(c.last_modified),
        "donor_participant": c.donor_participant or None,
        "created_at": _ts(c.creation_date),
        "resolution_period_end": _ts(c.resolution_period_end),
        "completion_period_end": _ts(c.completion_period_end),
        "confirm_reason": c.confirm_reason or None,
        "cancel_reason": c.cancel_reason or None,
        "cancelled_by": c.cancelled_by or None,
    }


def _load(claim_id: str) -> dict[str, Any] | None:
    with db.pool().connection() as conn:
        return conn.execute(db.q("claims.get"), {"id": claim_id}).fetchone()


def _apply(claim_id: str, change: Callable[[outbox.Step], Any]) -> None:
    """Apply an answer; a concurrent delivery or a poll that got there first is success."""
    try:
        with outbox.step(actor="worker") as s:
            change(s)
    except IllegalTrigger as exc:
        log.info("claim %s already moved on (%s)", claim_id, exc.current)


def _account(row: Mapping[str, Any]) -> pb.Account:
    account = pb.Account(
        participant=row["claimer_participant"],
        branch=row["claimer_branch"] or "",
        account_number=row["claimer_account_number"],
        account_type=row["claimer_account_type"],
    )
    account.opening_date.FromDatetime(row["claimer_opening_date"])
    return account


def _refused(claim_id: str, trigger: str, exc: problems.DictProblem) -> None:
    """Send the claim back with the DICT's refusal; a too-early call is made again at the
    instant the period ends (the DICT's own, read back with GetClaim)."""
    row = _load(claim_id)
    reason = claim.pending_reason(row) if row else ""
    at = _period_end(row, exc) if row and isinstance(exc, TOO_EARLY) else None

    def change(s: outbox.Step) -> None:
        claim.fire(s, claim_id, trigger, reason=exc.type, problem=(exc.type, exc.detail))
        if at is not None:
            s.add(
                [
                    outbox.timer(
                        "claim_retry",
                        max(at + timedelta(seconds=1), s.now + RETRY_NOT_BEFORE),
                        dedupe_key=f"claim:{claim_id}:retry",
                        subject=claim.subject(claim_id),
                        claim_id=claim_id,
                        operation=trigger.removesuffix("_refused"),
                        reason=reason or None,
                    )
                ]
            )

    _apply(claim_id, change)


def _period_end(row: Mapping[str, Any], exc: problems.DictProblem) -> datetime:
    """When the period the DICT says has not ended does end, by the DICT's own values."""
    fresh = client().get_claim(pb.GetClaimRequest(claim_id=row["dict_id"])).claim
    fields = dict_fields(fresh)
    if isinstance(exc, problems.ClaimCompletionPeriodNotEnded) and fields["completion_period_end"]:
        return fields["completion_period_end"]
    return fields["resolution_period_end"] or claim.periods(row).resolution_end


def _call(claim_id: str, refuse: str, call: Callable[[], Any]) -> Any | None:
    try:
        return call()
    except problems.DictProblem as exc:
        if exc.retryable and not isinstance(exc, TOO_EARLY):
            raise
        refusal = exc
    _refused(claim_id, refuse, refusal)
    return None


@dramatiq.actor(queue_name="dict")
def create_claim(claim_id: str) -> None:
    """CreateClaim for our claim in ``submitting``."""
    row = _load(claim_id)
    if row is None or row["status"] != "submitting":
        return
    request = pb.CreateClaimRequest(
        type=row["type"],
        key=row["key"],
        key_type=row["key_type"],
        claimer_account=_account(row),
        claimer=pb.Owner(
            type=row["claimer_type"],
            tax_id_number=row["claimer_tax_id"],
            name=row["claimer_name"],
            trade_name=row["claimer_trade_name"] or "",
        ),
    )
    refusal: problems.DictProblem | None = None
    try:
        answer: pb.Claim | None = client().create_claim(request).claim
    except problems.ClaimAlreadyExistsForKey as exc:
        answer = _ours_already(row)  # our earlier try succeeded but its answer was lost
        refusal = exc
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        answer, refusal = None, exc
    if answer is None:
        assert refusal is not None
        problem = (refusal.type, refusal.detail)
        _apply(claim_id, lambda s: claim.fire(s, claim_id, "submit_refused", problem=problem))
        return
    _apply(claim_id, lambda s: claim.apply(s, claim_id, "submitted", **dict_fields(answer)))


def _ours_already(row: Mapping[str, Any]) -> pb.Claim | None:
    """The open claim on this key that we are the claimer of, if the DICT holds one."""
    after = pb.ListClaimsRequest(
        participant=settings.bridge().participant,
        is_claimer=True,
        status=["OPEN", "WAITING_RESOLUTION"],
        limit=200,
    )
    after.modified_after.FromDatetime(row["inserted_at"] - timedelta(minutes=5))
    for c in client().list_claims(after).claims:
        account = c.claimer_account.account_number
        if c.key == row["key"] and account == row["claimer_account_number"] and not _known(c.id):
            return c
    return None


def _known(dict_id: str) -> bool:
    """Whether a claim of ours already carries this DICT id (then it is not a lost answer)."""
    with db.pool().connection() as conn:
        return (
            conn.execute(
                db.q("claims.get_by_dict_id"), {"dict_id": dict_id, "role": "CLAIMER"}
            ).fetchone()
            is not None
        )


def acknowledge(claim_id: str) -> None:
    """Donor: AcknowledgeClaim for a claim in ``open`` (the homologation wants it in 1
    min). Called by the poller for every donor claim it finds open (actors/polling.py);
    AcknowledgeClaim is idempotent, and a claim already acknowledged is left alone."""
    row = _load(claim_id)
    if row is None or row["status"] != "open" or row["role"] != "DONOR":
        return
    answer = (
        client()
        .acknowledge_claim(
            pb.AcknowledgeClaimRequest(
                claim_id=row["dict_id"], participant=settings.bridge().participant
            )
        )
        .claim
    )
    _apply(claim_id, lambda s: claim.observe(s, row, answer.status, dict_fields(answer)))


@dramatiq.actor(queue_name="dict")
def confirm_claim(claim_id: str) -> None:
    """Donor: ConfirmClaim with the reason waiting in ``pending``."""
    row = _load(claim_id)
    if row is None or row["status"] != "confirming":
        return
    request = pb.ConfirmClaimRequest(
        claim_id=row["dict_id"],
        reason=claim.pending_reason(row),
        participant=settings.bridge().participant,
    )
    answer = _call(claim_id, "confirm_refused", lambda: client().confirm_claim(request))
    if answer is not None:
        fields = dict_fields(answer.claim)
        _apply(claim_id, lambda s: claim.apply(s, claim_id, "confirmed", **fields))


@dramatiq.actor(queue_name="dict")
def cancel_claim(claim_id: str) -> None:
    """Either role: CancelClaim with the reason waiting in ``pending``."""
    row = _load(claim_id)
    if row is None or row["status"] != "cancelling":
        return
    request = pb.CancelClaimRequest(
        claim_id=row["dict_id"],
        reason=claim.pending_reason(row),
        participant=settings.bridge().participant,
    )
    answer = _call(claim_id, "cancel_refused", lambda: client().cancel_claim(request))
    if answer is not None:
        fields = dict_fields(answer.claim)
        _apply(claim_id, lambda s: claim.apply(s, claim_id, "cancelled", **fields))


@dramatiq.actor(queue_name="dict")
def complete_claim(claim_id: str) -> None:
    """Claimer: CompleteClaim with the RequestId stored on the claim."""
    row = _load(claim_id)
    if row is None or row["status"] != "completing":
        return
    request = pb.CompleteClaimRequest(
        claim_id=row["dict_id"],
        request_id=str(row["completion_request_id"]),
        participant=settings.bridge().participant,
    )
    answer = _call(claim_id, "complete_refused", lambda: client().complete_claim(request))
    if answer is not None:
        fields = dict_fields(answer.claim)
        _apply(claim_id, lambda s: claim.apply(s, claim_id, "completed", **fields))
