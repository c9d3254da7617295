"""The operators' schema (``sql/migrations/0018_ops.sql``) on real rows.

The functions are called as an operator would, from a session whose role is not the
application's (``ops_operator`` below, with the privileges docs/runbooks/README.md
lists), so the history shows who acted. Rows are written in SQL as the machines leave
them (each status reached by a legal transition: ``enforce_transition`` checks it);
times are relative to the database's ``now()``, which the views and functions read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
import redis as redis_lib
from psycopg import errors

from app import db, outbox, queue

OPERATOR = "ops_operator"
GRANTS = f"""
GRANT USAGE ON SCHEMA ops TO {OPERATOR};
GRANT SELECT ON ALL TABLES IN SCHEMA ops TO {OPERATOR};
GRANT INSERT ON ops.actions, state_history TO {OPERATOR};
GRANT SELECT, UPDATE ON outbox TO {OPERATOR};
GRANT SELECT ON claims, entries, sync_runs, infraction_reports, refunds, fraud_markers,
      vsyncs, rate_limit_policies, rate_limit_readings TO {OPERATOR};
"""


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with db.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def operator(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A session as ``ops_operator`` (the role is the cluster's; its grants this database's)."""
    with db.connect(database_url, autocommit=True) as admin:
        admin.execute(
            f"DO $$ BEGIN CREATE ROLE {OPERATOR} NOLOGIN; EXCEPTION"
            " WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        admin.execute(GRANTS)
    with db.connect(database_url, autocommit=True) as c:
        c.execute(f"SET ROLE {OPERATOR}")
        yield c


# --- rows as the machines leave them ----------------------------------------------------


def claim(
    conn: Any,
    role: str,
    status: str,
    *,
    claim_type: str = "PORTABILITY",
    resolution_in: str = "3 days",
    validated: bool = False,
    inserted_ago: str = "1 hour",
    last_modified_ago: str | None = None,
) -> str:
    """A claim in ``status`` (an in-flight one walks there from the status it left)."""
    start = {"confirming": "waiting_resolution", "completing": "confirmed"}.get(status)
    start = start or ("waiting_resolution" if status == "cancelling" else status)
    claim_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO claims (id, dict_id, role, type, key, key_type, status, dict_last_modified,"
        " claimer_participant, claimer_account_number, claimer_account_type,"
        " claimer_opening_date, claimer_type, claimer_tax_id, claimer_name,"
        " resolution_period_end, completion_period_end, day30_limit, possession_validated_at,"
        " confirm_reason, completion_request_id, inserted_at, updated_at)"
        " VALUES (%(id)s, %(dict_id)s, %(role)s, %(type)s, %(key)s, 'PHONE', %(status)s,"
        " now() - %(modified)s::interval, '87654321', '0001', 'CACC', now(), 'NATURAL_PERSON',"
        " '11122233300', 'Joana', now() + %(rpe)s::interval,"
        " CASE WHEN %(type)s = 'OWNERSHIP' THEN now() + %(rpe)s::interval + interval '7 days' END,"
        " now() + %(rpe)s::interval + interval '23 days',"
        " CASE WHEN %(validated)s THEN now() END,"
        " CASE WHEN %(status)s = 'confirmed' THEN 'USER_REQUESTED' END, gen_random_uuid(),"
        " now() - %(ago)s::interval, now() - %(ago)s::interval)",
        {
            "id": claim_id,
            "dict_id": None if start == "submitting" else f"dict-{claim_id}",
            "role": role,
            "type": claim_type,
            "key": f"+55119{uuid.uuid4().int % 10**8:08d}",
            "status": start,
            "modified": last_modified_ago or inserted_ago,
            "rpe": resolution_in,
            "validated": validated,
            "ago": inserted_ago,
        },
    )
    if start != status:
        conn.execute(
            "UPDATE claims SET status = %s, pending = jsonb_build_object('from', status)"
            " WHERE id = %s",
            (status, claim_id),
        )
    return claim_id


def entry(conn: Any, status: str = "registering") -> str:
    entry_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO entries (id, key, key_type, status, participant, account_number,"
        " account_type, opening_date, owner_type, owner_tax_id, owner_name, request_id,"
        " created_at, updated_at)"
        " VALUES (%s, %s, 'EMAIL', 'registering', '12345678', '0001', 'CACC', now(),"
        " 'NATURAL_PERSON', '11122233300', 'Joana', gen_random_uuid(), now(), now())",
        (entry_id, f"{entry_id}@example.com"),
    )
    if status == "active":
        conn.execute(
            "UPDATE entries SET status = 'active', cid = md5(id::text) || md5(key) WHERE id = %s",
            (entry_id,),
        )
    return entry_id


def med(conn: Any, table: str, role: str, status: str, *, due_in: str | None = None) -> str:
    """An infraction report or refund request in ``status`` (in flight: walked there)."""
    start = {"closing": "open" if table == "refunds" else "acknowledged", "cancelling": "open"}
    first = start.get(status, status)
    item_id = str(uuid.uuid4())
    dict_id = None if first == "submitting" else f"dict-{item_id}"
    due = f"now() + interval '{due_in}'" if due_in else "NULL::timestamptz"
    if table == "infraction_reports":
        conn.execute(
            "INSERT INTO infraction_reports (id, dict_id, role, status, transaction_id, reason,"
            " situation_type, contact_email, contact_phone, reporter_participant,"
            " counterparty_participant, dict_created_at, due_at, request_id, inserted_at,"
            f" updated_at) VALUES (%s, %s, %s, %s, %s, 'REFUND_REQUEST', 'SCAM', 'a@b.example',"
            f" '+5561900000000', '12345678', '87654321', {due} - interval '7 days', {due},"
            " gen_random_uuid(), now(), now())",
            (item_id, dict_id, role, first, f"E{uuid.uuid4().hex}"),
        )
    else:
        conn.execute(
            "INSERT INTO refunds (id, dict_id, role, status, transaction_id, refund_reason,"
            " refund_amount, requesting_participant, dict_created_at, due_at, request_id,"
            " inserted_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, 'OPERATIONAL_FLAW', 10, '12345678',"
            f" {due} - interval '24 hours', {due}, gen_random_uuid(), now(), now())",
            (item_id, dict_id, role, first, f"E{uuid.uuid4().hex}"),
        )
    if first != status:
        conn.execute(
            f"UPDATE {table} SET status = %s, pending = jsonb_build_object('from', status)"
            " WHERE id = %s",
            (status, item_id),
        )
    return item_id


def row(
    conn: Any,
    actor: str,
    subject: str | None,
    status: str,
    *,
    kind: str = "task",
    deliver: str = "now() - interval '1 hour'",
    dedupe: str | None = None,
    attempts: int = 0,
    args: str = "{}",
    lease: str = "now() + interval '5 minutes'",
    finished_ago: str = "10 minutes",
) -> int:
    """An outbox row as the relay and the worker leave it in ``status``."""
    dispatched = status == "dispatched"
    finished = status in ("done", "failed", "cancelled")
    found = conn.execute(
        "INSERT INTO outbox (actor, queue, args, kind, subject, dedupe_key, status, deliver_at,"
        " created_at, dispatched_at, lease_until, finished_at, attempts, last_error)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s, {deliver}, now() - interval '2 hours',"
        f" {'now()' if dispatched else 'NULL'}, {lease if dispatched else 'NULL'},"
        f" {f'now() - interval {chr(39)}{finished_ago}{chr(39)}' if finished else 'NULL'},"
        " %s, %s) RETURNING id",
        (
            actor,
            queue_of(actor),
            args,
            kind,
            subject,
            dedupe,
            status,
            attempts,
            "DictProblem: BridgeUnavailable" if status == "failed" else None,
        ),
    ).fetchone()
    assert found is not None
    return int(found["id"])


def queue_of(actor: str) -> str:
    return outbox.QUEUES.get(actor, "default")


def outbox_row(conn: Any, outbox_id: int) -> dict[str, Any]:
    found = conn.execute("SELECT * FROM outbox WHERE id = %s", (outbox_id,)).fetchone()
    assert found is not None
    return dict(found)


def history(conn: Any, machine: str, subject_id: str) -> list[dict[str, Any]]:
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT from_status, to_status, trigger, reason, actor FROM state_history"
        " WHERE machine = %s AND subject_id = %s ORDER BY id",
        (machine, subject_id),
    ).fetchall()


