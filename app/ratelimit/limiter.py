"""Our limiter of the DICT's buckets (DICT.md §4, MO8 §13.2: "keep an internal limiter at
least as strict as the DICT's, so that no query reaches a 429").

Every call the workers make to the DICT takes a token from our copy of the bucket its
policy draws on, before it leaves (``DictClient._call``). The copies live in Redis, one
per policy, shared by every worker and API process and changed only by the script of
``app.ratelimit.buckets``: refill continuously at the DICT's rate, admit while a whole
token is left. "Every non-500 response costs 1" (DICT.md §4): only a 500 the DICT
answered gives its token back. A timeout, a lost answer or a bridge that could not be
reached keeps it spent, since the DICT may have applied and charged the call (a repeat
with the same RequestId is charged again); so does a 429. Our copy errs low, never high,
and refills.

The buckets' sizes are the DICT's: its latest reading of each policy (``observe``, from
the bucket poll) when there is one, else ``app.domain.buckets`` for our category. A
reading also lowers our copy to what the DICT says is left (never raises it): calls made
outside this process group, or lost answers the DICT charged, are counted then.

A call our copy refuses raises ``LimiterWait`` with the seconds until a token: the
worker puts its outbox row back to wait that long (``actors/limits.py``), it does not
sleep. Key lookups keep their own anti-scan buckets (``app.lookups``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from app import clock
from app.bridge.client import Limits
from app.domain import buckets as domain
from app.domain.buckets import Policy, Scope
from app.ratelimit.buckets import APPLY, now_ms

log = logging.getLogger(__name__)

KEY = "dict-connect:ratelimit:{}"
MARGIN = 0.98
"""Our copies refill at 98 % of the DICT's rate: a token we admit at the instant it
appears must also be there at the DICT, whose clock and bucket may lag ours by a few
milliseconds (measured: 1 call in 60 refused without a margin, none with it)."""
SIZES = "dict-connect:ratelimit:sizes"
SIZES_TTL_S = 5.0
"""Hash policy -> "capacity,refill tokens,refill period s" as the DICT last reported."""


def _listing(with_role: str, without_role: str, *roles: str) -> Callable[[Any], str]:
    """A list operation: the WITH_ROLE policy when the request filters by our role."""

    def policy(request: Any) -> str:
        filtered = any(bool(getattr(request, r, False)) for r in roles)
        return with_role if filtered else without_role

    return policy


POLICY_OF: dict[str, str | Callable[[Any], str]] = {
    # DICT.md §4 "Other policies"; each operation's policy as the API v2.6.1 names it.
    "CreateEntry": "ENTRIES_WRITE",
    "UpdateEntry": "ENTRIES_UPDATE",
    "DeleteEntry": "ENTRIES_WRITE",
    "CheckKeys": "KEYS_CHECK",
    "CreateClaim": "CLAIMS_WRITE",
    "GetClaim": "CLAIMS_READ",
    "ListClaims": _listing(
        "CLAIMS_LIST_WITH_ROLE", "CLAIMS_LIST_WITHOUT_ROLE", "is_donor", "is_claimer"
    ),
    "AcknowledgeClaim": "CLAIMS_WRITE",
    "ConfirmClaim": "CLAIMS_WRITE",
    "CancelClaim": "CLAIMS_WRITE",
    "CompleteClaim": "CLAIMS_WRITE",
    "CreateSyncVerification": "SYNC_VERIFICATIONS_WRITE",
    "CreateCidSetFile": "CIDS_FILES_WRITE",
    "GetCidSetFile": "CIDS_FILES_READ",
    "ListCidSetEvents": "CIDS_EVENTS_LIST",
    "GetEntryByCid": "CIDS_ENTRIES_READ",
    "CreateInfractionReport": "INFRACTION_REPORTS_WRITE",
    "GetInfractionReport": "INFRACTION_REPORTS_READ",
    "ListInfractionReports": _listing(
        "INFRACTION_REPORTS_LIST_WITH_ROLE",
        "INFRACTION_REPORTS_LIST_WITHOUT_ROLE",
        "is_reporter",
        "is_counterparty",
    ),
    "AcknowledgeInfractionReport": "INFRACTION_REPORTS_WRITE",
    "CloseInfractionReport": "INFRACTION_REPORTS_WRITE",
    "CancelInfractionReport": "INFRACTION_REPORTS_WRITE",
    "UpdateInfractionReport": "INFRACTION_REPORTS_WRITE",
    "CreateFraudMarker": "FRAUD_MARKERS_WRITE",
    "GetFraudMarker": "FRAUD_MARKERS_READ",
    "CancelFraudMarker": "FRAUD_MARKERS_WRITE",
    "CreateRefund": "REFUNDS_WRITE",
    "GetRefund": "REFUNDS_READ",
    "ListRefunds": _listing(
        "REFUNDS_LIST_WITH_ROLE", "REFUNDS_LIST_WITHOUT_ROLE", "participant_role"
    ),
    "CloseRefund": "REFUNDS_WRITE",
    "CancelRefund": "REFUNDS_WRITE",
    "ListBucketStates": "POLICIES_LIST",
    "GetBucketState": "POLICIES_READ",
}
"""The bucket each RPC draws on. Absent: no policy (a CID file download is an HTTPS
transfer) or the lookups' own buckets (GetEntry)."""


