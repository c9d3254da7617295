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

MED_SEED = """
-- Counterparty reports: one never acknowledged (learned 10 minutes ago), one due within
-- the day, one 2 days overdue whose close the DICT refused; ours as reporter: one the
-- DICT rejected 10 minutes ago, one whose cancel is stuck behind a dead letter.
INSERT INTO infraction_reports (id, dict_id, role, status, transaction_id, reason,
                                situation_type, contact_email, contact_phone,
                                reporter_participant, counterparty_participant, dict_created_at,
                                due_at, request_id, inserted_at, updated_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'ir-1', 'COUNTERPARTY', 'open',
        'E87654321202612031200aaaaaaaaaa1', 'REFUND_REQUEST', 'SCAM', 'med@outro.example',
        '+5561900000001', '87654321', '12345678', now() - interval '10 minutes',
        now() + interval '7 days' - interval '10 minutes', gen_random_uuid(),
        now() - interval '10 minutes', now() - interval '10 minutes'),
       ('00000000-0000-0000-0000-0000000000a2', 'ir-2', 'COUNTERPARTY', 'acknowledged',
        'E87654321202612031200aaaaaaaaaa2', 'REFUND_REQUEST', 'COERCION', 'med@outro.example',
        '+5561900000001', '87654321', '12345678', now() - interval '6 days',
        now() + interval '1 day', gen_random_uuid(), now() - interval '6 days',
        now() - interval '6 days'),
       ('00000000-0000-0000-0000-0000000000a3', 'ir-3', 'COUNTERPARTY', 'acknowledged',
        'E87654321202612031200aaaaaaaaaa3', 'REFUND_REQUEST', 'SCAM', 'med@outro.example',
        '+5561900000001', '87654321', '12345678', now() - interval '9 days',
        now() - interval '2 days', gen_random_uuid(), now() - interval '9 days',
        now() - interval '9 days'),
       ('00000000-0000-0000-0000-0000000000a4', NULL, 'REPORTER', 'submitting',
        'E12345678202612031200aaaaaaaaaa4', 'REFUND_REQUEST', 'SCAM', 'med@banco.example',
        '+5561900000000', '12345678', '87654321', NULL, NULL, gen_random_uuid(),
        now() - interval '11 minutes', now() - interval '11 minutes'),
       ('00000000-0000-0000-0000-0000000000a5', 'ir-5', 'REPORTER', 'acknowledged',
        'E12345678202612031200aaaaaaaaaa5', 'REFUND_REQUEST', 'SCAM', 'med@banco.example',
        '+5561900000000', '12345678', '87654321', now() - interval '3 days', NULL,
        gen_random_uuid(), now() - interval '3 days', now() - interval '3 days');
UPDATE infraction_reports SET status = 'closing', pending = '{"from": "acknowledged",
       "analysis_result": "AGREED", "fraud_type": "SCAMMER_ACCOUNT"}'
WHERE id = '00000000-0000-0000-0000-0000000000a3';
BEGIN;  -- the worker's tags: the refusal's trigger and the DICT's problem (state_history)
SELECT set_config('dict.trigger', 'close_refused', true),
       set_config('dict.reason', 'InfractionReportOperationInvalid', true);
UPDATE infraction_reports SET status = 'acknowledged', pending = NULL,
       problem_type = 'InfractionReportOperationInvalid',
       problem_detail = 'the report is not acknowledged', updated_at = now() - interval '1 hour'
WHERE id = '00000000-0000-0000-0000-0000000000a3';
COMMIT;
UPDATE infraction_reports SET status = 'rejected',
       problem_type = 'InfractionReportTransactionNotFound',
       problem_detail = 'no settled transaction has this id',
       updated_at = now() - interval '10 minutes'
WHERE id = '00000000-0000-0000-0000-0000000000a4';
UPDATE infraction_reports SET status = 'cancelling', pending = '{"from": "acknowledged"}',
       updated_at = now() - interval '2 hours'
WHERE id = '00000000-0000-0000-0000-0000000000a5';

-- Refunds against us: one due in 3 hours, one whose close has been out for an hour; ours:
-- one waiting for its CreateRefund through an outage.
INSERT INTO refunds (id, dict_id, role, status, transaction_id, refund_reason, refund_amount,
                     refund_details, requesting_participant, contested_participant,
                     dict_created_at, due_at, request_id, inserted_at, updated_at)
VALUES ('00000000-0000-0000-0000-0000000000b1', 'rf-1', 'CONTESTED', 'open',
        'E99999003202612031200bbbbbbbbbb1', 'OPERATIONAL_FLAW', 250.00, 'em duplicidade',
        '99999003', '12345678', now() - interval '21 hours', now() + interval '3 hours',
        gen_random_uuid(), now() - interval '21 hours', now() - interval '21 hours'),
       ('00000000-0000-0000-0000-0000000000b2', 'rf-2', 'CONTESTED', 'open',
        'E99999003202612031200bbbbbbbbbb2', 'FRAUD', 250.00, NULL, '99999003', '12345678',
        now() - interval '25 hours', now() - interval '1 hour', gen_random_uuid(),
        now() - interval '25 hours', now() - interval '25 hours'),
       ('00000000-0000-0000-0000-0000000000b3', NULL, 'REQUESTING', 'submitting',
        'E12345678202612031200bbbbbbbbbb3', 'OPERATIONAL_FLAW', 80.00, 'valor errado',
        '12345678', NULL, NULL, NULL, gen_random_uuid(), now() - interval '30 minutes',
        now() - interval '30 minutes');
UPDATE refunds SET status = 'closing', updated_at = now() - interval '1 hour',
       pending = '{"from": "open", "analysis_result": "TOTALLY_ACCEPTED",
                   "refund_transaction_id": "D1234567820261203130000000000001"}'
WHERE id = '00000000-0000-0000-0000-0000000000b2';

INSERT INTO outbox (actor, queue, args, kind, subject, status, deliver_at, created_at,
                    dispatched_at, lease_until, finished_at, attempts, last_error)
VALUES ('cancel_infraction_report', 'dict',
        '{"report_id": "00000000-0000-0000-0000-0000000000a5"}', 'task',
        'infraction_report:00000000-0000-0000-0000-0000000000a5', 'failed',
        now() - interval '2 hours', now() - interval '2 hours', now() - interval '2 hours',
        NULL, now() - interval '100 minutes', 6, 'KeyError: report_id'),
       ('close_refund', 'dict', '{"refund_id": "00000000-0000-0000-0000-0000000000b2"}', 'task',
        'refund:00000000-0000-0000-0000-0000000000b2', 'dispatched', now() - interval '1 hour',
        now() - interval '1 hour', now() - interval '2 minutes', now() + interval '8 minutes',
        NULL, 9, 'DictProblem: BridgeUnavailable'),
       ('create_refund', 'dict', '{"refund_id": "00000000-0000-0000-0000-0000000000b3"}', 'task',
        'refund:00000000-0000-0000-0000-0000000000b3', 'dispatched',
        now() - interval '30 minutes', now() - interval '30 minutes', now() - interval '1 minute',
        now() + interval '9 minutes', NULL, 7, 'DictProblem: ServiceUnavailable'),
       ('infraction_deadline', 'default',
        '{"report_id": "00000000-0000-0000-0000-0000000000a2", "deadline": "missed"}', 'timer',
        'infraction_report:00000000-0000-0000-0000-0000000000a2', 'pending',
        now() + interval '1 day', now() - interval '6 days', NULL, NULL, NULL, 0, NULL);

INSERT INTO poll_cursors (name, modified_after, updated_at, polled_at)
VALUES ('infraction_reports.reporter', now() - interval '1 hour', now() - interval '40 seconds',
        now() - interval '40 seconds'),
       ('infraction_reports.counterparty', now() - interval '1 hour',
        now() - interval '40 seconds', now() - interval '40 seconds'),
       ('refunds.requesting', now() - interval '1 hour', now() - interval '12 minutes',
        now() - interval '12 minutes'),
       ('refunds.contested', now() - interval '1 hour', now() - interval '12 minutes',
        now() - interval '12 minutes');
INSERT INTO cron_runs (job, slot, started_at)
VALUES ('poll_infractions', date_trunc('minute', now()), now()),
       ('poll_refunds', date_trunc('minute', now()) - interval '1 minute', now());

-- A request against us the refund poll keeps failing to apply, and one no row of ours holds.
INSERT INTO poll_failures (poller, dict_id, error, attempts, first_at, last_at)
VALUES ('refunds.contested', 'rf-2', 'ValueError', 17, now() - interval '20 minutes',
        now() - interval '1 minute'),
       ('infraction_reports.counterparty', 'ir-unknown', 'KeyError', 3,
        now() - interval '16 minutes', now() - interval '1 minute');
"""

