"""What the infraction poll does for items it could not apply, and for reports against us
left open: nothing waits for the list to show them again."""

from __future__ import annotations

from typing import Any

import pytest

from app import db
from tests.integration.claims.conftest import World
from tests.integration.infractions.conftest import ours_for, poll, they_report


def _failures() -> list[dict[str, Any]]:
    with db.pool().connection() as conn:
        return conn.execute("SELECT poller, dict_id, error, attempts FROM poll_failures").fetchall()


def test_a_report_that_failed_is_recorded_and_read_again_after_the_overlap(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from statemachines import infraction_report

    bad = they_report(world, 31).id
    learn = infraction_report.learn

    def broken(step: Any, fields: Any, status: str) -> Any:
        if fields["dict_id"] == bad:
            raise ValueError("a report we cannot read")
        return learn(step, fields, status)

    monkeypatch.setattr(infraction_report, "learn", broken)
    poll()
    assert _failures() == [
        {
            "poller": "infraction_reports.counterparty",
            "dict_id": bad,
            "error": "ValueError",
            "attempts": 1,
        }
    ]
    world.pass_time(600)  # far past the overlap: the list will not show it again
    poll()
    assert _failures()[0]["attempts"] == 2  # read again by id, failed again
    monkeypatch.setattr(infraction_report, "learn", learn)
    world.pass_time(60)
    poll()
    assert ours_for(bad).status == "acknowledging"
    assert _failures() == []


def test_a_report_left_open_is_acknowledged_by_a_later_poll(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgement was never asked for (or the DICT refused it and the report went
    back to open): two minutes on, the poll asks again, without the list's help."""
    from statemachines import infraction_report

    dict_id = they_report(world, 32).id
    monkeypatch.setattr(infraction_report, "request", lambda *a, **k: None)
    poll()
    world.pass_time(60)
    newer = they_report(world, 33).id  # the cursor moves past the first report
    world.pass_time(6)
    poll()
    assert (ours_for(dict_id).status, ours_for(newer).status) == ("open", "open")
    monkeypatch.undo()
    world.pass_time(60)
    poll()  # the list shows only the newer report now; the first is too recent to chase
    assert (ours_for(dict_id).status, ours_for(newer).status) == ("open", "acknowledging")
    world.pass_time(120)
    poll()
    assert ours_for(dict_id).status == "acknowledging"
    world.run_due()
    assert ours_for(dict_id).status == "acknowledged"
