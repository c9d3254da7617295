"""The readings' monthly partitions: the daily maintenance makes this month and the next 3
ready and drops the months wholly older than RATE_LIMIT_RETENTION_MONTHS, with the clock
moved; idempotent, and safe with two schedulers at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import clock, db, settings
from app.repo import rate_limits
from app.repo.rate_limits import Reading
from tests.integration.partitions import attached

NOW = datetime(2031, 1, 15, 4, 17, tzinfo=UTC)


def partitions() -> list[str]:
    return attached("rate_limit_readings")


def read(at: datetime, available: int = 7) -> None:
    """A reading of CLAIMS_LIST_WITH_ROLE at ``at`` (the policy upserted first)."""
    r = Reading("CLAIMS_LIST_WITH_ROLE", None, "PSP", available, 200, 40, 60)
    with db.pool().connection() as conn, conn.transaction():
        rate_limits.record_policies(conn, [r], at)
        rate_limits.record_readings(conn, [r], at)


def stored() -> list[tuple[str, datetime]]:
    with db.pool().connection() as conn:
        return [
            (r["tableoid"], r["read_at"])
            for r in conn.execute(
                "SELECT tableoid::regclass::text AS tableoid, read_at FROM rate_limit_readings"
                " ORDER BY read_at"
            )
        ]


def maintain() -> None:
    from actors.spine import maintenance

    maintenance.fn()


def test_maintenance_makes_the_next_months_ready_and_drops_the_old(database_url: str) -> None:
    with clock.freeze(NOW - timedelta(days=500)):
        read(clock.now())  # 2029-09: older than 13 months by its whole month
    with clock.freeze(NOW - timedelta(days=370)):
        read(clock.now())  # 2030-01-10: within 13 months of 2031-01-15
    with clock.freeze(NOW):
        read(clock.now())  # no partition yet: kept in the default partition
        assert partitions() == ["rate_limit_readings_default"]
        maintain()
    assert partitions() == [
        "rate_limit_readings_default",
        "rate_limit_readings_y2031m01",
        "rate_limit_readings_y2031m02",
        "rate_limit_readings_y2031m03",
        "rate_limit_readings_y2031m04",
    ]
    assert stored() == [
        ("rate_limit_readings_default", NOW - timedelta(days=370)),
        ("rate_limit_readings_y2031m01", NOW),  # moved into its month
    ]

    with clock.freeze(NOW + timedelta(days=31)):  # the next day's run, a month on
        read(clock.now())
        maintain()
    assert partitions()[-2:] == ["rate_limit_readings_y2031m04", "rate_limit_readings_y2031m05"]
    assert stored()[-1] == ("rate_limit_readings_y2031m02", NOW + timedelta(days=31))

    with clock.freeze(NOW + timedelta(days=31 * 14)):  # 2032-03-20: January 2031 has gone
        maintain()
    names = partitions()
    assert "rate_limit_readings_y2031m01" not in names
    assert "rate_limit_readings_y2031m02" in names  # its month ended 13 months + 19 days ago
    assert [n for n in names if n >= "rate_limit_readings_y2032"] == [
        "rate_limit_readings_y2032m03",
        "rate_limit_readings_y2032m04",
        "rate_limit_readings_y2032m05",
        "rate_limit_readings_y2032m06",
    ]
    assert stored() == [("rate_limit_readings_y2031m02", NOW + timedelta(days=31))]


def test_the_retention_is_a_setting(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with clock.freeze(NOW):
        maintain()
    monkeypatch.setenv("RATE_LIMIT_RETENTION_MONTHS", "2")
    settings.reset()
    with clock.freeze(datetime(2031, 6, 1, 4, 17, tzinfo=UTC)):  # 2031-03 ended 2 months ago
        maintain()
    # 01-03 dropped, 04 kept (it ended 1 month ago), 06-09 made; no run in four months
    # left May without one (its readings would wait in the default partition).
    assert [p[-2:] for p in partitions() if p != "rate_limit_readings_default"] == [
        "04",
        "06",
        "07",
        "08",
        "09",
    ]


def test_it_is_idempotent_and_safe_with_two_schedulers(database_url: str) -> None:
    done: list[Any] = []

    def run() -> None:
        with db.pool().connection() as conn:
            done.extend(rate_limits.keep_partitions(conn, NOW, 13))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.partition_name for p in done) == [
        f"rate_limit_readings_y2031m0{m}" for m in (1, 2, 3, 4)
    ]
    with db.pool().connection() as conn:
        assert rate_limits.keep_partitions(conn, NOW, 13) == []
    assert len(partitions()) == 5