# --- ops.retry: a dead letter back through the relay and a worker -----------------------


@pytest.fixture
def worker(redis_url: str) -> Iterator[Callable[[], None]]:
    """``run()`` works the ``default`` queue until it is empty, with the worker's
    OutboxMiddleware and the real ``probe`` actor (actors/spine.py)."""
    from actors import spine
    from actors.middleware import OutboxMiddleware

    queue.broker.cache_clear()
    broker = queue.broker()
    OutboxMiddleware.install(broker)  # as actors/__init__.py does
    dramatiq.actor(spine.probe.fn, broker=broker, actor_name="probe", queue_name="default")

    def run() -> None:
        w = dramatiq.Worker(broker, queues={"default"}, worker_threads=1, worker_timeout=100)
        w.start()
        try:
            broker.join("default", timeout=20_000)
        finally:
            w.stop()

    yield run
    queue.broker.cache_clear()


def test_a_dead_letter_retried_is_dispatched_by_the_relay_and_done_by_the_worker(
    conn: Any, operator: Any, redis_url: str, worker: Callable[[], None]
) -> None:
    """Given a claim whose call died (6 attempts), when an operator retries it, then the
    row is pending and due with its attempts kept, the relay hands it out, a worker
    runs it to done, and the claim's history says who retried it and why."""
    claim_id = claim(conn, "CLAIMER", "submitting")
    dead = row(conn, "probe", f"claim:{claim_id}", "failed", attempts=6)

    said = operator.execute("SELECT ops.retry(%s, 'bridge back after INC-7')", (dead,)).fetchone()

    assert said is not None and f"outbox {dead} (probe, claim:{claim_id})" in said["retry"]
    back = outbox_row(conn, dead)
    assert (back["status"], back["finished_at"], back["lease_until"]) == ("pending", None, None)
    assert (back["attempts"], back["last_error"]) == (6, "DictProblem: BridgeUnavailable")
    assert listed(conn, "outbox_backlog", "actor")["probe"]["due"] == 1
    assert outbox.relay_tick() == 1
    handed = outbox_row(conn, dead)
    assert (handed["status"], handed["attempts"]) == ("dispatched", 7)
    queued = redis_lib.Redis.from_url(redis_url).hvals("dramatiq:default.msgs")
    assert any(f'"outbox_id":{dead}'.encode() in body for body in queued)
    worker()
    assert outbox_row(conn, dead)["status"] == "done"
    assert history(conn, "claim", claim_id)[-1] == {
        "from_status": "submitting",
        "to_status": "submitting",
        "trigger": "ops.retry",
        "reason": f"bridge back after INC-7 (outbox {dead} probe: failed -> pending, due now)",
        "actor": OPERATOR,
    }
    audit = conn.execute("SELECT actor, action, outbox_id, before FROM ops.actions").fetchall()
    assert [(a["actor"], a["action"], a["outbox_id"]) for a in audit] == [(OPERATOR, "retry", dead)]
    assert audit[0]["before"]["status"] == "failed"


