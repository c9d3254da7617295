"""The DICT's rate-limit policies as data, and the token bucket they run on (DICT.md §4).

A PSP must keep its own limiter at least as strict as the DICT's so that no call
meets a 429; the simulator runs the DICT's side with the same figures. Figures follow
API v2.6.1 and Manual v8.0; where they disagree the API's are used, and the older or
conflicting ones are noted beside them.

Time is passed in (aware datetimes): nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.keys import KeyType, PersonType

__all__ = [
    "CATEGORIES",
    "CATEGORIES_V1_8_0",
    "POLICY_NAMES",
    "Costs",
    "Policy",
    "Scope",
    "TokenBucket",
    "policy",
    "user_antiscan_policy_name",
]


class Scope(StrEnum):
    USER = "USER"  # one bucket per end user (keyed by PI-PayerId)
    PSP = "PSP"  # one bucket per participant


@dataclass(frozen=True, slots=True)
class Costs:
    """What a response takes from the bucket, and what a later payment gives back."""

    success: int = 1
    not_found: int = 1  # anti-scan policies make a miss expensive
    payment_credit: int = 0  # credited when the pacs.008 with the same E2E id is sent

    def of(self, http_status: int) -> int:
        """5xx responses never cost; a 429 was refused by the bucket, so it took nothing."""
        if http_status >= 500 or http_status == 429:
            return 0
        return self.not_found if http_status == 404 else self.success


@dataclass(frozen=True, slots=True)
class Policy:
    """One DICT policy, shaped like its bucket state (``RefillTokens``, ``RefillPeriodSec``)."""

    name: str
    scope: Scope
    refill_tokens: int
    refill_period_s: int
    capacity: int
    costs: Costs = Costs()

    def cost(self, http_status: int) -> int:
        return self.costs.of(http_status)


_MINUTE, _DAY = 60, 86_400

CATEGORIES: dict[str, tuple[int, int]] = {
    # category: (refill per minute, bucket size). MO v7.1 added G and H. [S26][MO8 §13.1]
    "A": (25_000, 50_000),
    "B": (20_000, 40_000),
    "C": (15_000, 30_000),
    "D": (8_000, 16_000),
    "E": (2_500, 5_000),
    "F": (250, 500),
    "G": (25, 250),
    "H": (2, 50),
}
CATEGORIES_V1_8_0: dict[str, tuple[int, int]] = {
    "A": (12_000, 20_000),
    "B": (8_000, 15_000),
    "C": (2_000, 8_000),
    "D": (500, 4_000),
    "E": (50, 3_000),
    "F": (2, 1_000),
}

# Policies sized by the participant's category: name -> costs.
_BY_CATEGORY: dict[str, Costs] = {
    "ENTRIES_READ_PARTICIPANT_ANTISCAN": Costs(success=1, not_found=3, payment_credit=1),
    "ENTRIES_STATISTICS_READ": Costs(),
}

# Policies per end user, sized by the payer's person type (v2.6.1; v1.8.0 had PF figures
# and a +1 credit for both). PHONE/EMAIL lookups use the first, CPF/CNPJ/EVP the _V2.
_BY_PERSON_TYPE: dict[str, dict[str, tuple[int, int, Costs]]] = {
    name: {
        PersonType.NATURAL_PERSON: (2, 100, Costs(success=1, not_found=20, payment_credit=1)),
        PersonType.LEGAL_PERSON: (20, 1_000, Costs(success=1, not_found=20, payment_credit=2)),
    }
    for name in ("ENTRIES_READ_USER_ANTISCAN", "ENTRIES_READ_USER_ANTISCAN_V2")
}

# The rest: every non-5xx response costs 1. name -> (refill tokens, period s, bucket).
_FIXED: dict[str, tuple[int, int, int]] = {
    "ENTRIES_WRITE": (1_200, _MINUTE, 36_000),  # MO8 §14 says 800/min, 1,200 [L]
    "ENTRIES_UPDATE": (600, _MINUTE, 600),
    "CLAIMS_READ": (600, _MINUTE, 18_000),
    "CLAIMS_WRITE": (1_200, _MINUTE, 36_000),
    "CLAIMS_LIST_WITH_ROLE": (40, _MINUTE, 200),
    "CLAIMS_LIST_WITHOUT_ROLE": (10, _MINUTE, 50),
    "SYNC_VERIFICATIONS_WRITE": (10, _MINUTE, 50),
    "CIDS_FILES_WRITE": (40, _DAY, 200),
    "CIDS_FILES_READ": (10, _MINUTE, 50),
    "CIDS_EVENTS_LIST": (20, _MINUTE, 100),  # MO8 says 40/min, 200 [L]
    "CIDS_ENTRIES_READ": (1_200, _MINUTE, 36_000),
    "INFRACTION_REPORTS_READ": (600, _MINUTE, 18_000),
    "INFRACTION_REPORTS_WRITE": (1_200, _MINUTE, 36_000),
    "INFRACTION_REPORTS_LIST_WITH_ROLE": (40, _MINUTE, 200),
    "INFRACTION_REPORTS_LIST_WITHOUT_ROLE": (10, _MINUTE, 50),
    "REFUNDS_READ": (1_200, _MINUTE, 36_000),
    "REFUNDS_WRITE": (2_400, _MINUTE, 72_000),
    "REFUNDS_LIST_WITH_ROLE": (40, _MINUTE, 200),
    "REFUNDS_LIST_WITHOUT_ROLE": (10, _MINUTE, 50),
    "FRAUD_MARKERS_READ": (600, _MINUTE, 18_000),
    "FRAUD_MARKERS_WRITE": (1_200, _MINUTE, 36_000),
    "FRAUD_MARKERS_LIST": (600, _MINUTE, 18_000),
    "PERSONS_STATISTICS_READ": (12_000, _MINUTE, 36_000),
    "POLICIES_READ": (60, _MINUTE, 200),
    "POLICIES_LIST": (6, _MINUTE, 20),
    "KEYS_CHECK": (70, _MINUTE, 70),
}

POLICY_NAMES: tuple[str, ...] = (*_BY_PERSON_TYPE, *_BY_CATEGORY, *_FIXED)


def policy(name: str, category: str | None = None, person_type: str | None = None) -> Policy:
    """The policy ``name``; category (A–H) and person type are needed only where they size it.

    Raises ValueError for an unknown name or a missing or unknown variant.
    """
    if name in _BY_PERSON_TYPE:
        if person_type not in _BY_PERSON_TYPE[name]:
            raise ValueError(f"{name} needs person_type NATURAL_PERSON or LEGAL_PERSON")
        refill, capacity, costs = _BY_PERSON_TYPE[name][person_type]
        return Policy(name, Scope.USER, refill, _MINUTE, capacity, costs)
    if name in _BY_CATEGORY:
        if category not in CATEGORIES:
            raise ValueError(f"{name} needs a participant category, one of {', '.join(CATEGORIES)}")
        refill, capacity = CATEGORIES[category]
        return Policy(name, Scope.PSP, refill, _MINUTE, capacity, _BY_CATEGORY[name])
    if name in _FIXED:
        refill, period, capacity = _FIXED[name]
        return Policy(name, Scope.PSP, refill, period, capacity)
    raise ValueError(f"unknown DICT policy {name!r}")


def user_antiscan_policy_name(key_type: str) -> str:
    """Which per-user lookup bucket a key's lookup draws on (DICT.md §4 "getEntry counting")."""
    if key_type in (KeyType.PHONE, KeyType.EMAIL):
        return "ENTRIES_READ_USER_ANTISCAN"
    return "ENTRIES_READ_USER_ANTISCAN_V2"


