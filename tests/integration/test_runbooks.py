"""Every SQL block of docs/runbooks runs through psql against a migrated database.

A runbook whose queries would find nothing in an empty database gets rows first
(``SEEDS``), so its joins, casts and functions meet real data; and every
``ops.request`` a block asks for must name a trigger an operator may ask for.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from statemachines import registry

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
BLOCKS = [
    (p.name, i, block)
    for p in sorted(RUNBOOKS.glob("*.md"))
    for i, block in enumerate(re.findall(r"```sql\n(.*?)```", p.read_text(), re.S))
]

SYNC_SEED = """
-- One entry of ours in the DICT (the official CID example, as a CPF key): activating
-- it puts its CID into cids and vsyncs (trigger entries_cid_moved).
INSERT INTO entries (id, key, key_type, status, participant, branch, account_number,
                     account_type, opening_date, owner_type, owner_tax_id, owner_name,
                     owner_trade_name, request_id, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-0000000000e1', '11122233300', 'CPF', 'registering',
        '12345678', '00001', '0007654321', 'CACC', now() - interval '3 days',
        'NATURAL_PERSON', '11122233300', 'João Silva', NULL,
        '01020304-0506-0708-090a-0b0c0d0e0f10', now() - interval '3 days',
        now() - interval '3 days');
UPDATE entries
SET status = 'active', updated_at = now() - interval '3 days',
    cid = '28c06eb41c4dc9c3ae114831efcac7446c8747777fca8b145ecd31ff8480ae88'
WHERE id = '00000000-0000-0000-0000-0000000000e1';
-- One EMAIL entry a run removed from our base (its CID leaves cids and vsyncs).
INSERT INTO entries (id, key, key_type, status, participant, branch, account_number,
                     account_type, opening_date, owner_type, owner_tax_id, owner_name,
                     owner_trade_name, request_id, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-0000000000e2', 'someone@example.com', 'EMAIL', 'registering',
        '12345678', NULL, '0007654321', 'CACC', now() - interval '9 days', 'NATURAL_PERSON',
        '11122233300', 'João Silva', NULL, '0b0c0d0e-0f10-0102-0304-050607080900',
        now() - interval '9 days', now() - interval '9 days');
UPDATE entries
SET status = 'active', updated_at = now() - interval '9 days',
    cid = '4d4abb9168114e349672b934d16ed201a919cb49e28b7f66a240e62c92ee007f'
WHERE id = '00000000-0000-0000-0000-0000000000e2';
UPDATE entries SET status = 'deleted', cid = NULL, updated_at = now() - interval '90 minutes'
WHERE id = '00000000-0000-0000-0000-0000000000e2';

-- Run 1 (CPF) waits for approval; run 2 (EMAIL) failed after a repair that left one
-- divergence unresolved; run 3 (PHONE) ended OK.
INSERT INTO sync_runs (key_type, status, cause, threshold, started_at, updated_at)
VALUES ('CPF', 'verifying', 'scheduled', 1, now() - interval '1 hour', now() - interval '1 hour'),
       ('EMAIL', 'verifying', 'catch_up', 100, now() - interval '2 hours',
        now() - interval '2 hours'),
       ('PHONE', 'verifying', 'scheduled', 100, now() - interval '40 hours',
        now() - interval '40 hours');
UPDATE sync_runs
SET status = 'collecting', source = 'file', verifications = 1, verification_id = 7,
    vsync = '28c06eb41c4dc9c3ae114831efcac7446c8747777fca8b145ecd31ff8480ae88',
    snapshot_at = now() - interval '50 minutes', file_id = 11,
    file_requested_at = now() - interval '50 minutes'
WHERE id = 1;
UPDATE sync_runs SET status = 'comparing', file_bytes = 195, file_cids = 3 WHERE id = 1;
UPDATE sync_runs SET status = 'awaiting_approval', shard = 16, divergences = 3 WHERE id = 1;
UPDATE sync_runs
SET status = 'failed', finished_at = now() - interval '1 hour', verifications = 2,
    source = 'file', divergences = 2, repaired = 1,
    problem = 'the DICT still answers NOK after the repair from its CID file'
