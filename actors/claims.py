"""Claims: our calls to the DICT for each claim, and what happens when one is refused.

The same rules as entries: re-read, act only in the expected status, no transaction
across the call, apply the answer guarded by the status it expects.

Nothing the DICT says is lost. A refused call goes back to the status it left, then
the claim is read again (GetClaim) and moved to whatever the DICT holds: the other
side may have won a race. A call that was a duty (a deadline's action, a completion)
is scheduled again until it succeeds or the DICT's state makes it moot; so is a call
refused as too early (``ClaimResolutionPeriodNotEnded``: the DICT's clock decides).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq

from actors.entries import client
from app import db, outbox, queue, settings
from app.bridge import dict_bridge_pb2 as pb
from app.domain import claims as rules
from app.domain import problems
from app.repo import claims
from app.repo.claims import ClaimRow
from statemachines import claim_steps as steps
from statemachines.claim import STABLE, duties, subject
from statemachines.core import IllegalTrigger

TOO_EARLY = (problems.ClaimResolutionPeriodNotEnded, problems.ClaimCompletionPeriodNotEnded)
RETRY_NOT_BEFORE = timedelta(minutes=2)
"""A refused duty is not repeated sooner than this, even if our clock says the period
has ended: the DICT's clock decides, and ours may run ahead of it."""
RETRY_AT_MOST = timedelta(hours=1)
"""The longest wait between two tries of a refused duty (the wait doubles each time)."""


def _ts(value: Any) -> datetime | None:
    return value.ToDatetime(tzinfo=UTC) if value.ByteSize() else None


def dict_fields(c: pb.Claim) -> dict[str, Any]:
    """What the DICT says of a claim, as the columns of ``claims``.

    The DICT sends no creation date: creation and day 30 are derived from its
    ``ResolutionPeriodEnd`` (``ClaimPeriods.from_dict``); the periods it does send are
    stored as it sent them.
    """
    resolution_end = _ts(c.resolution_period_end)
    completion_end = _ts(c.completion_period_end)
    periods = (
        rules.ClaimPeriods.from_dict(c.type, resolution_end, completion_end)
        if resolution_end
        else None
    )
    return {
        "dict_id": c.id,
        "dict_status": c.status,
        "dict_last_modified": _ts(c.last_modified),
        "donor_participant": c.donor_participant or None,
        "created_at": rules.created_from_resolution_end(resolution_end) if resolution_end else None,
        "resolution_period_end": resolution_end,
        "completion_period_end": completion_end,
        "day30_limit": periods.day30_limit if periods else None,
        "confirm_reason": c.confirm_reason or None,
        "cancel_reason": c.cancel_reason or None,
        "cancelled_by": c.cancelled_by or None,
    }


def _load(claim_id: str) -> ClaimRow | None:
    with db.pool().connection() as conn:
        return claims.get(conn, claim_id)


def get(s: outbox.Step, claim_id: Any) -> ClaimRow:
    row = claims.get(s.conn, claim_id)
    assert row is not None
    return row


def _apply(change: Callable[[outbox.Step], Any]) -> None:
    """Apply an answer (in a batch, in the batch's transaction: ``outbox.apply``); a
    concurrent delivery or a poll that got there first is success."""
    outbox.apply(change, moot=(IllegalTrigger,))


def _account(row: ClaimRow) -> pb.Account:
    account = pb.Account(
        participant=row.claimer_participant,
        branch=row.claimer_branch or "",
        account_number=row.claimer_account_number,
        account_type=row.claimer_account_type,
    )
    account.opening_date.FromDatetime(row.claimer_opening_date)
    return account


def _dict_id(row: ClaimRow) -> str:
    """The DICT's id of a claim past ``submitting`` (a CHECK constraint guarantees it)."""
    if row.dict_id is None:
        raise LookupError(f"claim {row.id} has no DICT id yet")
    return row.dict_id


def read_claim(dict_id: str) -> pb.Claim:
    """The claim as the DICT holds it now."""
    return client().get_claim(pb.GetClaimRequest(claim_id=dict_id)).claim


def _refused(row: ClaimRow, trigger: str, exc: problems.DictProblem) -> None:
    """Go back with the DICT's refusal, move to what the DICT holds, schedule the duty
    again. GetClaim comes first: if it fails the actor is retried and nothing changed."""
    fresh = read_claim(_dict_id(row))
    fields = dict_fields(fresh)
    claim_id = row.id

    def change(s: outbox.Step) -> None:
        steps.fire(s, claim_id, trigger, reason=exc.type, problem=(exc.type, exc.detail))
        steps.observe(s, get(s, claim_id), fresh.status, fields)
        again(s, claim_id, row.pending or {}, trigger.removesuffix("_refused"), exc)

    _apply(change)


def again(
    s: outbox.Step,
    claim_id: Any,
    pending: Mapping[str, Any],
    operation: str,
    exc: problems.DictProblem | None,
) -> None:
    """Schedule a refused or failed call again when it was owed: a deadline's action
    (``claim_deadline``), a completion, or a call the DICT found too early (``claim_retry``).
    A decision a user asked for and the DICT refused is not repeated: the claim shows
    the DICT's problem and the user decides."""
    row = get(s, claim_id)
    if row.status not in STABLE:
        return  # the DICT's state made it moot (or settled it)
    attempt = int(pending.get("attempt") or 0) + 1
    not_before = s.now + min(RETRY_NOT_BEFORE * 2 ** (attempt - 1), RETRY_AT_MOST)
    deadline = pending.get("deadline")
    if deadline:
        due = [d.at for d in duties(row) if d.name == deadline]
        at = max([not_before, *(d + timedelta(seconds=1) for d in due)])
        s.add([_timer("claim_deadline", at, claim_id, attempt, deadline=deadline)])
    elif isinstance(exc, TOO_EARLY) or operation == "complete":
        s.add(
            [
                _timer(
                    "claim_retry",
                    not_before,
                    claim_id,
                    attempt,
                    operation=operation,
                    reason=pending.get("reason"),
                )
            ]
        )


