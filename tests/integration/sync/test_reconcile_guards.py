"""What reconciliation refuses to do on its own (docs/reconciliation.md), in one process."""

from __future__ import annotations

from typing import Any

import pytest

from app import db
from app.bridge import dict_bridge_pb2 as pb
from statemachines import sync_run
from tests.integration.bridge.builders import OURS
from tests.integration.claims.conftest import World


def _start(key_type: str = "PHONE") -> int:
    from app import outbox

    with outbox.step(actor="test") as s:
        (run,) = sync_run.start(s, [key_type], "requested")
    return run.id


def _run(world: World, run_id: int) -> dict[str, Any]:
    for _ in range(20):  # file polls and rechecks wait on timers: move time until it ends
        world.run_due()
        with db.pool().connection() as conn:
            row = conn.execute("SELECT * FROM sync_runs WHERE id = %s", [run_id]).fetchone()
        if row["status"] in ("ok", "failed", "rejected", "awaiting_approval"):
            return dict(row)
        world.pass_time(20)
    raise AssertionError(f"sync run {run_id} did not end: {row['status']}")


def _divergences(run_id: int) -> list[tuple[str, str, str | None]]:
    with db.pool().connection() as conn:
        return [
            (r["side"], r["outcome"], r["detail"])
            for r in conn.execute(
                "SELECT side, outcome, detail FROM sync_divergences WHERE run_id = %s"
                " ORDER BY side",
                [run_id],
            )
        ]


def test_a_key_whose_dict_attributes_we_cannot_take_is_neither_changed_nor_removed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry_id, key, tax_id = world.our_key(1)
    moved = pb.Entry(
        key_type="PHONE",
        key=key,
        account=pb.Account(participant=OURS, branch="1", account_number="777", account_type="CACC"),
        owner=pb.Owner(type="NATURAL_PERSON", tax_id_number=tax_id, name="Maria da Silva"),
    )
    moved.account.opening_date.FromJsonString("2020-03-01T03:00:00Z")
    world.admin.put_entry(moved)  # the DICT holds our key with another account
    from actors import sync

    # as if some attribute were written differently on each side: our CID of the
    # DICT's entry is not the DICT's
    monkeypatch.setattr(sync.entry, "cid_of_fields", lambda fields, request_id: "0" * 64)

    run = _run(world, _start())

    assert run["status"] == "failed"  # NOK after the repair from the file
    (dict_side, ours_side) = _divergences(run["id"])
    assert dict_side[:2] == ("dict_only", "unresolved") and "our CID" in str(dict_side[2])
    assert ours_side[:2] == ("ours_only", "unresolved")
    assert "not removed: the DICT holds this key" in str(ours_side[2])
    entry = world.entry(entry_id)
    assert entry["status"] == "active" and entry["account_number"] == "20001"