def test_a_row_stuck_in_flight_is_handed_back_and_one_without_subject_is_audited(
    conn: Any, operator: Any, redis_url: str
) -> None:
    """A dispatched row (its message lost) is due again at once; a row with no subject
    leaves no history, only its ops.actions row."""
    stuck = row(conn, "publish_event", None, "dispatched", kind="event", attempts=1)

    operator.execute("SELECT ops.retry(%s, 'Redis lost its queue')", (stuck,))

    back = outbox_row(conn, stuck)
    assert (back["status"], back["dispatched_at"], back["lease_until"]) == ("pending", None, None)
    assert conn.execute("SELECT count(*) AS n FROM state_history").fetchone() == {"n": 0}
    assert conn.execute("SELECT actor, subject, reason FROM ops.actions").fetchall() == [
        {"actor": OPERATOR, "subject": None, "reason": "Redis lost its queue"}
    ]
    assert outbox.relay_tick() == 1


# --- bad input is refused, naming the argument and the rule ----------------------------


@pytest.mark.parametrize(
    ("call", "error", "says", "hint"),
    [
        (
            "ops.retry({done}, 'again')",
            errors.ObjectNotInPrerequisiteState,
            "outbox_id {done} is done",
            "ops.request",
        ),
        (
            "ops.retry({pending}, 'again')",
            errors.ObjectNotInPrerequisiteState,
            "outbox_id {pending} is pending",
            "ops.reschedule({pending}, now()",
        ),
        (
            "ops.retry({cancelled}, 'again')",
            errors.ObjectNotInPrerequisiteState,
            "outbox_id {cancelled} is cancelled",
            "no longer applies",
        ),
        (
            "ops.retry(987654, 'again')",
            errors.InvalidParameterValue,
            "outbox_id 987654 names no outbox row",
            "ops.dead_letters",
        ),
        (
            "ops.retry({failed}, '  ')",
            errors.InvalidParameterValue,
            "ops.retry: reason must say why",
            "SELECT ops.retry(",
        ),
        ("ops.retry({failed}, NULL)", errors.InvalidParameterValue, "reason must say why", None),
        (
            "ops.reschedule({failed}, now(), 'later')",
            errors.ObjectNotInPrerequisiteState,
            "outbox_id {failed} is failed: only a pending row",
            "ops.retry({failed}",
        ),
        (
            "ops.reschedule({pending}, NULL, 'later')",
            errors.InvalidParameterValue,
            "at must be an instant",
            None,
        ),
        (
            "ops.reschedule({pending}, 'infinity', 'later')",
            errors.InvalidParameterValue,
            "at must be an instant (got infinity)",
            None,
        ),
        (
            "ops.retry_dead_letters('register_entry', now() + interval '1 hour', 'x')",
            errors.InvalidParameterValue,
            "since must be a past instant",
            "-infinity",
        ),
        (
            "ops.retry_dead_letters('register_entyr', '-infinity', 'x')",
            errors.InvalidParameterValue,
            "actor 'register_entyr' names no actor",
            "Actors with dead letters now: register_entry",
        ),
        (
            "ops.retry_dead_letters(NULL, '-infinity', 'x')",
            errors.InvalidParameterValue,
            "actor NULL names no actor",
            None,
        ),
        (
            "ops.release_leases('')",
            errors.InvalidParameterValue,
            "ops.release_leases: reason must say why",
            None,
        ),
    ],
)
def test_bad_input_is_refused_naming_the_argument_and_nothing_changes(
    conn: Any,
    operator: Any,
    call: str,
    error: type[Exception],
    says: str,
    hint: str | None,
) -> None:
    ids = {
        status: row(conn, "register_entry", f"entry:{uuid.uuid4()}", status)
        for status in ("done", "pending", "cancelled", "failed", "dispatched")
    }
    before = conn.execute("SELECT * FROM outbox ORDER BY id").fetchall()

    with pytest.raises(error) as refused:
        operator.execute(f"SELECT {call.format(**ids)}")

    diag = refused.value.diag  # type: ignore[attr-defined]
    assert says.format(**ids) in diag.message_primary
    if hint is not None:
        assert hint.format(**ids) in diag.message_hint
    assert conn.execute("SELECT * FROM outbox ORDER BY id").fetchall() == before
    assert conn.execute("SELECT count(*) AS n FROM ops.actions").fetchone() == {"n": 0}


