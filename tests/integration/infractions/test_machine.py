"""The report machine's declarations agree with each other (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from statemachines.core import IllegalTrigger
from statemachines.infraction_report import CATCH_UP, SPEC, catch_up


@pytest.mark.parametrize("status", sorted(CATCH_UP))
def test_every_catch_up_is_a_path_the_machine_allows(status: str) -> None:
    edges = {(t, a): b for t, a, b in SPEC.edges()}
    for dict_status, triggers in CATCH_UP[status].items():
        at = status
        for trigger in triggers or ():
            assert (trigger, at) in edges, (status, dict_status, trigger)
            at = edges[trigger, at]
        if triggers:
            assert at == dict_status.lower(), (status, dict_status)


def test_the_dicts_final_status_is_reached_from_every_live_status() -> None:
    for status in SPEC.states:
        if status not in (*SPEC.terminal, "submitting"):
            assert catch_up(status, "CANCELLED") == ("cancelled",), status


def test_only_the_right_role_takes_each_decision() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    reporter: Any = SimpleNamespace(role="REPORTER", pending=None)
    counterparty: Any = SimpleNamespace(role="COUNTERPARTY", pending=None)
    with pytest.raises(IllegalTrigger):
        SPEC.fire("r1", "acknowledged", reporter, "close", now)
    with pytest.raises(IllegalTrigger):
        SPEC.fire("r1", "open", counterparty, "cancel", now)
    assert SPEC.fire("r1", "acknowledged", counterparty, "close", now).to_status == "closing"
    assert SPEC.fire("r1", "closed", reporter, "cancel", now).to_status == "cancelling"