RATE_LIMITS_SEED = """
-- Three polls a minute apart: SYNC_VERIFICATIONS_WRITE drained to 4 of 50 (critical),
-- CLAIMS_LIST_WITHOUT_ROLE in debt with thresholds of its own, ENTRIES_WRITE full.
INSERT INTO rate_limit_policies (name, category, scope, capacity, refill_tokens,
                                 refill_period_s, warning_pct, critical_pct, level,
                                 last_read_at, updated_at)
VALUES ('SYNC_VERIFICATIONS_WRITE', NULL, 'PSP', 50, 10, 60, 25, 10, 'critical',
        date_trunc('minute', now()), now()),
       ('CLAIMS_LIST_WITHOUT_ROLE', NULL, 'PSP', 50, 10, 60, 10, 2, 'critical',
        date_trunc('minute', now()), now()),
       ('ENTRIES_WRITE', NULL, 'PSP', 36000, 1200, 60, 25, 10, 'ok',
        date_trunc('minute', now()), now()),
       ('ENTRIES_READ_PARTICIPANT_ANTISCAN', 'A', 'PSP', 50000, 25000, 60, 25, 10, 'ok',
        NULL, now());
INSERT INTO rate_limit_readings (policy, read_at, available_tokens, capacity, refill_tokens,
                                 refill_period_s, category)
SELECT p.name, date_trunc('minute', now()) - make_interval(mins => m), a.tokens[3 - m],
       p.capacity, p.refill_tokens, p.refill_period_s, p.category
FROM rate_limit_policies p
JOIN (VALUES ('SYNC_VERIFICATIONS_WRITE', ARRAY[44, 20, 4]),
             ('CLAIMS_LIST_WITHOUT_ROLE', ARRAY[3, 0, -7]),
             ('ENTRIES_WRITE', ARRAY[36000, 36000, 36000])) AS a (name, tokens)
  ON a.name = p.name
CROSS JOIN generate_series(0, 2) AS m;
INSERT INTO outbox (actor, queue, args, kind, subject, status, deliver_at, created_at,
                    finished_at, attempts)
SELECT 'verify_sync', 'dict', jsonb_build_object('run_id', n), 'task', 'sync_run:' || n,
       'done', now() - interval '5 minutes', now() - interval '5 minutes',
       now() - interval '4 minutes', 1
FROM generate_series(1, 3) AS n;
INSERT INTO cron_runs (job, slot, started_at)
VALUES ('poll_rate_limits', date_trunc('minute', now()), now());
"""

