"""poll_rate_limits against the simulated DICT: one ListBucketStates, one reading per
policy in one transaction, each policy's level moved, and one event and one log line per
crossing (a bucket that stays below a threshold says nothing more)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest

from app import clock, db, outbox, settings
from app.bridge.client import DictClient
from app.repo import rate_limits
from simulator.buckets import PSP_POLICIES
from tests.integration.claims.conftest import World
from tests.integration.rate_limits.conftest import (
    SPENT,
    events,
    policy_row,
    poll,
    readings,
    spend,
)

CROSSED, RECOVERED = "rate_limits.threshold_crossed", "rate_limits.recovered"


def test_a_poll_stores_one_reading_per_policy_the_dict_reports(world: World) -> None:
    assert poll() == []
    with db.pool().connection() as conn:
        stored = {p.name: p for p in rate_limits.policies(conn)}
        total = conn.execute("SELECT count(*) AS n FROM rate_limit_readings").fetchone()
    assert set(stored) == set(PSP_POLICIES)
    assert total == {"n": len(PSP_POLICIES)}
    antiscan = stored["ENTRIES_READ_PARTICIPANT_ANTISCAN"]
    assert (antiscan.category, antiscan.scope, antiscan.capacity) == ("A", "PSP", 50_000)
    assert (antiscan.refill_tokens, antiscan.refill_period_s) == (25_000, 60)
    writes = stored["ENTRIES_WRITE"]
    assert (writes.category, writes.capacity, writes.available_tokens) == (None, 36_000, 36_000)
    assert (writes.warning_pct, writes.critical_pct, writes.level) == (25, 10, "ok")
    assert writes.last_read_at == clock.now()
    assert [r["read_at"] for r in readings("ENTRIES_WRITE")] == [clock.now()]
    assert events(CROSSED) == events(RECOVERED) == []


def test_a_crossing_is_reported_once_until_the_bucket_recovers(
    world: World, ours: DictClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors.rate_limits")
    poll()
    spend(ours, 40)  # 10 of 50 left: 20 %, at or below 25 %
    clock.advance(timedelta(minutes=1))
    (crossing,) = poll()
    assert (crossing.reading.name, crossing.reading.level, crossing.before.level) == (
        SPENT,
        "warning",
        "ok",
    )
    (crossed,) = events(CROSSED)
    assert crossed["policy"] == SPENT and crossed["level"] == "warning"
    assert crossed["previous_level"] == "ok" and crossed["capacity"] == 50
    assert 10 <= crossed["available"] <= 11 and 20 <= crossed["percent"] <= 22
    assert (crossed["warning_pct"], crossed["critical_pct"]) == (25, 10)
    assert policy_row(SPENT)["level"] == "warning"

    clock.advance(timedelta(minutes=1))
    assert poll() == []  # still below: nothing more
    assert len(events(CROSSED)) == 1 and events(RECOVERED) == []

    world.pass_time(600)  # 10 a minute: full again
    (back,) = poll()
    assert (back.reading.level, back.before.level) == ("ok", "warning")
    (recovered,) = events(RECOVERED)
    assert recovered["policy"] == SPENT and recovered["available"] == 50
    assert (recovered["level"], recovered["previous_level"]) == ("ok", "warning")
    assert len(events(CROSSED)) == 1
    assert len(readings(SPENT)) == 4
    lines = [r.getMessage() for r in caplog.records if r.name == "actors.rate_limits"]
    assert len(lines) == 2, lines
    assert f"{SPENT} is warning (ok -> warning)" in lines[0]
    assert f"{SPENT} recovered (warning -> ok)" in lines[1]


def test_each_policy_is_judged_by_its_own_thresholds(world: World, ours: DictClient) -> None:
    poll()
    with db.pool().connection() as conn:
        rate_limits.set_thresholds(conn, SPENT, 95, 91, clock.now())
    spend(ours, 5)  # 45 of 50: 90 %
    clock.advance(timedelta(minutes=1))
    (crossing,) = poll()
    assert (crossing.reading.name, crossing.reading.level) == (SPENT, "critical")
    (crossed,) = events(CROSSED)
    assert (crossed["level"], crossed["warning_pct"], crossed["critical_pct"]) == (
        "critical",
        95,
        91,
    )
    assert policy_row("ENTRIES_WRITE")["level"] == "ok"


def test_two_polls_at_once_report_a_crossing_once(world: World, ours: DictClient) -> None:
    poll()
    spend(ours, 46)  # 4 of 50: critical
    clock.advance(timedelta(minutes=1))
    found: list[Any] = []
    threads = [threading.Thread(target=lambda: found.extend(poll())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [c.reading.level for c in found] == ["critical"]
    assert [e["level"] for e in events(CROSSED)] == ["critical"]
    assert len(readings(SPENT)) == 2  # the second reading of the same instant is ignored


def test_the_cron_reads_every_rate_limit_poll_s(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors.rate_limits import poll_rate_limits

    def reads() -> int:
        return len(readings("ENTRIES_WRITE"))

    poll_rate_limits.fn()
    poll_rate_limits.fn()  # the same minute: nothing
    assert reads() == 1
    clock.advance(timedelta(minutes=1))
    poll_rate_limits.fn()
    assert reads() == 2

    monkeypatch.setenv("RATE_LIMIT_POLL_S", "300")
    settings.reset()
    for _ in range(4):  # 4 ticks after the last reading: not yet
        clock.advance(timedelta(minutes=1))
        poll_rate_limits.fn()
    assert reads() == 2
    clock.advance(timedelta(minutes=1))
    poll_rate_limits.fn()
    assert reads() == 3


def test_the_gauges_show_the_newest_reading(world: World, ours: DictClient) -> None:
    before = scrape()
    assert before[("dict_rate_limit_reading_age_seconds", ())] == -1
    assert not [k for k in before if k[1]]  # no policy yet
    spend(ours, 40)
    poll()
    clock.advance(timedelta(seconds=90))
    samples = scrape()
    label = (("policy", SPENT),)
    assert samples[("dict_rate_limit_reading_age_seconds", ())] == 90
    assert 10 <= samples[("dict_rate_limit_available_tokens", label)] <= 11
    assert samples[("dict_rate_limit_capacity", label)] == 50
    assert samples[("dict_rate_limit_utilisation", label)] == pytest.approx(0.8, abs=0.03)
    assert samples[("dict_rate_limit_level", label)] == 1
    assert samples[("dict_rate_limit_level", (("policy", "ENTRIES_WRITE"),))] == 0
    policies = {dict(k[1])["policy"] for k in samples if k[0] == "dict_rate_limit_capacity"}
    assert policies == set(PSP_POLICIES)


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in outbox.BacklogCollector().collect()
        if family.name.startswith("dict_rate_limit_")
        for s in family.samples
    }