def test_a_dead_letter_whose_work_another_live_row_does_is_not_retried(
    conn: Any, operator: Any
) -> None:
    """Two live rows may not share a dedupe key (outbox_dedupe): the dead timer whose
    successor is already scheduled is refused by ops.retry, skipped by the bulk retry."""
    subject = f"claim:{uuid.uuid4()}"
    dead = row(conn, "claim_deadline", subject, "failed", dedupe="claim:1:Day30Limit")
    live = row(
        conn,
        "claim_deadline",
        subject,
        "pending",
        dedupe="claim:1:Day30Limit",
        deliver="now() + interval '2 days'",
    )

    with pytest.raises(errors.ObjectNotInPrerequisiteState) as refused:
        operator.execute("SELECT ops.retry(%s, 'again')", (dead,))
    assert "dedupe key claim:1:Day30Limit is held by another live row" in str(refused.value)
    n = operator.execute(
        "SELECT ops.retry_dead_letters('claim_deadline', '-infinity', 'again') AS n"
    ).fetchone()

    assert n == {"n": 0}
    assert (outbox_row(conn, dead)["status"], outbox_row(conn, live)["status"]) == (
        "failed",
        "pending",
    )


# --- the bulk functions ----------------------------------------------------------------


def test_retry_dead_letters_takes_one_actors_dead_letters_since_an_instant(
    conn: Any, operator: Any
) -> None:
    recent = [
        row(conn, "register_entry", f"entry:{entry(conn)}", "failed", finished_ago="30 minutes")
        for _ in range(3)
    ]
    older = row(conn, "register_entry", f"entry:{entry(conn)}", "failed", finished_ago="3 hours")
    other = row(conn, "delete_entry", f"entry:{entry(conn)}", "failed", finished_ago="30 minutes")

    n = operator.execute(
        "SELECT ops.retry_dead_letters('register_entry', now() - interval '1 hour',"
        " 'bridge back') AS n"
    ).fetchone()

    assert n == {"n": 3}
    status = {r["id"]: r["status"] for r in conn.execute("SELECT id, status FROM outbox")}
    assert [status[i] for i in recent] == ["pending"] * 3
    assert (status[older], status[other]) == ("failed", "failed")
    assert conn.execute(
        "SELECT count(*) AS n FROM state_history WHERE trigger = 'ops.retry' AND actor = %s",
        (OPERATOR,),
    ).fetchone() == {"n": 3}