OPS_SEED = """
-- Claims: ours (claimer, portability) whose cancel died on a lock timeout; a donor claim
-- whose day-7 timer falls in 3 hours; a donor claim learned 20 minutes ago and still
-- not acknowledged. Entries: one whose registration died in a bridge outage, one whose
-- message Redis lost (dispatched, its lease past), one due 4 minutes ago and not handed
-- out (the relay stopped 6 minutes ago). Outbox row 1 is the claim's dead letter, row 2
-- the day-7 timer: the runbooks' example ids.
INSERT INTO claims (id, dict_id, role, type, key, key_type, status, claimer_participant,
                    claimer_account_number, claimer_account_type, claimer_opening_date,
                    claimer_type, claimer_tax_id, claimer_name, resolution_period_end,
                    day30_limit, completion_request_id, inserted_at, updated_at)
SELECT c.id::uuid, 'dict-' || c.n, c.role, c.type, '+55619111100' || c.n, 'PHONE', c.status,
       '12345678', '0007654321', 'CACC', now() - interval '1 year', 'NATURAL_PERSON',
       '11122233300', 'João Silva', now() + c.rpe, now() + c.rpe + interval '23 days',
       gen_random_uuid(), now() - c.age, now() - c.age
FROM (VALUES ('00000000-0000-0000-0000-0000000000c1', '01', 'CLAIMER', 'PORTABILITY',
              'waiting_resolution', interval '5 days', interval '2 days'),
             ('00000000-0000-0000-0000-0000000000c2', '02', 'DONOR', 'PORTABILITY',
              'waiting_resolution', interval '3 hours', interval '7 days'),
             ('00000000-0000-0000-0000-0000000000c3', '03', 'DONOR', 'OWNERSHIP', 'open',
              interval '7 days', interval '20 minutes'))
     AS c (id, n, role, type, status, rpe, age);
UPDATE claims SET status = 'cancelling', updated_at = now() - interval '6 minutes',
       pending = '{"from": "waiting_resolution", "reason": "USER_REQUESTED"}'
WHERE id = '00000000-0000-0000-0000-0000000000c1';
INSERT INTO entries (id, key, key_type, status, participant, account_number, account_type,
                     opening_date, owner_type, owner_tax_id, owner_name, request_id,
                     created_at, updated_at)
SELECT e.id::uuid, e.key, 'EMAIL', 'registering', '12345678', '0007654321', 'CACC',
       now() - interval '1 year', 'NATURAL_PERSON', '11122233300', 'João Silva',
       gen_random_uuid(), now() - interval '1 hour', now() - interval '1 hour'
FROM (VALUES ('00000000-0000-0000-0000-0000000000e1', 'um@example.com'),
             ('00000000-0000-0000-0000-0000000000e2', 'dois@example.com'),
             ('00000000-0000-0000-0000-0000000000e3', 'tres@example.com')) AS e (id, key);
INSERT INTO outbox (actor, queue, args, kind, subject, dedupe_key, status, deliver_at,
                    created_at, dispatched_at, lease_until, finished_at, attempts, last_error)
VALUES ('cancel_claim', 'dict', '{"claim_id": "00000000-0000-0000-0000-0000000000c1"}', 'task',
        'claim:00000000-0000-0000-0000-0000000000c1', NULL, 'failed',
        now() - interval '6 minutes', now() - interval '6 minutes', now() - interval '6 minutes',
        NULL, now() - interval '5 minutes', 1,
        'LockNotAvailable: canceling statement due to lock timeout'),
       ('claim_deadline', 'default',
        '{"claim_id": "00000000-0000-0000-0000-0000000000c2", "deadline": "ResolutionPeriodEnd"}',
        'timer', 'claim:00000000-0000-0000-0000-0000000000c2',
        'claim:00000000-0000-0000-0000-0000000000c2:ResolutionPeriodEnd', 'pending',
        now() + interval '3 hours', now() - interval '7 days', NULL, NULL, NULL, 0, NULL),
       ('register_entry', 'dict', '{"entry_id": "00000000-0000-0000-0000-0000000000e1"}', 'task',
        'entry:00000000-0000-0000-0000-0000000000e1', NULL, 'failed', now() - interval '1 hour',
        now() - interval '1 hour', now() - interval '1 hour', NULL, now() - interval '40 minutes',
        6, 'DictProblem: BridgeUnavailable: the bridge did not answer'),
       ('register_entry', 'dict', '{"entry_id": "00000000-0000-0000-0000-0000000000e2"}', 'task',
        'entry:00000000-0000-0000-0000-0000000000e2', NULL, 'dispatched',
        now() - interval '15 minutes', now() - interval '15 minutes',
        now() - interval '15 minutes', now() - interval '5 minutes', NULL, 1, NULL),
       ('register_entry', 'dict', '{"entry_id": "00000000-0000-0000-0000-0000000000e3"}', 'task',
        'entry:00000000-0000-0000-0000-0000000000e3', NULL, 'pending',
        now() - interval '4 minutes', now() - interval '4 minutes', NULL, NULL, NULL, 0, NULL),
       ('publish_event', 'events',
        '{"topic": "claims.cancelled", "payload": {"key": "+5561911110001"}}', 'event',
        'claim:00000000-0000-0000-0000-0000000000c1', NULL, 'failed', now() - interval '1 hour',
        now() - interval '1 hour', now() - interval '1 hour', NULL, now() - interval '50 minutes',
        6, 'ConnectionError: Redis refused');
INSERT INTO cron_runs (job, slot, started_at)
SELECT job, date_trunc('minute', now()) - make_interval(mins => m), now()
FROM unnest(ARRAY['relay', 'poll_claims']) AS job, generate_series(6, 12) AS m;
INSERT INTO poll_cursors (name, modified_after, updated_at, polled_at)
VALUES ('claims', now() - interval '1 hour', now() - interval '7 minutes',
        now() - interval '7 minutes');
"""

