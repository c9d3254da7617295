"""How near empty a DICT bucket of ours is, as our thresholds judge it (docs/rate_limits.md).

The DICT reports each of our buckets (``ListBucketStates``: tokens left, capacity,
refill); we call a bucket ``warning`` when the tokens left are at most ``warning_pct``
% of its capacity and ``critical`` at most ``critical_pct`` %, thresholds we keep per
policy (0 < critical < warning < 100). A bucket may go negative (DICT.md §4): that is
critical. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from enum import StrEnum

from app.domain.buckets import POLICY_NAMES, Scope, policy
from app.domain.keys import Violation

__all__ = [
    "DEFAULT_CRITICAL_PCT",
    "DEFAULT_WARNING_PCT",
    "SEVERITY",
    "Level",
    "category_of",
    "level",
    "parse_category",
    "percent_left",
    "scope_of",
    "threshold_violations",
]

DEFAULT_WARNING_PCT = 25.0
DEFAULT_CRITICAL_PCT = 10.0
"""The thresholds a policy starts with (the columns' defaults, migration 0017)."""


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY: dict[str, int] = {Level.OK: 0, Level.WARNING: 1, Level.CRITICAL: 2}
"""The gauge ``dict_rate_limit_level``'s value of each level."""


def percent_left(available: float, capacity: float) -> float:
    """The tokens left as a % of capacity (negative when the bucket is)."""
    return 100.0 * available / capacity if capacity > 0 else 0.0


def level(available: float, capacity: float, warning_pct: float, critical_pct: float) -> Level:
    """``critical`` at or below ``critical_pct`` % left, ``warning`` at or below
    ``warning_pct`` %, else ``ok``."""
    left = percent_left(available, capacity)
    if left <= critical_pct:
        return Level.CRITICAL
    if left <= warning_pct:
        return Level.WARNING
    return Level.OK


def threshold_violations(
    warning_pct: float, critical_pct: float, given: frozenset[str]
) -> list[Violation]:
    """What is wrong with the thresholds a policy would have; ``given``: the fields the
    request sets (an order broken by one field alone names that field)."""
    found = [
        Violation(field, "range", "a percentage of capacity above 0 and below 100")
        for field, value in (("warning_pct", warning_pct), ("critical_pct", critical_pct))
        if field in given and not 0 < value < 100
    ]
    if found or critical_pct < warning_pct:
        return found
    if "critical_pct" in given:
        message = f"must be below warning_pct ({warning_pct:g})"
        return [Violation("critical_pct", "below_warning", message)]
    message = f"must be above critical_pct ({critical_pct:g})"
    return [Violation("warning_pct", "above_critical", message)]


_CATEGORY = re.compile(r"^[A-Z]$")


def parse_category(raw: str) -> str | None:
    """The participant's category from a DICT answer, read leniently (v2.6.1's enum
    still says A–F; G and H exist since MO v7.1): a single letter, else None."""
    value = raw.strip().upper()
    return value if _CATEGORY.match(value) else None


def _sized_by_category(name: str) -> bool:
    try:
        policy(name)
    except ValueError:  # needs a category (or a person type: a per-user policy)
        try:
            return policy(name, "A").capacity != policy(name, "H").capacity
        except ValueError:
            return False
    return False


def category_of(name: str, category: str | None) -> str | None:
    """The category a reading of ``name`` is sized by: ``category`` for the policies the
    participant's category sizes, None for the others (fixed, or unknown to us)."""
    return category if name in POLICY_NAMES and _sized_by_category(name) else None


def scope_of(name: str) -> str:
    """USER or PSP, as ``app.domain.buckets`` says; PSP for a policy it does not know
    (the DICT lists only the participant's buckets)."""
    try:
        return str(policy(name, "A", "NATURAL_PERSON").scope)
    except ValueError:
        return str(Scope.PSP)