def test_reschedule_moves_a_timer_and_the_relay_follows(
    conn: Any, operator: Any, redis_url: str
) -> None:
    claim_id = claim(conn, "DONOR", "waiting_resolution")
    timer = row(
        conn,
        "claim_deadline",
        f"claim:{claim_id}",
        "pending",
        kind="timer",
        deliver="now() + interval '3 days'",
        dedupe=f"claim:{claim_id}:ResolutionPeriodEnd",
    )
    assert outbox.relay_tick() == 0

    operator.execute("SELECT ops.reschedule(%s, now(), 'test the day-7 action now')", (timer,))

    assert outbox.relay_tick() == 1
    assert outbox_row(conn, timer)["status"] == "dispatched"
    [last] = history(conn, "claim", claim_id)[-1:]
    assert (last["trigger"], last["actor"]) == ("ops.reschedule", OPERATOR)
    assert last["reason"].startswith(f"test the day-7 action now (outbox {timer} claim_deadline:")


def test_release_leases_hands_every_dispatched_row_back_to_the_relay(
    conn: Any, operator: Any, redis_url: str
) -> None:
    """After a lost Redis: every dispatched row is pending again and due (one deferred by
    our limiter keeps its later instant); finished rows are left alone."""
    entries = [entry(conn) for _ in range(3)]
    flying = [row(conn, "register_entry", f"entry:{e}", "dispatched", attempts=1) for e in entries]
    deferred = row(
        conn,
        "register_entry",
        None,
        "dispatched",
        deliver="now() + interval '10 minutes'",
        lease="now() + interval '20 minutes'",
    )
    finished = row(conn, "register_entry", None, "done")

    n = operator.execute("SELECT ops.release_leases('Redis lost everything at 03:10') AS n")

    assert n.fetchone() == {"n": 4}
    rows = {r["id"]: r for r in conn.execute("SELECT * FROM outbox")}
    assert {rows[i]["status"] for i in [*flying, deferred]} == {"pending"}
    assert rows[finished]["status"] == "done"
    assert outbox.relay_tick() == 3  # the deferred one waits for its instant
    assert [h["trigger"] for e in entries for h in history(conn, "entry", e)] == [
        "manual",
        "ops.release_lease",
    ] * 3