SEEDS = {
    "sync.md": SYNC_SEED,
    "med.md": MED_SEED,
    "rate_limits.md": RATE_LIMITS_SEED,
    **{
        page: OPS_SEED
        for page in (
            "outbox.md",
            "claims.md",
            "bridge.md",
            "api.md",
            "processes.md",
            "redis.md",
            "deploy.md",
        )
    },
}
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


def _blocks_of(runbook: str, heading: str) -> list[str]:
    """The SQL blocks of one section of a runbook."""
    text = (RUNBOOKS / runbook).read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Where MED stands", ["COUNTERPARTY | acknowledged", "CONTESTED    | closing"]),
        ("DictMedAnalysisDueSoon", ["0000000000a2", "0000000000b1", "missed"]),
        ("DictMedAnalysisOverdue", ["0000000000a3", "0000000000b2", "BridgeUnavailable"]),
        ("DictMedPollStalled", ["refunds.contested", "poll_refunds"]),
        ("DictMedPollFailures", ["rf-2", "ValueError", "ir-unknown"]),
        ("DictMedRequestRejected", ["InfractionReportTransactionNotFound", "0000000000a3"]),
        ("A report or refund stuck in submitting, closing or cancelling", ["KeyError"]),
        ("The DICT refused our close", ["InfractionReportOperationInvalid"]),
        ("Re-acknowledge a counterparty report left open", ["0000000000a1"]),
    ],
)
def test_the_med_runbook_finds_the_seeded_items(
    database_url: str, heading: str, expected: list[str]
) -> None:
    """Each MED section's first block sees the rows it is about."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    assert _psql(database_url, MED_SEED).returncode == 0
    out = _psql(database_url, _blocks_of("med.md", heading)[0])
    assert out.returncode == 0, out.stderr
    for text in expected:
        assert text in out.stdout, f"{heading}: {text} not in\n{out.stdout}"


def test_the_med_runbook_re_acknowledges_and_resends_through_the_normal_paths(
    database_url: str,
) -> None:
    """The bulk re-acknowledge asks the worker for the one report left open; re-sending
    a stuck call writes the task its status waits for, on the dict queue."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    assert _psql(database_url, MED_SEED).returncode == 0
    acknowledge = _blocks_of("med.md", "Re-acknowledge a counterparty report left open")[1]
    stuck = "00000000-0000-0000-0000-0000000000a5"
    section = "A report or refund stuck in submitting, closing or cancelling"
    resend = _blocks_of("med.md", section)[1].replace("00000000-0000-0000-0000-000000000000", stuck)
    for sql in (acknowledge, resend):
        out = _psql(database_url, sql)
        assert out.returncode == 0, out.stderr
    with psycopg.connect(database_url) as conn:
        asked = conn.execute(
            "SELECT subject, args ->> 'trigger' FROM outbox WHERE actor = 'fire_trigger'"
            " AND subject LIKE '%%-0000000000a_' ORDER BY id"
        ).fetchall()
        sent = conn.execute(
            "SELECT actor, queue, args, status FROM outbox"
            " WHERE subject = %s AND status = 'pending'",
            (f"infraction_report:{stuck}",),
        ).fetchall()
    assert asked == [("infraction_report:00000000-0000-0000-0000-0000000000a1", "acknowledge")]
    assert sent == [("cancel_infraction_report", "dict", {"report_id": stuck}, "pending")]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Where the buckets stand", ["CLAIMS_LIST_WITHOUT_ROLE | critical | -7 | 50 | -14.0 |"]),
        ("A bucket near empty", ["| 4 | 50 | 8.0 | 26", "| 20 | 50 | 40.0 | 30", "| 88.0 | \n"]),
        ("The readings are stale", ["ENTRIES_READ_PARTICIPANT_ANTISCAN | ok | |", "poll_rate"]),
        ("Changing a policy's thresholds", ["CLAIMS_LIST_WITHOUT_ROLE | 10 | 2 | critical"]),
        ("Partitions and retention", ["rate_limit_readings_default | DEFAULT | 9"]),
    ],
)
def test_the_rate_limits_runbook_finds_the_seeded_buckets(
    database_url: str, heading: str, expected: list[str]
) -> None:
    """Each section's first block sees the readings it is about (the drain: 20 to 4 in a
    minute that refilled 10 is 26 spent)."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    assert _psql(database_url, RATE_LIMITS_SEED).returncode == 0
    out = _psql(database_url, _blocks_of("rate_limits.md", heading)[0])
    assert out.returncode == 0, out.stderr
    table = re.sub(r" +", " ", out.stdout)  # psql's padding aside
    for text in expected:
        assert text in table, f"{heading}: {text} not in\n{out.stdout}"


def test_there_are_runbooks() -> None:
    assert len(BLOCKS) >= 4
    runbooks = {"claims.md", "outbox.md", "sync.md", "med.md", "rate_limits.md", "bridge.md"}
    runbooks |= {"api.md", "processes.md", "redis.md", "deploy.md"}
    assert {r for r, _, _ in BLOCKS} >= runbooks
    assert set(SEEDS) <= {r for r, _, _ in BLOCKS}


def test_retrying_a_dead_letter_puts_it_back_for_the_relay(database_url: str) -> None:
    """The outbox runbook's "Retry a dead letter", on a real dead letter: it becomes
    pending again, due, its attempts kept, which the database's checks accept (the relay
    then hands it out), and the operator's retry is on record."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO outbox (actor, queue, args, kind, subject, status, deliver_at,"
            " created_at, finished_at, attempts, last_error)"
            " VALUES ('create_refund', 'dict', '{\"refund_id\": \"r-9\"}', 'task', 'refund:r-9',"
            " 'failed', now() - interval '1 hour', now() - interval '1 hour', now(), 6,"
            " 'DictProblem: BridgeUnavailable') RETURNING id"
        ).fetchone()
    assert row is not None
    block = _with_set(_blocks_of("outbox.md", "Retry a dead letter")[0], id=row[0])
    out = _psql(database_url, block)
    assert out.returncode == 0, out.stderr
    with psycopg.connect(database_url) as conn:
        status, finished, attempts, due = conn.execute(
            "SELECT status, finished_at, attempts, deliver_at <= now() FROM outbox WHERE id = %s",
            (row[0],),
        ).fetchone()  # type: ignore[misc]
        actions = conn.execute("SELECT action, outbox_id, actor FROM ops.actions").fetchall()
    assert (status, finished, attempts, due) == ("pending", None, 6, True)
    assert actions == [("retry", row[0], "postgres")]


