"""A second verification that meets a key moving at that instant (docs/reconciliation.md,
"A run in one paragraph"): verified again a minute later, not failed, in one process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app import db, outbox
from app.bridge import dict_bridge_pb2 as pb
from app.domain.fixtures import make_cpf
from statemachines import sync_run
from tests.integration.bridge.builders import OURS
from tests.integration.claims.conftest import World

FINISHED = ("ok", "failed", "rejected")


def _start(key_type: str = "PHONE") -> int:
    with outbox.step(actor="test") as s:
        (run,) = sync_run.start(s, [key_type], "requested")
    return run.id


def _run_until(world: World, run_id: int, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Run what is due, moving both clocks 20 s at a time (the CID file's polls wait on
    timers), until ``done`` says so of the run."""
    for _ in range(40):
        world.run_due()
        with db.pool().connection() as conn:
            found = conn.execute("SELECT * FROM sync_runs WHERE id = %s", [run_id]).fetchone()
        assert found is not None
        row = dict(found)
        if done(row) or row["status"] in FINISHED:
            return row
        world.pass_time(20)
    raise AssertionError(f"sync run {run_id} is still {row['status']}")


def _registering_at_the_dict_only(world: World, n: int) -> None:
    """One of our registrations whose CreateEntry the DICT has applied and whose answer
    our base has not taken yet: the key is in the DICT's VSync, not ours, for that moment."""
    from actors.entries import client, to_pb

    row = world.our_registering_key(n)
    request = pb.CreateEntryRequest(
        entry=to_pb(row), reason="USER_REQUESTED", request_id=str(row.request_id)
    )
    client().create_entry(request)  # as our register_entry would; its commit comes later


def _ours_at_the_dict() -> pb.Entry:
    e = pb.Entry(
        key_type="PHONE",
        key="+5521977777777",
        account=pb.Account(participant=OURS, branch="1", account_number="777", account_type="CACC"),
        owner=pb.Owner(type="NATURAL_PERSON", tax_id_number=make_cpf(77), name="Maria da Silva"),
    )
    e.account.opening_date.FromJsonString("2020-03-01T03:00:00Z")
    return e


def _verifications(monkeypatch: pytest.MonkeyPatch, before: dict[int, Any]) -> list[str]:
    """The DICT's answers to our verifications, in order; ``before[n]`` runs just before
    the n-th (from 1)."""
    from actors.entries import client  # the one DictClient of the process

    real = client().create_sync_verification
    answers: list[str] = []

    def verification(request: pb.CreateSyncVerificationRequest) -> pb.SyncVerification:
        if len(answers) + 1 in before:
            before[len(answers) + 1]()
        answer = real(request)
        answers.append(answer.result)
        return answer

    monkeypatch.setattr(client(), "create_sync_verification", verification)
    return answers


def test_a_key_registered_at_the_instant_of_the_second_verification_is_verified_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, gone, _ = world.our_key(1)
    world.admin.remove_entry(gone)  # a divergence for the run to repair from the file
    answers = _verifications(monkeypatch, {2: lambda: _registering_at_the_dict_only(world, 2)})

    run_id = _start()
    waiting = _run_until(world, run_id, lambda r: r["rechecks"] > 0)
    assert answers == ["NOK", "NOK"]
    assert waiting["status"] == "verifying" and waiting["rechecks"] == 1
    # meanwhile our registration took the DICT's answer: both sides agree again
    world.pass_time(61)
    run = _run_until(world, run_id, lambda r: False)

    assert answers == ["NOK", "NOK", "OK"]
    assert run["status"] == "ok" and run["verifications"] == 3 and run["rechecks"] == 1
    assert [e["run_id"] for e in world.events("sync.verified")] == [run_id]
    assert world.events("sync.failed") == []


def test_a_divergence_that_stays_fails_the_run_after_the_rechecks(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_RECHECKS", "2")
    from app import settings

    settings.reset()
    _, gone, _ = world.our_key(1)
    world.admin.remove_entry(gone)
    # after the repair the DICT holds a key of ours that our base never learns
    answers = _verifications(monkeypatch, {2: lambda: world.admin.put_entry(_ours_at_the_dict())})

    run = _run_until(world, _start(), lambda r: False)

    assert answers == ["NOK", "NOK", "NOK", "NOK"]
    assert run["status"] == "failed" and run["rechecks"] == 2 and run["verifications"] == 4
    assert run["problem"] == (
        "the DICT still answers NOK after the repair from its CID file"
        " and at 2 more verifications after it"
    )
    (failed,) = world.events("sync.failed")
    assert failed["run_id"] == run["id"] and failed["status"] == "failed"