# --- the views -------------------------------------------------------------------------


def listed(conn: Any, view: str, key: str = "subject_id") -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in conn.execute(f"SELECT * FROM ops.{view}")}


def test_orphans_are_the_subjects_nothing_will_move(conn: Any) -> None:
    """Each machine's statuses that wait on an outbox row are listed when none is live;
    statuses that wait on the DICT's polls, an analyst or an operator are not."""
    orphans = {
        "registering entry, nothing sent": entry(conn),
        "submitting claim whose call died": claim(conn, "CLAIMER", "submitting"),
        "cancelling claim, only an event live": claim(conn, "CLAIMER", "cancelling"),
        "donor claim with no day-7 timer": claim(conn, "DONOR", "waiting_resolution"),
        "confirmed portability not completing": claim(conn, "CLAIMER", "confirmed"),
        "ownership without its day-30 timer": claim(
            conn, "CLAIMER", "open", claim_type="OWNERSHIP"
        ),
        "report closing, no call": med(
            conn, "infraction_reports", "COUNTERPARTY", "closing", due_in="2 days"
        ),
        "refund cancelling, no call": med(conn, "refunds", "REQUESTING", "cancelling"),
    }
    waiting = {
        "registering entry, call in flight": entry(conn),
        "active entry": entry(conn, "active"),
        "donor claim open (the poll acknowledges)": claim(conn, "DONOR", "open"),
        "our portability open (the donor decides)": claim(conn, "CLAIMER", "waiting_resolution"),
        "ownership, possession proved": claim(
            conn, "CLAIMER", "open", claim_type="OWNERSHIP", validated=True
        ),
        "donor claim with its day-7 timer": claim(conn, "DONOR", "waiting_resolution"),
        "donor's confirmed claim (the claimer completes)": claim(conn, "DONOR", "confirmed"),
        "report acknowledged (the analyst decides)": med(
            conn, "infraction_reports", "COUNTERPARTY", "acknowledged", due_in="3 days"
        ),
        "refund open (the analyst decides)": med(
            conn, "refunds", "CONTESTED", "open", due_in="3 hours"
        ),
    }
    dead = row(
        conn,
        "create_claim",
        f"claim:{orphans['submitting claim whose call died']}",
        "failed",
        attempts=6,
    )
    row(
        conn,
        "publish_event",
        f"claim:{orphans['cancelling claim, only an event live']}",
        "pending",
        kind="event",
    )
    row(
        conn,
        "register_entry",
        f"entry:{waiting['registering entry, call in flight']}",
        "dispatched",
    )
    row(
        conn,
        "claim_deadline",
        f"claim:{waiting['donor claim with its day-7 timer']}",
        "pending",
        kind="timer",
        deliver="now() + interval '3 days'",
    )

    found = listed(conn, "orphans")

    assert set(found) == set(orphans.values()), {
        name: i in found for name, i in {**orphans, **waiting}.items()
    }
    died = found[orphans["submitting claim whose call died"]]
    assert (died["waits_for"], died["last_outbox_id"], died["last_outbox_status"]) == (
        "create_claim",
        dead,
        "failed",
    )
    assert found[orphans["donor claim with no day-7 timer"]]["waits_for"] == (
        "claim_deadline (ResolutionPeriodEnd)"
    )