@dataclass(slots=True)
class TokenBucket:
    """A bucket that refills continuously and may go negative (MO8 §13.1).

    A request is let through while the bucket holds at least one whole token; then its
    full cost is taken, so a PF with 5 tokens that gets a 404 (cost 20) is left at −15
    and, refilling 2 a minute, waits 8 minutes. An empty or negative bucket refuses.
    """

    capacity: float
    refill_tokens: float
    refill_period_s: float
    tokens: float
    updated_at: datetime

    @classmethod
    def full(cls, p: Policy, now: datetime) -> TokenBucket:
        """A bucket for ``p`` at capacity, as the DICT starts one."""
        return cls(p.capacity, p.refill_tokens, p.refill_period_s, p.capacity, now)

    def available(self, now: datetime) -> float:
        """The tokens at ``now``, without changing the bucket."""
        elapsed = (now - self.updated_at).total_seconds()
        if elapsed <= 0 or self.tokens >= self.capacity:
            return self.tokens  # a clock that stepped back never refills
        gained = elapsed * self.refill_tokens / self.refill_period_s
        return min(self.capacity, self.tokens + gained)

    def refill(self, now: datetime) -> float:
        """Bring the bucket up to ``now``; returns the tokens held."""
        if now > self.updated_at:
            self.tokens, self.updated_at = self.available(now), now
        return self.tokens

    def take(self, cost: float, now: datetime) -> bool:
        """Let one request through if at least one token is left, taking its whole cost."""
        if self.refill(now) < 1:
            return False
        self.tokens -= cost
        return True

    def charge(self, cost: float, now: datetime) -> None:
        """Take tokens after the fact, e.g. the rest of a 404's cost once the answer is known."""
        self.refill(now)
        self.tokens -= cost

    def credit(self, n: float, now: datetime) -> None:
        """Give tokens back (a lookup followed by its payment), never above capacity."""
        self.refill(now)
        self.tokens = min(self.capacity, self.tokens + n)

    def seconds_until_available(self, now: datetime) -> float:
        """How long until ``take`` would succeed; 0 if it would now."""
        missing = 1 - self.available(now)
        if missing <= 0:
            return 0.0
        return missing * self.refill_period_s / self.refill_tokens
