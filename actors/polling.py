"""Polling the DICT's claim list: the only way to learn what the other side did.

Every 15 s (a cron tick each minute sends a poll now and three delayed ones) we list
claims where we are donor or claimer, modified after our cursor minus an overlap
(the list lags writes by up to 5 s and repeats items), and dedupe by (id,
LastModified). A new donor claim is recorded and acknowledged by the poll itself,
right after its page commits, many calls at a time; every poll also acknowledges the
donor claims an earlier poll left open (a failed call, a crash). A change the other
side made moves our claim's machine.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import dramatiq
from periodiq import cron

from actors.claims import acknowledge, client, dict_fields
from actors.spine import claim_slot, cron_slot
from app import clock, db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from statemachines import claim

log = logging.getLogger(__name__)

CURSOR = "claims"
OVERLAP = timedelta(seconds=30)
FIRST_LOOK_BACK = timedelta(days=31)  # a claim lives at most 30 days
PAGE = 200
MAX_PAGES = 200


ACK_CALLS = 16
"""AcknowledgeClaim calls in flight at once during a poll: a burst of thousands of
claims must be acknowledged within a minute of appearing (docs/benchmarks.md)."""
ACK_SWEEP = 10_000
"""Open donor claims left by earlier polls acknowledged per poll, at most."""

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


@dramatiq.actor(queue_name="poll", max_retries=3, min_backoff=1000, max_backoff=5000)
def poll_claims() -> int:
    """One pass over every page modified since the cursor; returns claims seen.

    One poller at a time (a session advisory lock): a poll still busy with a burst
    when the next one starts would only repeat its work.
    """
    with db.pool().connection() as lock:
        got = lock.execute(db.q("claims.try_poll_lock")).fetchone()
        if not (got and got["locked"]):
            return 0
        try:
            return _poll()
        finally:
            lock.execute(db.q("claims.poll_unlock"))


def _poll() -> int:
    with db.pool().connection() as conn:
        row = conn.execute(db.q("claims.cursor"), {"name": CURSOR}).fetchone()
        left_open = conn.execute(db.q("claims.open_donor"), {"limit": ACK_SWEEP}).fetchall()
    since = row["modified_after"] - OVERLAP if row else clock.now() - FIRST_LOOK_BACK
    seen = 0
    with ThreadPoolExecutor(ACK_CALLS, thread_name_prefix="acknowledge") as calls:
        acks = [calls.submit(acknowledge, str(r["id"])) for r in left_open]
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
            newest, learned = apply_page(list(page.claims))
            acks += [
                calls.submit(acknowledge, str(r["id"]))
                for r in learned
                if r["role"] == "DONOR" and r["status"] == "open"
            ]
            seen += len(page.claims)
            if not page.has_more_elements or newest <= since:
                break
            since = newest  # inclusive: the last items come again and are deduped
    _report(acks)
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


def apply_page(claims: list[pb.Claim]) -> tuple[Any, list[dict[str, Any]]]:
    """Apply one page in one transaction; advance the cursor. Returns the newest
    LastModified and the claims learned (new to us).

    Claims new to us are inserted together; a change to one we hold moves its machine
    inside a savepoint, so one bad claim cannot lose the page.
    """
    ours = settings.bridge().participant
    newest = max(dict_fields(c)["dict_last_modified"] for c in claims)
    with outbox.step(actor="poller") as s:
        held = {
            (r["dict_id"], r["role"]): r
            for r in s.conn.execute(db.q("claims.lock_many"), {"dict_ids": [c.id for c in claims]})
        }
        live = {
            r["key"]: r["id"]
            for r in s.conn.execute(
                db.q("entries.live_ids_by_keys"), {"keys": [c.key for c in claims]}
            )
        }
        new: list[tuple[dict[str, Any], str]] = []
        for c in claims:
            fields = dict_fields(c)
            for role in _roles(c, ours):
                row = held.get((c.id, role))
                if row is None:
                    if role == "CLAIMER" and _adopt_submitted(s, c, fields):
                        continue
                    new.append(({**_learned_fields(c, role, live), **fields}, c.status.lower()))
                elif _changed(row, c.status, fields):
                    with s.conn.transaction():
                        claim.observe(s, row, c.status, fields)
        learned = claim.learn(s, new)
        s.conn.execute(
            db.q("claims.save_cursor"), {"name": CURSOR, "modified_after": newest, "now": s.now}
        )
    return newest, learned


def _roles(c: pb.Claim, ours: str) -> list[str]:
    return [
        role
        for role, isp in (
            ("DONOR", c.donor_participant),
            ("CLAIMER", c.claimer_account.participant),
        )
        if isp == ours
    ]


def _changed(row: dict[str, Any], status: str, fields: dict[str, Any]) -> bool:
    """False when the overlap window repeats what we saw already."""
    last, now_seen = row["dict_last_modified"], fields["dict_last_modified"]
    return not (row["dict_status"] == status and last and now_seen and last >= now_seen)


def _adopt_submitted(s: outbox.Step, c: pb.Claim, fields: dict[str, Any]) -> bool:
    """Our own claim whose CreateClaim answer was lost: attach the DICT's id to it."""
    row = s.conn.execute(db.q("claims.submitting_for_key"), {"key": c.key}).fetchone()
    if row is None:
        return False
    claim.apply(s, row["id"], "submitted", **fields)
    if c.status != "OPEN":
        fresh = s.conn.execute(db.q("claims.get"), {"id": row["id"]}).fetchone()
        assert fresh is not None
        claim.observe(s, fresh, c.status, fields)
    return True


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