def _with_set(block: str, **values: object) -> str:
    """The block with its ``\\set name …`` lines giving ``values`` instead."""
    for name, value in values.items():
        block, n = re.subn(rf"^\\set {name} .*$", rf"\\set {name} {value}", block, flags=re.M)
        assert n == 1, f"no \\set {name} in {block}"
    return block


@pytest.mark.parametrize(
    ("runbook", "heading", "expected"),
    [
        ("outbox.md", "Where the outbox stands", ["cancel_claim", "register_entry | dict"]),
        (
            "outbox.md",
            "DictOutboxDeadLetters",
            ["LockNotAvailable", "BridgeUnavailable", '{"topic": "claims.cancelled"}'],
        ),
        (
            "outbox.md",
            "DictOutboxTimerLag",
            ["relay", "entry:00000000-0000-0000-0000-0000000000e2"],
        ),
        ("outbox.md", "Subjects nothing will move", ["0000000000c1 | cancelling | cancel_claim"]),
        ("claims.md", "Where claims stand", ["CLAIMER | cancelling"]),
        (
            "claims.md",
            "Claims whose next deadline is near, and what is scheduled for them",
            ["0000000000c2 | DONOR | waiting_resolution", "0000000000c3 | DONOR | open"],
        ),
        ("claims.md", "A dead-lettered claim action", ["1 | cancel_claim | 1 | LockNotAvailable"]),
        ("processes.md", "Where the processes stand", ["poll_claims", "dict | 1"]),
        ("bridge.md", "DictBridgeDown", ["register_entry"]),
        ("redis.md", "Hand the work back at once", ["dict | 1 | 1 | 1"]),
    ],
)
def test_the_ops_runbooks_find_the_seeded_rows(
    database_url: str, runbook: str, heading: str, expected: list[str]
) -> None:
    """Each section's first block, on the ops views, sees the rows it is about."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    assert _psql(database_url, OPS_SEED).returncode == 0
    out = _psql(database_url, _blocks_of(runbook, heading)[0])
    assert out.returncode == 0, out.stderr
    table = re.sub(r" +", " ", out.stdout)
    for text in expected:
        assert text in table, f"{runbook} {heading}: {text} not in\n{out.stdout}"


def test_the_outbox_runbook_retries_dead_letters_and_records_who_and_why(
    database_url: str,
) -> None:
    """ "DictOutboxDeadLetters", its actions as written: the claim's dead letter (row 1)
    and every register_entry dead letter of the last two hours are due again, and the
    claim's history names the operator and the reason."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    assert _psql(database_url, OPS_SEED).returncode == 0
    actions = _blocks_of("outbox.md", "DictOutboxDeadLetters")[1]
    out = _psql(database_url, actions)
    assert out.returncode == 0, out.stderr
    assert re.search(r"retried\s*\n-+\n\s*1\n", out.stdout), out.stdout
    with psycopg.connect(database_url) as conn:
        statuses = conn.execute("SELECT id, status FROM outbox ORDER BY id").fetchall()
        last = conn.execute(
            "SELECT to_status, trigger, reason, actor FROM state_history"
            " WHERE subject_id = '00000000-0000-0000-0000-0000000000c1' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert [s for _, s in statuses] == [
        "pending",
        "pending",
        "pending",
        "dispatched",
        "pending",
        "failed",
    ]
    assert last == (
        "cancelling",
        "ops.retry",
        "bridge back after INC-1234 (outbox 1 cancel_claim: failed -> pending, due now)",
        "postgres",
    )


def test_the_redis_runbook_hands_every_dispatched_row_back(database_url: str) -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    assert _psql(database_url, OPS_SEED).returncode == 0
    out = _psql(database_url, _blocks_of("redis.md", "Hand the work back at once")[1])
    assert out.returncode == 0, out.stderr
    assert re.search(r"released\s*\n-+\n\s*1\n", out.stdout), out.stdout
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.stale_leases").fetchone() == (0,)
        assert conn.execute("SELECT status FROM outbox WHERE id = 4").fetchone() == ("pending",)
