"""Backup and restore (docs/runbooks/restore.md): a ``pg_dump`` taken while the workers
run, restored into a new database, loses nothing accepted before the dump and applies no
DICT write twice.

**What a pg_dump restore loses** is everything committed after the dump began. In this
test that is two things. First, the answers the old workers applied after the dump: the
DICT has them, but the backup still shows those calls as out. Second, three
registrations the API accepted after the dump: the DICT holds their keys, but the
restored database has never heard of them.

**How the runbook handles it.** The first kind comes back through the outbox:
``ops.release_leases`` hands every call that was out back to the relay. Each call is
sent again with its RequestId, and the DICT answers it as it did the first time. The
claims poll learns what the DICT did meanwhile. The second kind comes back through a
sync run, which inserts the DICT's keys with the RequestIds that created them. After
that, a client's retry with its Idempotency-Key is answered 409 and does not reach the
DICT. (An EVP registration is the exception the runbook warns about: the DICT picks the
key, so a retry would register a second one.) Events published again come with their
old event_id, or a new one when their change was redone; never with an id the lost
database gave another event, thanks to the runbook's jump of the outbox ids.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis as redis_lib

from app import db, settings
from app.domain.fixtures import make_cpf
from tests.acceptance.claims_helpers import as_other, other_holds, until_status
from tests.acceptance.conftest import Proc, Stack, wait_until
from tests.acceptance.test_claims_claimer import CUSTOMER, submit
from tests.acceptance.test_claims_donor import received
from tests.acceptance.test_entries import (
    account,
    all_in,
    dict_vsyncs,
    entry_body,
    our_vsyncs,
    person,
    register,
)
from tests.acceptance.test_sync import FINISHED, start, until
from tests.conftest import ADMIN_URL

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbooks" / "restore.md"
SLOW_DICT_MS = 800
"""How long each CreateEntry, ConfirmClaim and CompleteClaim takes before the restore.
40 registrations on 8 worker threads take 5 rounds, so the dump lands mid-batch, and
the claim calls, queued after them, are still out when it is taken."""
SLOW = ["CreateEntry", "ConfirmClaim", "CompleteClaim"]
LATE = 3
"""Registrations the old API accepts after the dump: the restore loses them."""
FINAL = {"completing": "completed", "confirming": "completed", "cancelled": "cancelled"}
"""Each claim's final status: ours as claimer (completion out at the dump), ours as
donor (confirm out at the dump, completed by the claimer after it), and a donor claim
its claimer cancelled after the dump."""


@dataclass
class Scenario:
    ids: list[str]  # the 40 registrations accepted before the dump
    claims: dict[str, dict[str, Any]]  # FINAL's names -> our claim as the API showed it
    dict_ids: dict[str, str]  # FINAL's names -> the DICT's claim id
    late: list[dict[str, Any]]  # accepted after the dump: body, Idempotency-Key, id, RequestId


def pg_tool(name: str) -> str:
    """The PostgreSQL client ``name`` of the server's major version, else the one on PATH."""
    with psycopg.connect(ADMIN_URL) as conn:
        (version,) = conn.execute("SHOW server_version_num").fetchone()  # type: ignore[misc]
    own = Path(f"/usr/lib/postgresql/{int(version) // 10000}/bin/{name}")
    found = str(own) if own.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, f"{' '.join(args[:3])}: {done.stderr}"
    return done.stdout


