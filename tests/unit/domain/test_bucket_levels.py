"""How near empty a bucket is, by a policy's thresholds; what the thresholds may be; how
a reading of the DICT is classified (app/domain/bucket_levels.py)."""

from __future__ import annotations

import pytest

from app.domain import bucket_levels as bl
from app.domain.buckets import POLICY_NAMES


@pytest.mark.parametrize(
    ("available", "capacity", "expected"),
    [
        (50, 50, "ok"),
        (13, 50, "ok"),  # 26 %
        (12.5, 50, "warning"),  # 25 %: at the threshold
        (6, 50, "warning"),  # 12 %
        (5, 50, "critical"),  # 10 %: at the threshold
        (0, 50, "critical"),
        (-15, 100, "critical"),  # in debt
    ],
)
def test_the_level_of_a_reading(available: float, capacity: int, expected: str) -> None:
    assert bl.level(available, capacity, 25, 10) == expected


def test_the_share_left() -> None:
    assert bl.percent_left(5, 20) == 25.0
    assert bl.percent_left(-15, 100) == -15.0
    assert bl.percent_left(3, 0) == 0.0  # no size: nothing left
    assert bl.SEVERITY == {"ok": 0, "warning": 1, "critical": 2}


def _rules(warning: float, critical: float, *given: str) -> list[tuple[str, str]]:
    return [(v.field, v.rule) for v in bl.threshold_violations(warning, critical, frozenset(given))]


def test_thresholds_must_be_ordered_inside_0_and_100() -> None:
    assert _rules(25, 10, "warning_pct", "critical_pct") == []
    assert _rules(99.9, 0.1, "warning_pct", "critical_pct") == []
    assert _rules(100, 10, "warning_pct") == [("warning_pct", "range")]
    assert _rules(25, 0, "critical_pct") == [("critical_pct", "range")]
    assert _rules(-1, 120, "warning_pct", "critical_pct") == [
        ("warning_pct", "range"),
        ("critical_pct", "range"),
    ]
    assert _rules(20, 20, "warning_pct", "critical_pct") == [("critical_pct", "below_warning")]
    assert _rules(25, 30, "critical_pct") == [("critical_pct", "below_warning")]
    assert _rules(8, 10, "warning_pct") == [("warning_pct", "above_critical")]
    message = bl.threshold_violations(8, 10, frozenset({"warning_pct"}))[0].message
    assert message == "must be above critical_pct (10)"


def test_the_category_is_read_leniently() -> None:
    assert bl.parse_category("A") == "A"
    assert bl.parse_category(" h ") == "H"  # G and H postdate v2.6.1's enum
    assert bl.parse_category("") is None
    assert bl.parse_category("AB") is None


def test_which_policies_the_category_sizes_and_their_scope() -> None:
    sized = {n for n in POLICY_NAMES if bl.category_of(n, "C") == "C"}
    assert sized == {"ENTRIES_READ_PARTICIPANT_ANTISCAN", "ENTRIES_STATISTICS_READ"}
    assert bl.category_of("NEW_POLICY", "C") is None
    users = {n for n in POLICY_NAMES if bl.scope_of(n) == "USER"}
    assert users == {"ENTRIES_READ_USER_ANTISCAN", "ENTRIES_READ_USER_ANTISCAN_V2"}
    assert bl.scope_of("NEW_POLICY") == "PSP"
