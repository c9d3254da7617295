"""The refund poll: pages, repeats, and a request it could not apply read again by id."""

from __future__ import annotations

from typing import Any

import pytest

from app import db
from tests.integration.claims.conftest import World
from tests.integration.refunds.conftest import ours_for, poll, they_ask, they_paid


def test_the_poll_pages_through_the_list_and_learns_each_request_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors import listing

    monkeypatch.setattr(listing, "PAGE", 2)
    dict_ids = [they_ask(world, they_paid(world, 40 + n)).id for n in range(5)]
    world.pass_time(6)
    assert poll() == 5
    assert {ours_for(d).status for d in dict_ids} == {"open"}
    assert len(world.events("refunds.received")) == 5


def test_a_request_that_failed_is_read_again_until_it_applies(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from statemachines import refund

    bad = they_ask(world, they_paid(world, 50)).id
    good = they_ask(world, they_paid(world, 51)).id
    learn = refund.learn

    def broken(step: Any, fields: Any, status: str) -> Any:
        if fields["dict_id"] == bad:
            raise ValueError("a request we cannot read")
        return learn(step, fields, status)

    monkeypatch.setattr(refund, "learn", broken)
    world.pass_time(6)
    poll()
    assert ours_for(good).status == "open"
    with db.pool().connection() as conn:
        failed = conn.execute("SELECT poller, dict_id FROM poll_failures").fetchall()
    assert failed == [{"poller": "refunds.contested", "dict_id": bad}]
    monkeypatch.setattr(refund, "learn", learn)
    world.pass_time(600)
    poll()
    assert ours_for(bad).status == "open"
    with db.pool().connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM poll_failures").fetchone() == {"n": 0}