def runbook_sql(heading: str) -> list[str]:
    """The SQL blocks of one section of the restore runbook."""
    section = RUNBOOK.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def in_flight(stack: Stack) -> Scenario:
    """Claims in both roles, then a slow DICT, 40 registrations, our confirm and our
    completion: work pending, dispatched and done at once."""
    admin = stack.admin()
    admin.set_config(cid_file_processing_seconds=1)
    *_, confirming_c, confirming = received(stack, 21, "PORTABILITY")
    *_, cancelled_c, cancelled = received(stack, 22, "PORTABILITY")
    other_holds(stack, "+5531911110301", CUSTOMER)
    completing = submit(stack, "+5531911110301", "PORTABILITY")
    as_other(stack, "acknowledge_claim", claim_id=completing["dict_id"])
    as_other(stack, "confirm_claim", claim_id=completing["dict_id"], reason="USER_REQUESTED")
    admin.set_faults(latency_ms=SLOW_DICT_MS, methods=SLOW)
    with stack.http() as http:
        ids = register(http, [entry_body(i) for i in range(40)])
        r = http.post(f"/v1/claims/{confirming['id']}/confirm", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 202, r.text
    stack.poll()  # sees the donor's CONFIRMED: our CompleteClaim goes out
    return Scenario(
        ids=ids,
        claims={"completing": completing, "confirming": confirming, "cancelled": cancelled},
        dict_ids={
            "completing": completing["dict_id"],
            "confirming": confirming_c.id,
            "cancelled": cancelled_c.id,
        },
        late=[],
    )


def in_flight_rows(stack: Stack) -> list[dict[str, Any]]:
    return stack.query("outbox.by_status", status="dispatched")


def registrations_done(stack: Stack) -> int:
    rows = stack.query("outbox.by_status", status="done")
    return sum(r["actor"] == "register_entry" for r in rows)


def past_the_dump(stack: Stack, s: Scenario) -> None:
    """The old stack goes on: registrations accepted now, the DICT's answers to the calls
    out at the dump, the claimer's cancel and completion exist only in the DICT."""
    with stack.http() as http:
        for i in range(LATE):
            body = {
                "key_type": "EMAIL",
                "key": f"depois{i}@example.com.br",
                "account": account(400_000 + i),
                "owner": person(make_cpf(7000 + i)),
            }
            key = str(uuid.uuid4())
            r = http.post("/v1/entries", json=body, headers={"Idempotency-Key": key})
            assert r.status_code == 202, r.text
            s.late.append({"body": body, "idempotency_key": key, "id": r.json()["id"]})
    as_other(stack, "cancel_claim", claim_id=s.dict_ids["cancelled"], reason="USER_REQUESTED")
    with stack.http() as http:
        everything = s.ids + [x["id"] for x in s.late]
        wait_until(lambda: all_in(http, everything, "active"), what="the old stack's entries")
        for x in s.late:
            x["request_id"] = http.get(f"/v1/entries/{x['id']}").json()["request_id"]
    until_status(stack, s.claims["completing"]["id"], "completed")
    until_status(stack, s.claims["confirming"]["id"], "confirmed")
    as_other(
        stack, "complete_claim", claim_id=s.dict_ids["confirming"], request_id=str(uuid.uuid4())
    )
    stack.procs["worker"].stop()
    stack.procs["api"].stop()
    stack.admin().set_faults()


def contents(url: str) -> dict[str, Any]:
    """Entries and claims by id with their status, outbox rows by status."""
    with db.connect(url) as conn:
        entries = conn.execute("SELECT id::text, status FROM entries").fetchall()
        claims = conn.execute("SELECT id::text, status FROM claims").fetchall()
        outbox = conn.execute("SELECT status, count(*) AS n FROM outbox GROUP BY status")
        return {
            "entries": {r["id"]: r["status"] for r in entries},
            "claims": {r["id"]: r["status"] for r in claims},
            "outbox": {r["status"]: r["n"] for r in outbox.fetchall()},
        }


def empty_work_queues(redis_url: str) -> None:
    """Step 5 of the runbook: Dramatiq's keys go; core banking's streams stay."""
    r = redis_lib.Redis.from_url(redis_url)
    stale = list(r.scan_iter(match="dramatiq:*", count=500))
    assert stale, "the old workers left messages and acks behind"
    r.unlink(*stale)
    r.delete("dict-connect:lookups:own:built")


def recover(stack: Stack, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps 3 to 6 of the runbook against the restored database: migrate, release the
    leases and skip the ids, empty the work queues, start the worker, then the api."""
    env = {**stack.procs["api"].env, "DATABASE_URL": url}
    run(sys.executable, "-m", "app.cli", "migrate", env=env)
    for sql in runbook_sql("Steps"):
        run(pg_tool("psql"), url, "-X", "-q", "-v", "ON_ERROR_STOP=1", stdin=sql)
    empty_work_queues(stack.redis_url)
    monkeypatch.setenv("DATABASE_URL", url)  # this process: the relay and the claims poll
    settings.reset()
    db.close_pool()
    stack.database_url = url
    for name in ("worker", "api"):
        old = stack.procs[name]
        old.output.close()
        log = old.log.with_name(f"{name}-restored.log")
        stack.procs[name] = Proc(name, old.args, env, log)
        stack.procs[name].start()
    wait_until(lambda: ready(stack), what="the api on the restored database")


def ready(stack: Stack) -> bool:
    try:
        return httpx.get(f"{stack.api_url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def claim_statuses(stack: Stack, s: Scenario) -> dict[str, str]:
    with stack.http() as http:
        return {k: http.get(f"/v1/claims/{c['id']}").json()["status"] for k, c in s.claims.items()}


def settled(stack: Stack, s: Scenario) -> bool:
    """Every subject in its final state; until then the claims poll runs, as the
    scheduler's would."""
    if claim_statuses(stack, s) != FINAL:
        stack.poll()
        return False
    with stack.http() as http:
        return all_in(http, s.ids, "active")


def test_a_dump_taken_mid_batch_restores_every_subject_and_no_dict_write_twice(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = in_flight(stack)
    wait_until(lambda: registrations_done(stack) >= 8, what="the first registrations done")
    dump = tmp_path / "backup.dump"
    run(pg_tool("pg_dump"), "-Fc", "-f", str(dump), stack.database_url)
    past_the_dump(stack, s)

    name = f"dc_restore_{uuid.uuid4().hex[:10]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    run(pg_tool("createdb"), f"--maintenance-db={ADMIN_URL}", name)
    try:
        run(pg_tool("pg_restore"), "--exit-on-error", "--no-owner", "-d", url, str(dump))
        backup = contents(url)
        recover(stack, url, monkeypatch)
        assert "dispatched" not in contents(url)["outbox"]  # all released
        assert stack.relay() >= backup["outbox"]["dispatched"]
        # The calls out at the dump are sent again before the poll looks (it runs every
        # 15 s): the DICT answers the repeats, not only the poll.
        wait_until(lambda: not in_flight_rows(stack), what="the released work done")
        wait_until(lambda: settled(stack, s), timeout=60, every=1, what="every subject final")
        _the_backup_was_taken_mid_flight(backup, s)
        _each_dict_write_applied_once(stack, s, backup)
        _what_the_dump_lost_comes_back_by_the_sync(stack, s)
        _core_banking_can_dedupe_its_events(stack, s)
        assert our_vsyncs(stack) == dict_vsyncs(stack)
    finally:
        for proc in ("api", "worker"):
            stack.procs[proc].stop()
        db.close_pool()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _the_backup_was_taken_mid_flight(backup: dict[str, Any], s: Scenario) -> None:
    """Nothing accepted before the dump is missing from it; some of it was still out."""
    assert set(s.ids) <= set(backup["entries"])
    assert Counter(backup["entries"][i] for i in s.ids).keys() == {"active", "registering"}
    assert not {x["id"] for x in s.late} & set(backup["entries"])  # accepted after the dump
    held = {k: backup["claims"][c["id"]] for k, c in s.claims.items()}
    assert held == {
        "completing": "completing",
        "confirming": "confirming",
        "cancelled": "waiting_resolution",
    }
    assert {"done", "dispatched", "pending"} <= set(backup["outbox"])


def _each_dict_write_applied_once(stack: Stack, s: Scenario, backup: dict[str, Any]) -> None:
    """Calls out at the dump were sent twice (old stack, then restored); the DICT
    created each key once."""
    admin = stack.admin()
    with stack.http() as http:
        rids = {i: http.get(f"/v1/entries/{i}").json()["request_id"] for i in s.ids}
    counts = {i: admin.get_call_counts(rid) for i, rid in rids.items()}
    assert [c.entries_created for c in counts.values()] == [1] * len(s.ids)
    sent = {i: c.by_method["CreateEntry"] for i, c in counts.items()}
    expected = {i: 2 if backup["entries"][i] == "registering" else 1 for i in s.ids}
    assert sent == expected
    (claim,) = stack.query("claims.get", id=s.claims["completing"]["id"])
    completion = admin.get_call_counts(str(claim["completion_request_id"]))
    assert completion.by_method["CompleteClaim"] == 2 and completion.entries_created == 1
    with stack.http() as http:
        ours = http.get(f"/v1/entries/{claim['entry_id']}").json()
        donor = http.get(f"/v1/entries/{s.claims['confirming']['entry_id']}").json()
        kept = http.get(f"/v1/entries/{s.claims['cancelled']['entry_id']}").json()
    assert (ours["status"], ours["request_id"]) == ("active", str(claim["completion_request_id"]))
    assert (donor["status"], kept["status"]) == ("deleted", "active")
    with stack.http() as http:  # our repeated confirm found the claim completed: re-read
        history = http.get(f"/v1/claims/{s.claims['confirming']['id']}").json()["history"]
    triggers = [h["trigger"] for h in history]
    assert triggers[-4:] == ["ops.release_lease", "confirm_refused", "confirmed", "completed"]


def _what_the_dump_lost_comes_back_by_the_sync(stack: Stack, s: Scenario) -> None:
    """Keys registered after the dump: unknown here, held by the DICT; the sync inserts
    them with their RequestIds, and the client's retry is a 409, not a DICT call."""
    admin = stack.admin()
    with stack.http() as http:
        assert [http.get(f"/v1/entries/{x['id']}").status_code for x in s.late] == [404] * LATE
    assert [admin.get_call_counts(x["request_id"]).entries_created for x in s.late] == [1] * LATE
    sync_run = until(stack, start(stack, "EMAIL")["id"], *FINISHED)
    assert sync_run["status"] == "ok" and sync_run["outcomes"] == {"inserted": LATE}, sync_run
    before = admin.get_call_counts().by_method["CreateEntry"]
    with stack.http() as http:
        for x in s.late:
            back = http.get(f"/v1/entries/{x['body']['key']}").json()
            assert (back["status"], back["request_id"]) == ("active", x["request_id"])
            retry = http.post(
                "/v1/entries", json=x["body"], headers={"Idempotency-Key": x["idempotency_key"]}
            )
            assert retry.status_code == 409, retry.text
            assert retry.json()["type"].endswith("key-already-registered")
    assert admin.get_call_counts().by_method["CreateEntry"] == before
    assert [admin.get_call_counts(x["request_id"]).entries_created for x in s.late] == [1] * LATE


def _core_banking_can_dedupe_its_events(stack: Stack, s: Scenario) -> None:
    """Events published before and after the restore share the streams: an event_id
    never names two different events (the runbook's id jump), and every entry of the
    backup was announced."""
    r = redis_lib.Redis.from_url(stack.redis_url)
    by_id: dict[str, set[str]] = {}
    created: set[str] = set()
    for stream in r.scan_iter(match="dict-connect.events.*"):
        for _, fields in r.xrange(stream):
            payload = json.loads(fields[b"payload"])  # a re-sent row's comes from jsonb
            same = f"{stream!r} {json.dumps(payload, sort_keys=True)}"
            by_id.setdefault(fields[b"event_id"].decode(), set()).add(same)
            if stream == b"dict-connect.events.entries.created":
                created.add(payload["entry_id"])
    assert {i: e for i, e in by_id.items() if len(e) > 1} == {}
    assert set(s.ids) <= created