def policy_name(rpc: str, request: Any) -> str | None:
    found = POLICY_OF.get(rpc)
    return found(request) if callable(found) else found


class Limiter:
    """Our copies of the DICT's buckets, for the policies our calls draw on."""

    def __init__(self, client: redis.Redis, category: str) -> None:
        self.redis = client
        self.category = category
        self._apply = client.register_script(APPLY)
        self._sizes: dict[str, tuple[float, Policy]] = {}  # name -> (read at, policy)

    def policy(self, name: str) -> Policy:
        """The policy as the DICT last reported it, else as the spec sizes it; read from
        Redis at most every ``SIZES_TTL_S`` per process (sizes change once a poll)."""
        cached = self._sizes.get(name)
        if cached is not None and time.monotonic() - cached[0] < SIZES_TTL_S:
            return cached[1]
        found = self._read_policy(name)
        self._sizes[name] = (time.monotonic(), found)
        return found

    def _read_policy(self, name: str) -> Policy:
        said = self.redis.hget(SIZES, name)
        if said:
            text = said.decode() if isinstance(said, bytes) else str(said)
            capacity, refill, period = (int(v) for v in text.split(","))
            return Policy(name, Scope.PSP, refill, period, capacity)
        return domain.policy(name, self.category)

    def _run(self, mode: str, name: str, amount: float, now: datetime) -> list[bytes]:
        p = self.policy(name)
        refill = p.refill_tokens * MARGIN
        spec = f"{p.capacity},{refill},{p.refill_period_s * 1000},{amount}"
        result: list[bytes] = self._apply([KEY.format(name)], [mode, now_ms(now), spec])
        return result

    def take(self, rpc: str, request: Any, now: datetime | None = None) -> float:
        """Take a token for this call: 0.0, or the seconds until our copy holds one
        (nothing taken). A call without a policy is never held."""
        name = policy_name(rpc, request)
        if name is None:
            return 0.0
        result = self._run("admit", name, 1, now or clock.now())
        return 0.0 if int(result[0]) == 1 else int(result[1]) / 1000

    def give_back(self, rpc: str, request: Any, now: datetime | None = None) -> None:
        """The DICT answered 500: the call cost nothing."""
        name = policy_name(rpc, request)
        if name is not None:
            self._run("credit", name, 1, now or clock.now())

    def tokens(self, name: str, now: datetime | None = None) -> float:
        """What our copy of ``name`` holds now."""
        return float(self._run("credit", name, 0, now or clock.now())[1])

    def observe(
        self,
        name: str,
        available: int,
        capacity: int,
        refill_tokens: int,
        refill_period_s: int,
        now: datetime | None = None,
    ) -> None:
        """The DICT's reading of a policy: its sizes become ours, and our copy holds at
        most what the DICT says is left."""
        if capacity <= 0 or refill_tokens <= 0 or refill_period_s <= 0:
            log.warning("ignoring the DICT's reading of %s: sizes %s", name, capacity)
            return
        self.redis.hset(SIZES, name, f"{capacity},{refill_tokens},{refill_period_s}")
        self._sizes.pop(name, None)
        self._run("lower", name, available, now or clock.now())


def observe_states(limiter: Limits, states: Any) -> int:
    """Each policy of a ListBucketStates answer (``pb.BucketState``): ``observe``.
    Returns how many were taken."""
    seen = 0
    for state in states:
        limiter.observe(
            state.name,
            state.available_tokens,
            state.capacity,
            state.refill_tokens,
            state.refill_period_sec,
        )
        seen += 1
    return seen
