"""An operator follows the runbook, in psql, and a dead-lettered claim action completes.

The issue's "done when": a claim action dead-letters for real, and the exact SQL
blocks of ``docs/runbooks/claims.md``, "A dead-lettered claim action", run through
``psql`` as an operator would run them (found by the section's heading and their
position in it, so the test fails when the runbook drifts) find it, find its cause,
mend it and retry it; the claim then reaches its final state.

How the action dies: claim calls retry a DICT outage for as long as it lasts
(``actors/claims.py``, ``_while_transient``), so no injected fault of the simulated
DICT can exhaust them. What does kill one is on our side: here a transaction left open
on the claim (a forgotten ``BEGIN; SELECT … FOR UPDATE`` in psql) while the worker,
whose database role has a ``lock_timeout`` as the runbook recommends, applies the
DICT's answer. The DICT has cancelled the claim; our record cannot follow, and the
``cancel_claim`` row fails at once. A latency fault on CancelClaim holds the call long
enough for the session to take the lock first; clearing it is part of the repair.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path

import psycopg

from tests.acceptance.claims_helpers import dict_claim, other_holds, until_status
from tests.acceptance.conftest import Stack, wait_until
from tests.acceptance.test_claims_claimer import CUSTOMER, submit

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbooks" / "claims.md"
SECTION = "A dead-lettered claim action"


def blocks() -> list[str]:
    """The SQL blocks of the section, in order: find, who holds the claim, end that
    session, retry, confirm."""
    text = RUNBOOK.read_text()
    section = text.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(found) == 5, f"{SECTION} has {len(found)} SQL blocks, this test follows 5"
    return found


def with_set(block: str, **values: object) -> str:
    """The block with its ``\\set name …`` line set to the value the operator found."""
    for name, value in values.items():
        block, n = re.subn(rf"^\\set {name} .*$", rf"\\set {name} {value}", block, flags=re.M)
        assert n == 1, f"the block has no \\set {name}: {block}"
    return block


def psql(stack: Stack, block: str) -> str:
    """Run a block as the operator does: psql, stopping at the first error."""
    out = subprocess.run(
        ["psql", stack.database_url, "-X", "-v", "ON_ERROR_STOP=1"],
        input=block,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return re.sub(r" +", " ", out.stdout)


def dead_letter(stack: Stack, claim_id: str) -> int | None:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT id FROM outbox WHERE subject = %s AND actor = 'cancel_claim'"
            " AND status = 'failed'",
            (f"claim:{claim_id}",),
        ).fetchone()
    return int(row[0]) if row else None


def test_a_dead_lettered_claim_cancel_is_mended_and_retried_from_the_runbook(
    stack: Stack,
) -> None:
    find, holders, end_session, retry, confirm = blocks()
    worker = stack.procs["worker"]  # its role waits 1 s for a lock, then fails the statement
    worker.stop()
    worker.env = {**worker.env, "PGOPTIONS": "-c lock_timeout=1s"}
    worker.start()
    key = "+5531911110301"
    other_holds(stack, key, CUSTOMER)
    ours = submit(stack, key, "PORTABILITY")
    claim_id = ours["id"]

    # Our customer cancels; CancelClaim takes 2 s, and meanwhile a psql session locks the claim.
    stack.admin().set_faults(latency_ms=2000, methods=["CancelClaim"])
    with stack.http() as http:
        r = http.post(f"/v1/claims/{claim_id}/cancel", json={"reason": "USER_REQUESTED"})
        assert r.status_code == 202, r.text
    forgotten = psycopg.connect(stack.database_url, application_name="forgotten-psql")
    forgotten.execute("SELECT id FROM claims WHERE id = %s FOR UPDATE", (claim_id,))
    dead = wait_until(lambda: dead_letter(stack, claim_id), timeout=60, what="the dead letter")
    assert dict_claim(stack, ours["dict_id"]).status == "CANCELLED"  # the DICT did its part
    assert until_status(stack, claim_id, "cancelling")  # ours could not follow

    found = psql(stack, find)
    assert f" {dead} | cancel_claim | 1 | LockNotAvailable" in found, found
    assert f"{claim_id} | CLAIMER | PORTABILITY | cancelling" in found, found
    pid = forgotten.info.backend_pid
    sessions = psql(stack, holders)
    assert f" {pid} | postgres | forgotten-psql |" in sessions, sessions
    assert "idle in transaction" in sessions, sessions
    stack.admin().set_faults()
    assert " t\n" in psql(stack, with_set(end_session, pid=pid))
    with contextlib.suppress(psycopg.Error):
        forgotten.close()
    retried = psql(stack, with_set(retry, id=dead))
    assert f"outbox {dead} (cancel_claim, claim:{claim_id}) is pending again" in retried

    stack.relay()  # the scheduler's minute tick
    done = until_status(stack, claim_id, "cancelled", timeout=60)

    confirmed = psql(stack, with_set(confirm, claim_id=f"'{claim_id}'"))
    assert f"{claim_id} | CLAIMER | PORTABILITY | cancelled" in confirmed, confirmed
    assert f" {dead} | cancel_claim | done |" in confirmed, confirmed
    assert "cancelling | cancelling | ops.retry | a psql session held the claim" in confirmed
    triggers = [h["trigger"] for h in done["history"]]
    assert triggers.count("cancelled") == 1 and "ops.retry" in triggers
    assert dict_claim(stack, ours["dict_id"]).status == "CANCELLED"
