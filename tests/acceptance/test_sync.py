"""Sync runs end to end: divergences made on the DICT's side only are found and repaired
(docs/reconciliation.md), through real processes and the simulator."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis as redis_lib

from app import db
from app.bridge import dict_bridge_pb2 as pb
from app.domain.fixtures import make_cpf
from tests.acceptance.conftest import OUR_ISPB, Stack, wait_until
from tests.acceptance.test_entries import account, all_in, person, register

FINISHED = ("ok", "failed", "rejected")


def email_keys(stack: Stack, n: int, first: int = 0) -> dict[str, str]:
    """``n`` EMAIL keys of ours, active: key -> entry id."""
    bodies = [
        {
            "key_type": "EMAIL",
            "key": f"sync{first + i}@example.com.br",
            "account": account(300_000 + first + i),
            "owner": person(make_cpf(3000 + first + i)),
        }
        for i in range(n)
    ]
    with stack.http() as http:
        ids = register(http, bodies)
        wait_until(lambda: all_in(http, ids, "active"), what="our keys to be active")
    return {b["key"]: i for b, i in zip(bodies, ids, strict=True)}


def dict_entry(key: str, number: int, tax_id: str) -> pb.Entry:
    e = pb.Entry(
        key_type="EMAIL",
        key=key,
        account=pb.Account(
            participant=OUR_ISPB, branch="1", account_number=str(number), account_type="CACC"
        ),
        owner=pb.Owner(type="NATURAL_PERSON", tax_id_number=tax_id, name="Maria da Silva"),
    )
    e.account.opening_date.FromJsonString("2020-03-01T03:00:00Z")
    return e


def start(stack: Stack, key_type: str = "EMAIL") -> dict[str, Any]:
    with stack.http() as http:
        r = http.post("/v1/sync-runs", json={"key_type": key_type})
    assert r.status_code == 201, r.text
    (run,) = r.json()["started"]
    return dict(run)


def run_of(http: httpx.Client, run_id: int) -> dict[str, Any]:
    r = http.get(f"/v1/sync-runs/{run_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def until(stack: Stack, run_id: int, *statuses: str, timeout: float = 90) -> dict[str, Any]:
    with stack.http() as http:

        def reached() -> dict[str, Any] | None:
            run = run_of(http, run_id)
            return run if run["status"] in statuses else None

        try:
            return dict(wait_until(reached, timeout=timeout, what=f"sync run {run_id} {statuses}"))
        except AssertionError:
            print("sync run as it stands:", run_of(http, run_id))
            with db.connect(stack.database_url) as conn:
                for row in conn.execute("SELECT actor, status, args, last_error FROM outbox"):
                    print(row)
            raise


def divergences(stack: Stack, run_id: int) -> list[dict[str, Any]]:
    with stack.http() as http:
        r = http.get(f"/v1/sync-runs/{run_id}/divergences", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def entry(stack: Stack, ref: str) -> dict[str, Any]:
    with stack.http() as http:
        return dict(http.get(f"/v1/entries/{ref}").json())


def same_vsync(stack: Stack, key_type: str = "EMAIL") -> bool:
    from app.repo import cids

    with db.connect(stack.database_url) as conn:
        ours = cids.vsync(conn, key_type), cids.recompute(conn, key_type)
    theirs = stack.admin().get_vsync(OUR_ISPB, key_type).vsync
    return ours == (theirs, theirs)


def events(stack: Stack, topic: str) -> list[dict[str, Any]]:
    client = redis_lib.Redis.from_url(stack.redis_url)
    rows = client.xrange(f"dict-connect.events.{topic}")
    return [json.loads(fields[b"payload"]) for _, fields in rows]


def until_events(stack: Stack, topic: str, n: int) -> list[dict[str, Any]]:
    return list(
        wait_until(lambda: len(events(stack, topic)) >= n and events(stack, topic), what=topic)
    )


def alter_and_insert(stack: Stack, keys: dict[str, str]) -> tuple[str, str, list[str]]:
    """What the BCB does before the homologation's sync test, and a removal: the DICT
    changes one key's account, gains two keys of ours, loses one. Returns (altered,
    removed, inserted)."""
    admin = stack.admin()
    altered, removed = list(keys)[:2]
    admin.put_entry(dict_entry(altered, 999_001, make_cpf(3000)))
    inserted = [f"bcb{i}@example.com.br" for i in range(2)]
    for i, key in enumerate(inserted):
        admin.put_entry(dict_entry(key, 999_100 + i, make_cpf(3900 + i)))
    assert admin.remove_entry(removed)
    return altered, removed, inserted


def test_divergences_made_on_the_dicts_side_are_repaired_from_the_cid_file(stack: Stack) -> None:
    stack.admin().set_config(cid_file_processing_seconds=1)
    keys = email_keys(stack, 5)
    altered, removed, inserted = alter_and_insert(stack, keys)
    assert not same_vsync(stack)
    untouched = {key: entry(stack, keys[key]) for key in list(keys)[2:]}

    run = until(stack, start(stack)["id"], *FINISHED)

    assert run["status"] == "ok", run
    assert run["source"] == "file"  # no OK verification before: the whole file
    assert run["outcomes"] == {"inserted": 2, "updated": 1, "removed": 1, "resolved": 1}
    assert run["repaired"] == 4 and run["divergences"] == 5
    assert same_vsync(stack)
    assert entry(stack, keys[altered])["account"]["account_number"] == "999001"
    assert entry(stack, keys[removed])["status"] == "deleted"
    for key in inserted:
        assert entry(stack, key)["status"] == "active"
    assert {key: entry(stack, keys[key]) for key in untouched} == untouched
    assert {e["action"] for e in until_events(stack, "entries.reconciled", 4)} == {
        "inserted",
        "updated",
        "removed",
    }
    (verified,) = until_events(stack, "sync.verified", 1)
    assert verified["run_id"] == run["id"] and verified["repaired"] == 4


def test_after_a_recent_ok_the_divergences_are_found_from_the_cid_events(stack: Stack) -> None:
    keys = email_keys(stack, 4)
    first = until(stack, start(stack)["id"], *FINISHED)
    assert first["status"] == "ok" and first["divergences"] == 0
    assert first["verifications"] == 1
    altered, removed, inserted = alter_and_insert(stack, keys)

    run = until(stack, start(stack)["id"], *FINISHED)

    assert run["status"] == "ok", run
    assert run["source"] == "events"
    assert run["outcomes"] == {"inserted": 2, "updated": 1, "removed": 1, "resolved": 1}
    assert same_vsync(stack)
    assert entry(stack, keys[removed])["status"] == "deleted"
    assert entry(stack, keys[altered])["account"]["account_number"] == "999001"
    assert [entry(stack, key)["status"] for key in inserted] == ["active", "active"]


def _loaded_divergences(stack: Stack, count: int) -> None:
    """``count`` keys of ours that only the DICT has (more than the threshold)."""
    stack.admin().load_entries(OUR_ISPB, count, "EMAIL", seed=7)


def test_a_large_reconciliation_waits_for_an_operator_who_approves_it_from_psql(
    stack: Stack,
) -> None:
    stack.admin().set_config(cid_file_processing_seconds=1)
    email_keys(stack, 2)
    _loaded_divergences(stack, 120)

    run = until(stack, start(stack)["id"], "awaiting_approval", *FINISHED)
    assert run["status"] == "awaiting_approval" and run["divergences"] == 120
    (diverged,) = until_events(stack, "sync.diverged", 1)
    assert diverged["awaiting_approval"] is True and diverged["threshold"] == 100
    assert all(d["outcome"] == "found" for d in divergences(stack, run["id"]))

    with db.connect(stack.database_url) as conn:
        conn.execute(
            "SELECT ops.request('sync_run', %s, 'approve', 'checked against the core')",
            [str(run["id"])],
        )
    stack.relay()  # the scheduler's relay cron, once

    done = until(stack, run["id"], *FINISHED, timeout=120)
    assert done["status"] == "ok", done
    assert done["outcomes"] == {"inserted": 120}
    assert done["decided_by"]  # the database user who approved
    assert [h["trigger"] for h in done["history"]].count("approve") == 1
    assert same_vsync(stack)


def test_a_rejected_reconciliation_leaves_our_base_untouched(stack: Stack) -> None:
    stack.admin().set_config(cid_file_processing_seconds=1)
    _loaded_divergences(stack, 101)
    run = until(stack, start(stack)["id"], "awaiting_approval", *FINISHED)
    assert run["status"] == "awaiting_approval"

    with stack.http() as http:
        r = http.post(f"/v1/sync-runs/{run['id']}/reject", json={"reason": "DICT incident"})
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "rejected"
        assert "DICT incident" in r.json()["problem"]
        again = http.post(f"/v1/sync-runs/{run['id']}/approve", json={})
        assert again.status_code == 409
        listed = http.get("/v1/entries", params={"key_type": "EMAIL"}).json()["items"]
    assert listed == []
    (failed,) = until_events(stack, "sync.failed", 1)
    assert failed["status"] == "rejected"


def test_a_cid_file_that_never_becomes_available_fails_the_run(stack: Stack) -> None:
    stack.admin().set_config(cid_file_processing_seconds=1_000_000)
    keys = email_keys(stack, 2)
    stack.admin().remove_entry(next(iter(keys)))
    run_id = start(stack)["id"]
    with stack.http() as http:
        wait_until(lambda: run_of(http, run_id)["file_id"], what="the CID file requested")

    stack.advance(601)  # SYNC_FILE_TIMEOUT_S is 600

    run = until(stack, run_id, *FINISHED, timeout=120)
    assert run["status"] == "failed"
    assert "not AVAILABLE" in run["problem"] and "600" in run["problem"]
    assert divergences(stack, run_id) == []
    assert entry(stack, keys[next(iter(keys))])["status"] == "active"  # nothing repaired


def test_a_corrupted_cid_file_is_refused(stack: Stack) -> None:
    stack.admin().set_config(cid_file_processing_seconds=1, corrupt_cid_files=True)
    keys = email_keys(stack, 3)
    stack.admin().remove_entry(next(iter(keys)))

    run = until(stack, start(stack)["id"], *FINISHED)

    assert run["status"] == "failed"
    assert "SHA-256" in run["problem"] and "refused" in run["problem"]
    assert run["file_cids"] is None and divergences(stack, run["id"]) == []
    assert entry(stack, keys[next(iter(keys))])["status"] == "active"
    with db.connect(stack.database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM dict_cids").fetchone()["n"] == 0


def test_keys_registered_during_a_run_are_not_touched_by_it(stack: Stack) -> None:
    stack.admin().set_config(cid_file_processing_seconds=30)
    keys = email_keys(stack, 3)
    gone = next(iter(keys))
    stack.admin().remove_entry(gone)
    run_id = start(stack)["id"]
    with stack.http() as http:
        wait_until(lambda: run_of(http, run_id)["file_id"], what="the CID file requested")

    newcomer = email_keys(stack, 1, first=50)  # in the DICT, not in its file
    (new_id,) = newcomer.values()
    before = entry(stack, new_id)
    stack.advance(31)  # the file becomes AVAILABLE

    run = until(stack, run_id, *FINISHED)
    assert run["status"] == "ok", run
    found = divergences(stack, run_id)
    assert [(d["key"], d["outcome"]) for d in found] == [(gone, "removed")]
    assert entry(stack, new_id) == before
    assert same_vsync(stack)


@pytest.mark.parametrize("count", [150])
def test_a_run_interrupted_by_a_worker_kill_finishes_once(stack: Stack, count: int) -> None:
    stack.admin().set_config(cid_file_processing_seconds=1)
    stack.admin().set_faults(latency_ms=40, methods=["GetEntryByCid"])  # 6 s of reconciling
    _loaded_divergences(stack, count)
    run = until(stack, start(stack)["id"], "awaiting_approval", *FINISHED)
    with stack.http() as http:
        assert http.post(f"/v1/sync-runs/{run['id']}/approve", json={}).status_code == 202

        def handled() -> int:
            outcomes = run_of(http, run["id"])["outcomes"]
            return int(outcomes.get("inserted", 0))

        wait_until(lambda: handled() > 0, what="reconciliation under way", every=0.05)
    stack.procs["worker"].kill()
    with stack.http() as http:
        assert run_of(http, run["id"])["status"] == "reconciling"  # killed mid-way
    stack.procs["worker"].start()
    stack.advance_our_clock(11 * 60)  # the killed message's outbox lease expires
    stack.relay()

    done = until(stack, run["id"], *FINISHED, timeout=180)

    assert done["status"] == "ok", done
    assert done["outcomes"] == {"inserted": count}
    assert [h["to_status"] for h in done["history"]].count("ok") == 1
    (verified,) = until_events(stack, "sync.verified", 1)
    assert verified["run_id"] == run["id"]
    with db.connect(stack.database_url) as conn:
        live = conn.execute(
            "SELECT count(*) AS n FROM entries WHERE key_type = 'EMAIL' AND status = 'active'"
        ).fetchone()
    assert live["n"] == count
    assert same_vsync(stack)


def test_a_divergence_the_events_cannot_show_is_found_from_the_file(stack: Stack) -> None:
    """Our base lost a key behind the DICT's back (a restore from an old backup): the
    DICT's events since the last OK say nothing of it, so the repair from the events
    leaves the VSync NOK and the run starts over from the CID file."""
    stack.admin().set_config(cid_file_processing_seconds=1)
    keys = email_keys(stack, 3)
    stack.advance(60)  # their ADDED events fall before the window of the next run
    assert until(stack, start(stack)["id"], *FINISHED)["status"] == "ok"
    lost = next(iter(keys))
    with db.connect(stack.database_url) as conn:
        conn.execute(
            "UPDATE entries SET status = 'deleted', cid = NULL WHERE id = %s", [keys[lost]]
        )

    run = until(stack, start(stack)["id"], *FINISHED)

    assert run["status"] == "ok", run
    assert run["source"] == "file" and run["verifications"] == 3
    assert run["outcomes"] == {"inserted": 1}
    restored = entry(stack, lost)
    assert restored["status"] == "active" and restored["id"] != keys[lost]
    assert same_vsync(stack)


def test_above_the_threshold_from_the_cid_events_too(stack: Stack) -> None:
    email_keys(stack, 1)
    assert until(stack, start(stack)["id"], *FINISHED)["status"] == "ok"
    admin = stack.admin()
    for i in range(101):  # keys of ours the DICT gained since the last OK
        admin.put_entry(dict_entry(f"gained{i}@example.com.br", 800_000 + i, make_cpf(5000 + i)))

    run = until(stack, start(stack)["id"], "awaiting_approval", *FINISHED)
    assert run["status"] == "awaiting_approval" and run["source"] == "events"
    assert run["divergences"] == 101
    with stack.http() as http:
        r = http.post(f"/v1/sync-runs/{run['id']}/approve", json={"reason": "expected"})
        assert r.status_code == 202, r.text

    done = until(stack, run["id"], *FINISHED, timeout=120)
    assert done["status"] == "ok" and done["outcomes"] == {"inserted": 101}
    assert done["decided_by"] == "api:acceptance"
    assert same_vsync(stack)
