"""Racing decisions on one claim through the API: one wins, every other one is a 409.

Our user's confirm and cancel are checked against the claim as it is under its row lock,
the same lock the transition takes. A decision that loses (another one got there first,
or the DICT already moved the claim on) is a 409 saying the status the claim is in now,
never a 422 about a reason that was fine a moment earlier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from litestar.testing import TestClient

from app import db
from app.api.app import create_app
from app.security import create_api_key
from tests.integration.claims.conftest import World

RACERS = 25


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[TestClient[Any]]:
    from app.api import auth

    auth.cache.clear()
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(conn, "claims-race", ["claims:read", "claims:write"])
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    auth.cache.clear()


def _donor_portability_waiting(world: World, n: int) -> str:
    """A PORTABILITY claim on a key of ours, acknowledged: its donor (us) may confirm
    (USER_REQUESTED) or cancel (USER_REQUESTED) now."""
    _, key, tax_id = world.our_key(n)
    theirs = world.they_claim(key, "PORTABILITY", tax_id)
    world.poll()
    ours = world.ours_for(theirs.id)
    assert ours["status"] == "waiting_resolution"
    return str(ours["id"])


def _decide(api: TestClient[Any], claim_id: str, operation: str) -> Any:
    return api.post(f"/v1/claims/{claim_id}/{operation}", json={"reason": "USER_REQUESTED"})


def _race(calls: list[Callable[[], Any]], worker: Callable[[], None]) -> list[Any]:
    """Run ``calls`` at once (released together, each a few ms after the one before)
    while ``worker`` runs what they leave in the outbox, as a worker would."""
    start, done = threading.Barrier(len(calls)), threading.Event()

    def call(n: int) -> Any:
        start.wait()
        time.sleep(n * 0.01)  # later racers find the claim moved on further
        return calls[n]()

    def work() -> None:
        while not done.is_set():
            worker()
            time.sleep(0.005)

    working = threading.Thread(target=work)
    working.start()
    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = list(pool.map(call, range(len(calls))))
    finally:
        done.set()
        working.join()
    return answers


def _the_rest_are_409s_saying_the_claim_moved_on(world: World, answers: list[Any]) -> Any:
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [202] + [409] * (len(answers) - 1), [r.text for r in answers]
    (won,) = [r for r in answers if r.status_code == 202]
    for r in answers:
        if r.status_code == 409:
            problem = r.json()
            assert problem["type"] == "https://dict-connect/problems/conflict"
            assert problem["current"] != "waiting_resolution"
            assert f"is {problem['current']}" in problem["detail"]
    return won


def test_one_confirm_racing_25_cancels_one_wins_and_the_rest_get_409(
    world: World, api: TestClient[Any]
) -> None:
    claim_id = _donor_portability_waiting(world, 1)
    calls = [lambda: _decide(api, claim_id, "confirm")]
    calls += [lambda: _decide(api, claim_id, "cancel")] * RACERS

    answers = _race(calls, world.run_due)

    won = _the_rest_are_409s_saying_the_claim_moved_on(world, answers)
    world.run_due()
    final = world.claim(claim_id)["status"]
    assert final == ("confirmed" if won is answers[0] else "cancelled")
    history = [t for t, _ in world.history(claim_id)]
    assert history.count("confirm") + history.count("cancel") == 1


def test_25_confirms_racing_one_cancel_one_wins_and_the_rest_get_409(
    world: World, api: TestClient[Any]
) -> None:
    claim_id = _donor_portability_waiting(world, 2)
    calls = [lambda: _decide(api, claim_id, "confirm")] * RACERS
    calls += [lambda: _decide(api, claim_id, "cancel")]

    answers = _race(calls, world.run_due)

    _the_rest_are_409s_saying_the_claim_moved_on(world, answers)
    history = [t for t, _ in world.history(claim_id)]
    assert history.count("confirm") + history.count("cancel") == 1


def test_a_cancel_after_the_dict_confirmed_is_a_409_not_a_422_about_the_reason(
    world: World, api: TestClient[Any]
) -> None:
    """The reason was allowed when the user chose it; the claim moved on since."""
    claim_id = _donor_portability_waiting(world, 3)
    assert _decide(api, claim_id, "confirm").status_code == 202
    world.run_due()  # the DICT confirms
    assert world.claim(claim_id)["status"] == "confirmed"

    with ThreadPoolExecutor(RACERS) as pool:
        late = list(pool.map(lambda _: _decide(api, claim_id, "cancel"), range(RACERS)))

    assert {r.status_code for r in late} == {409}, late[0].text
    assert late[0].json()["current"] == "confirmed"
    assert "is confirmed" in late[0].json()["detail"]


def test_a_reason_the_rules_refuse_now_is_still_a_422_naming_it(
    world: World, api: TestClient[Any]
) -> None:
    claim_id = _donor_portability_waiting(world, 4)

    r = api.post(f"/v1/claims/{claim_id}/cancel", json={"reason": "RECONCILIATION"})

    assert r.status_code == 422
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("reason", "claim_reason")]
    assert world.claim(claim_id)["status"] == "waiting_resolution"