def test_a_sync_run_is_an_orphan_only_once_the_scheduler_should_have_restarted_it(
    conn: Any,
) -> None:
    conn.execute(
        "INSERT INTO sync_runs (key_type, status, cause, threshold, started_at, updated_at)"
        " VALUES ('CPF', 'verifying', 'scheduled', 100, now() - interval '1 hour',"
        "         now() - interval '20 minutes'),"
        "        ('EMAIL', 'verifying', 'scheduled', 100, now(), now() - interval '5 minutes')"
    )
    conn.execute("UPDATE sync_runs SET status = 'collecting' WHERE key_type = 'CPF'")
    conn.execute(
        "UPDATE sync_runs SET updated_at = now() - interval '20 minutes' WHERE key_type = 'CPF'"
    )

    found = conn.execute("SELECT machine, status, waits_for FROM ops.orphans").fetchall()

    assert found == [{"machine": "sync_run", "status": "collecting", "waits_for": "collect_sync"}]
    last = listed(conn, "sync_last_runs", "key_type")
    assert (last["CPF"]["status"], last["EMAIL"]["status"], last["PHONE"]["run_id"]) == (
        "collecting",
        "verifying",
        None,
    )


def test_deadlines_at_risk_are_the_actions_owed_soon_or_late(conn: Any) -> None:
    risky = {
        "donor ack 10 min late": claim(conn, "DONOR", "open", inserted_ago="10 minutes"),
        "donor day 7 in 2 h": claim(conn, "DONOR", "waiting_resolution", resolution_in="2 hours"),
        "ownership day 30 passed": claim(
            conn, "CLAIMER", "waiting_resolution", claim_type="OWNERSHIP", resolution_in="-24 days"
        ),
        "report due tomorrow": med(
            conn, "infraction_reports", "COUNTERPARTY", "acknowledged", due_in="1 day"
        ),
        "refund due in 4 h of 24": med(conn, "refunds", "CONTESTED", "open", due_in="4 hours"),
    }
    calm = [
        claim(conn, "DONOR", "open", inserted_ago="1 minute"),
        claim(conn, "DONOR", "waiting_resolution", resolution_in="3 days"),
        claim(conn, "CLAIMER", "waiting_resolution"),  # the donor decides
        med(conn, "infraction_reports", "COUNTERPARTY", "acknowledged", due_in="5 days"),
        med(conn, "refunds", "CONTESTED", "open", due_in="20 hours"),
        med(conn, "refunds", "REQUESTING", "open"),
    ]
    row(
        conn,
        "claim_deadline",
        f"claim:{risky['donor day 7 in 2 h']}",
        "pending",
        kind="timer",
        deliver="now() + interval '2 hours'",
    )

    found = listed(conn, "deadlines_at_risk")

    assert set(found) == set(risky.values())
    assert not set(found) & set(calm)
    assert found[risky["donor ack 10 min late"]]["owed"] == "acknowledge"
    day7 = found[risky["donor day 7 in 2 h"]]
    assert day7["owed"] == "cancel (DEFAULT_OPERATION) unless decided"
    assert day7["scheduled"].startswith("claim_deadline pending due ")
    assert found[risky["ownership day 30 passed"]]["time_left"].total_seconds() < 0
    assert found[risky["refund due in 4 h of 24"]]["machine"] == "refund"