WHERE id = 2;
UPDATE sync_runs
SET status = 'ok', verifications = 1, verified_at = now() - interval '40 hours',
    finished_at = now() - interval '40 hours'
WHERE id = 3;

INSERT INTO sync_divergences (run_id, cid, side, entry_id, key, outcome, detail, attempts,
                              found_at, handled_at)
VALUES (1, 'ffe514f84f37934bc8aa0f861e4f7392273d71b9d18e8209d21e4192a7842058', 'dict_only',
        NULL, NULL, 'found', NULL, 0, now(), NULL),
       (1, '28c06eb41c4dc9c3ae114831efcac7446c8747777fca8b145ecd31ff8480ae88', 'ours_only',
        '00000000-0000-0000-0000-0000000000e1', NULL, 'found', NULL, 0, now(), NULL),
       (2, 'fce514f84f37934bc8aa0f861e4f7392273d71b9d18e8209d21e4192a7842058', 'dict_only',
        NULL, 'someone@example.com', 'unresolved', 'our CID of the DICT''s entry is …', 1,
        now() - interval '90 minutes', now() - interval '90 minutes'),
       (2, '4d4abb9168114e349672b934d16ed201a919cb49e28b7f66a240e62c92ee007f', 'ours_only',
        '00000000-0000-0000-0000-0000000000e2', 'someone@example.com', 'removed', NULL, 1,
        now() - interval '90 minutes', now() - interval '90 minutes');

INSERT INTO outbox (actor, queue, args, kind, subject, status, deliver_at, created_at,
                    finished_at, attempts, last_error)
VALUES ('collect_sync', 'dict', '{"run_id": 2}', 'task', 'sync_run:2', 'failed',
        now() - interval '2 hours', now() - interval '2 hours', now() - interval '2 hours',
        6, 'DictProblem: Forbidden');
INSERT INTO cron_runs (job, slot, started_at)
VALUES ('sync_schedule', date_trunc('minute', now()), now());
"""

SEEDS = {"sync.md": SYNC_SEED}
"""Rows a runbook's queries should find, inserted before each of its blocks."""


def _psql(database_url: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", database_url, "-X", "-v", "ON_ERROR_STOP=1", "-q"],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("runbook", "index", "sql"), BLOCKS, ids=[f"{r}#{i}" for r, i, _ in BLOCKS]
)
def test_runbook_sql_runs(database_url: str, runbook: str, index: int, sql: str) -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    if runbook in SEEDS:
        seeded = _psql(database_url, SEEDS[runbook])
        assert seeded.returncode == 0, f"the seed of {runbook}: {seeded.stderr}"
    out = _psql(database_url, sql)
    assert out.returncode == 0, out.stderr
    with psycopg.connect(database_url) as conn:
        asked = conn.execute(
            "SELECT args ->> 'machine', args ->> 'trigger' FROM outbox WHERE actor = 'fire_trigger'"
        ).fetchall()
    allowed = registry._OPERATOR_TRIGGERS  # what registry.operator_fire accepts
    for machine, trigger in asked:
        assert trigger in allowed.get(machine, {}), (
            f"{runbook}: ops.request('{machine}', …, '{trigger}') is not an operator trigger"
        )


def test_seeded_queries_find_rows(database_url: str) -> None:
    """The sync runbook's first block (every key type's state) sees the seeded runs."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    first = next(sql for r, _, sql in BLOCKS if r == "sync.md")
    assert _psql(database_url, SEEDS["sync.md"]).returncode == 0
    out = _psql(database_url, first)
    assert out.returncode == 0, out.stderr
    for expected in ("awaiting_approval", "the DICT still answers NOK"):
        assert expected in out.stdout


def test_there_are_runbooks() -> None:
    assert len(BLOCKS) >= 4
    assert {r for r, _, _ in BLOCKS} >= {"claims.md", "outbox.md", "sync.md"}
    assert set(SEEDS) <= {r for r, _, _ in BLOCKS}
