"""The DICT's token buckets, per policy and participant (or end user), on the
simulator's clock (DICT.md §4).

Policies and the bucket arithmetic are ``app.domain.buckets``: the same figures
our own limiter uses. A call is admitted while its bucket holds a whole token and
then charged its full cost once the outcome is known (a miss costs more), so a
bucket may go negative. Disabled (``rate_limits_enabled = False``) every method
returns at once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.domain.buckets import POLICY_NAMES, Policy, Scope, TokenBucket, policy
from simulator.clock import to_datetime
from simulator.common import own
from simulator.config import Participant
from simulator.entry_rules import key_type_of
from simulator.lookups import Lookup

if TYPE_CHECKING:
    from simulator.state import Simulator

PARTICIPANT_ANTISCAN = "ENTRIES_READ_PARTICIPANT_ANTISCAN"
policy = functools.cache(policy)  # a Policy per (name, category, person type), built once


def user_antiscan(key: str) -> str:
    """The per-user bucket a lookup of ``key`` draws on (info.description "Regras de
    contagem"): ENTRIES_READ_USER_ANTISCAN for EMAIL and PHONE keys, _V2 for CPF, CNPJ
    and EVP keys (and, [inferred], for a key of no known shape: it is a miss anyway)."""
    if key_type_of(key) in ("PHONE", "EMAIL"):
        return "ENTRIES_READ_USER_ANTISCAN"
    return "ENTRIES_READ_USER_ANTISCAN_V2"


def user_subject(ispb: str, payer_id: str) -> str:
    """Whose user bucket: one per (requesting participant, PI-PayerId)."""
    return f"user:{ispb}:{payer_id}"


def user_policy(name: str, payer_id: str) -> Policy:
    """The user policy ``name`` sized by the payer's kind: PI-PayerId of 11 digits is a
    person's CPF, of 14 a company's CNPJ (the only lengths a lookup is admitted with)."""
    person = "NATURAL_PERSON" if len(payer_id) == 11 else "LEGAL_PERSON"
    return policy(name, person_type=person)


@dataclass(slots=True)
class Ticket:
    """An admitted call: the bucket to charge once its outcome is known, and the
    instant it was admitted at (one clock read and one refill per call)."""

    bucket: TokenBucket
    at: datetime


class Limiter:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def _bucket(self, subject: str, p: Policy, now: datetime) -> TokenBucket:
        buckets = self.sim.state.buckets
        bucket = buckets.get((subject, p.name))
        if bucket is None:
            bucket = buckets[(subject, p.name)] = TokenBucket.full(p, now)
        return bucket

    def _now(self) -> datetime:
        return to_datetime(self.sim.now_us())

    def _admit(self, subject: str, p: Policy) -> Ticket:
        now = self._now()
        bucket = self._bucket(subject, p, now)
        if bucket.refill(now) < 1:
            raise problems.RateLimited(
                f"{p.name} bucket is empty", retry_after_s=bucket.seconds_until_available(now)
            )
        return Ticket(bucket, now)

    def policy(self, caller: Participant, name: str) -> Policy:
        """The participant's policy ``name``: its category's, unless the admin resized it."""
        p = policy(name, caller.category)
        size = self.sim.state.sizes.get((caller.ispb, name))
        if size is None:
            return p
        capacity, refill, period = size
        return Policy(p.name, p.scope, refill, period, capacity, p.costs)

    def resize(self, ispb: str, name: str, size: tuple[int, int, int]) -> None:
        self.sim.state.sizes[(ispb, name)] = size
        self.sim.state.buckets.pop((ispb, name), None)  # full at its new size

    def admit(self, caller: Participant, name: str) -> Ticket | None:
        """RateLimited unless the participant's bucket of ``name`` holds a token;
        None when rate limits are off."""
        if not self.sim.config.rate_limits_enabled:
            return None
        return self._admit(caller.ispb, self.policy(caller, name))

    def admit_user(self, caller: Participant, payer_id: str, name: str) -> Ticket | None:
        """The same for the payer's bucket ``name``: one per (requesting participant,
        PI-PayerId), sized by the payer's kind."""
        if not self.sim.config.rate_limits_enabled:
            return None
        return self._admit(user_subject(caller.ispb, payer_id), user_policy(name, payer_id))

    @staticmethod
    def settle(ticket: Ticket | None, cost: int) -> None:
        """Take the call's whole cost from the bucket that admitted it (may go negative)."""
        if ticket is not None:
            ticket.bucket.charge(cost, ticket.at)

    def credit(self, lookup: Lookup) -> None:
        """The payment ordered with ``lookup``'s E2E id was sent: give back each bucket the
        lookup drew on its policy's ``payment_credit`` (the payer's: +1 for a person, +2 for
        a company; the participant's ENTRIES_READ_PARTICIPANT_ANTISCAN: +1), never above
        capacity. Done even with rate limits off: a credit only ever refills."""
        now = self._now()
        caller = self.sim.participants[lookup.participant]
        payer = user_subject(caller.ispb, lookup.payer_id)
        for subject, p in (
            (caller.ispb, policy(PARTICIPANT_ANTISCAN, caller.category)),
            (payer, user_policy(lookup.policy, lookup.payer_id)),
        ):
            self._bucket(subject, p, now).credit(p.costs.payment_credit, now)

    def forget(self, ispb: str) -> None:
        """Drop a participant's buckets (its category changed: new sizes)."""
        for k in [k for k in self.sim.state.buckets if k[0] == ispb]:
            del self.sim.state.buckets[k]

    def state(self, caller: Participant, name: str) -> pb.BucketState:
        p = self.policy(caller, name)
        now = self._now()
        return pb.BucketState(
            name=name,
            available_tokens=math.floor(self._bucket(caller.ispb, p, now).refill(now)),
            capacity=p.capacity,
            refill_tokens=p.refill_tokens,
            refill_period_sec=p.refill_period_s,
        )


PSP_POLICIES = tuple(
    n
    for n in POLICY_NAMES
    if n not in ("ENTRIES_READ_USER_ANTISCAN", "ENTRIES_READ_USER_ANTISCAN_V2")
)


def list_bucket_states(
    sim: Simulator, caller: Participant, req: pb.ListBucketStatesRequest
) -> pb.ListBucketStatesResponse:
    own(caller, req.participant)
    return pb.ListBucketStatesResponse(
        category=caller.category, policies=[sim.buckets.state(caller, n) for n in PSP_POLICIES]
    )


def get_bucket_state(
    sim: Simulator, caller: Participant, req: pb.GetBucketStateRequest
) -> pb.GetBucketStateResponse:
    own(caller, req.participant)
    try:
        p = policy(req.policy, caller.category)
    except ValueError:
        raise problems.NotFound(f"no participant policy {req.policy!r}") from None
    if p.scope is not Scope.PSP:
        raise problems.NotFound(f"{req.policy} is a per-user policy")
    return pb.GetBucketStateResponse(
        category=caller.category, policy=sim.buckets.state(caller, req.policy)
    )