def test_the_outbox_views_count_and_hide_customer_data(conn: Any) -> None:
    row(conn, "register_entry", None, "pending", deliver="now() - interval '3 minutes'")
    row(conn, "register_entry", None, "pending", deliver="now() + interval '1 day'")
    stale = row(conn, "register_entry", None, "dispatched", lease="now() - interval '4 minutes'")
    row(conn, "register_entry", None, "dispatched")
    event = row(
        conn,
        "publish_event",
        "claim:x",
        "failed",
        kind="event",
        args='{"topic": "claims.completed", "payload": {"key": "+5511999990000"}}',
    )

    backlog = listed(conn, "outbox_backlog", "actor")["register_entry"]
    dead = conn.execute("SELECT id, args FROM ops.dead_letters").fetchall()
    stale_rows = conn.execute("SELECT id, expired_for FROM ops.stale_leases").fetchall()

    assert {k: backlog[k] for k in ("due", "in_flight", "lease_expired", "dead", "waiting")} == {
        "due": 1,
        "in_flight": 2,
        "lease_expired": 1,
        "dead": 0,
        "waiting": 1,
    }
    assert 170 < backlog["oldest_due_age"].total_seconds() < 400
    assert dead == [{"id": event, "args": {"topic": "claims.completed"}}]
    assert [r["id"] for r in stale_rows] == [stale]
    assert stale_rows[0]["expired_for"].total_seconds() > 200


def test_the_claims_view_shows_the_next_period_and_what_is_scheduled(conn: Any) -> None:
    portability = claim(conn, "DONOR", "waiting_resolution", resolution_in="2 days")
    ownership = claim(
        conn,
        "CLAIMER",
        "confirmed",
        claim_type="OWNERSHIP",
        resolution_in="-2 days",
        validated=True,
    )
    done = claim(conn, "CLAIMER", "confirmed")
    conn.execute("UPDATE claims SET status = 'completed' WHERE id = %s", (done,))
    row(
        conn,
        "claim_deadline",
        f"claim:{ownership}",
        "pending",
        kind="timer",
        deliver="now() + interval '5 days'",
    )

    found = listed(conn, "claims", "id")

    assert set(map(str, found)) == {portability, ownership}
    p, o = found[uuid.UUID(portability)], found[uuid.UUID(ownership)]
    assert (p["next_deadline"], p["scheduled"]) == ("ResolutionPeriodEnd", None)
    assert o["next_deadline"] == "CompletionPeriodEnd"
    assert o["scheduled"].startswith("claim_deadline pending due ")


def test_the_latest_rate_limit_reading_per_policy(conn: Any) -> None:
    conn.execute(
        "INSERT INTO rate_limit_policies (name, scope, capacity, refill_tokens, refill_period_s,"
        " level, last_read_at, updated_at)"
        " VALUES ('ENTRIES_WRITE', 'PSP', 200, 10, 60, 'critical', date_trunc('minute', now()),"
        "         now()), ('KEYS_CHECK', 'PSP', 70, 70, 60, 'ok', NULL, now())"
    )
    conn.execute(
        "INSERT INTO rate_limit_readings (policy, read_at, available_tokens, capacity,"
        " refill_tokens, refill_period_s)"
        " VALUES ('ENTRIES_WRITE', date_trunc('minute', now()) - interval '1 minute', 90, 200,"
        "         10, 60),"
        "        ('ENTRIES_WRITE', date_trunc('minute', now()), 12, 200, 10, 60)"
    )

    found = listed(conn, "rate_limit_latest", "policy")

    assert (
        found["ENTRIES_WRITE"]["available_tokens"],
        str(found["ENTRIES_WRITE"]["pct_left"]),
    ) == (
        12,
        "6.0",
    )
    assert (found["KEYS_CHECK"]["available_tokens"], found["KEYS_CHECK"]["read_at"]) == (None, None)