def _timer(actor: str, at: datetime, claim_id: Any, attempt: int, **args: Any) -> outbox.Effect:
    return outbox.timer(
        actor,
        at,
        dedupe_key=f"claim:{claim_id}:{actor}:{attempt}",
        subject=subject(claim_id),
        claim_id=str(claim_id),
        attempt=attempt,
        **args,
    )


def _call(row: ClaimRow, refuse: str, call: Callable[[], Any]) -> pb.Claim | None:
    """The DICT's answer, or None after handling its refusal. Transport failures, 5xx and
    rate limits raise: Dramatiq retries the same call (the calls are idempotent)."""
    try:
        return call().claim  # type: ignore[no-any-return]
    except problems.DictProblem as exc:
        if exc.retryable and not isinstance(exc, TOO_EARLY):
            raise
        refusal = exc
    _refused(row, refuse, refusal)
    return None


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def create_claim(claim_id: str) -> None:
    """CreateClaim for our claim in ``submitting``."""
    row = _load(claim_id)
    if row is None or row.status != "submitting":
        return
    request = pb.CreateClaimRequest(
        type=row.type,
        key=row.key,
        key_type=row.key_type,
        claimer_account=_account(row),
        claimer=pb.Owner(
            type=row.claimer_type,
            tax_id_number=row.claimer_tax_id,
            name=row.claimer_name,
            trade_name=row.claimer_trade_name or "",
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
        _apply(lambda s: steps.fire(s, claim_id, "submit_refused", problem=problem))
        return
    _apply(lambda s: steps.apply(s, claim_id, "submitted", **dict_fields(answer)))


def _ours_already(row: ClaimRow) -> pb.Claim | None:
    """The open claim on this key that we are the claimer of, if the DICT holds one."""
    after = pb.ListClaimsRequest(
        participant=settings.bridge().participant,
        is_claimer=True,
        status=["OPEN", "WAITING_RESOLUTION"],
        limit=200,
    )
    after.modified_after.FromDatetime(row.inserted_at - timedelta(minutes=5))
    for c in client().list_claims(after).claims:
        account = c.claimer_account.account_number
        if c.key == row.key and account == row.claimer_account_number and not _known(c.id):
            return c
    return None


def _known(dict_id: str) -> bool:
    """Whether a claim of ours already carries this DICT id (then it is not a lost answer)."""
    with db.pool().connection() as conn:
        return bool(claims.by_dict_id(conn, dict_id, "CLAIMER"))


def acknowledge(claim_id: str) -> None:
    """Donor: AcknowledgeClaim for a claim in ``open`` (the homologation wants it in 1
    min). Run by ``acknowledge_claim``, the task each donor claim is learned with, and
    by the poller for an open one whose task died (actors/polling.py); AcknowledgeClaim
    is idempotent, and a claim already acknowledged is left alone. A refusal means the
    claim moved on (the claimer cancelled): read it and follow."""
    row = _load(claim_id)
    if row is None or row.status != "open" or row.role != "DONOR":
        return
    request = pb.AcknowledgeClaimRequest(
        claim_id=_dict_id(row), participant=settings.bridge().participant
    )
    try:
        answer = client().acknowledge_claim(request).claim
    except problems.DictProblem as exc:
        if exc.retryable:
            raise
        answer = read_claim(_dict_id(row))
    fields = dict_fields(answer)
    _apply(lambda s: steps.observe(s, get(s, claim_id), answer.status, fields))


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def acknowledge_claim(claim_id: str) -> None:
    """``acknowledge`` as an actor: the task a donor claim is learned with, and an
    operator's ``ops.request('claim', id, 'acknowledge')``."""
    acknowledge(claim_id)


def _request(operation: str, row: ClaimRow) -> Any:
    """The DICT request for our call in flight: ConfirmClaim and CancelClaim with the
    reason waiting in ``pending``, CompleteClaim with the RequestId stored on the claim."""
    ours = {"claim_id": _dict_id(row), "participant": settings.bridge().participant}
    if operation == "complete":
        return pb.CompleteClaimRequest(**ours, request_id=str(row.completion_request_id))
    request = pb.ConfirmClaimRequest if operation == "confirm" else pb.CancelClaimRequest
    return request(**ours, reason=steps.pending_reason(row))


def _decision(claim_id: str, operation: str) -> None:
    """Make the call waiting in ``confirming``/``cancelling``/``completing``; apply the
    DICT's answer or its refusal."""
    row = _load(claim_id)
    in_flight = {"confirm": "confirming", "cancel": "cancelling", "complete": "completing"}
    if row is None or row.status != in_flight[operation]:
        return
    request = _request(operation, row)
    call = getattr(client(), f"{operation}_claim")
    answer = _call(row, f"{operation}_refused", lambda: call(request))
    if answer is not None:
        fields = dict_fields(answer)
        _apply(lambda s: steps.observe(s, get(s, claim_id), answer.status, fields))


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def confirm_claim(claim_id: str) -> None:
    """Donor: ConfirmClaim with the reason waiting in ``pending``."""
    _decision(claim_id, "confirm")


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def cancel_claim(claim_id: str) -> None:
    """Either role: CancelClaim with the reason waiting in ``pending``."""
    _decision(claim_id, "cancel")


@dramatiq.actor(queue_name="dict", **queue.OUTAGES_ONLY)
def complete_claim(claim_id: str) -> None:
    """Claimer: CompleteClaim with the RequestId stored on the claim."""
    _decision(claim_id, "complete")
