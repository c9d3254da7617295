"""state_history by month (migration 0022, issue 16): the conversion of a table that holds
rows, the daily maintenance with the clock moved (the next months made, the old archived
then dropped), a change in a month with no partition, and the API's history unchanged."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from app import clock, db, outbox, settings
from app.api.app import create_app
from app.migrate import apply, migrations
from app.repo import spine
from app.security import create_api_key
from tests.conftest import ADMIN_URL

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2031, 1, 15, 4, 17, tzinfo=UTC)
READER = "history_reader"
CONVERSION = "0022_history_partitions.sql"


def partitions(conn: psycopg.Connection[Any], schema: str = "public") -> list[str]:
    """The month tables of state_history in ``schema`` (public: attached ones)."""
    if schema == "public":
        sql = (
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'state_history'::regclass ORDER BY 1"
        )
        return [r["relname"] for r in conn.execute(sql)]
    sql = "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace ORDER BY 1"
    return [r["relname"] for r in conn.execute(sql, (schema,))]


def change(conn: psycopg.Connection[Any], subject: str, to: str, at: datetime) -> None:
    """One history row as record_transition() writes it."""
    conn.execute(
        "INSERT INTO state_history (machine, subject_id, from_status, to_status, trigger,"
        " actor, at) VALUES ('entry', %s, 'active', %s, 'update', 'worker', %s)",
        (subject, to, at),
    )


def maintain() -> None:
    from actors.spine import maintenance

    maintenance.fn()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with db.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def old_database() -> Iterator[str]:
    """A database migrated up to 0021: state_history as it was before 0022."""
    name = f"dc_test_hist_{uuid.uuid4().hex[:8]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with db.connect(url, autocommit=True) as conn:
            conn.execute(db.q("migrate.ensure_table"))
            for file, text in migrations().items():
                if file < CONVERSION:
                    apply(conn, file, text.read_text(encoding="utf-8"), "before")
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_converts_a_table_that_holds_rows(old_database: str) -> None:
    months = [datetime(2026, 1, 31, 23, 59, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)]
    with db.connect(old_database, autocommit=True) as conn:
        conn.execute(
            f"DO $$ BEGIN CREATE ROLE {READER} NOLOGIN; EXCEPTION"
            " WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        conn.execute(f"GRANT SELECT, INSERT ON state_history TO {READER}")
        for at in months:
            change(conn, "e1", "updating", at)
            change(conn, "e2", "updating", at)
        with conn.transaction():  # a change rolled back: its id is never given again
            change(conn, "e1", "deleting", months[1])
            raise psycopg.Rollback()
        taken = conn.execute("SELECT last_value FROM state_history_id_seq").fetchone()
        before = spine.history(conn, "entry", "e1")
        ids = [r["id"] for r in conn.execute("SELECT id FROM state_history ORDER BY id")]

        apply(conn, CONVERSION, migrations()[CONVERSION].read_text(encoding="utf-8"), "c")

        assert spine.history(conn, "entry", "e1") == before
        assert [r["id"] for r in conn.execute("SELECT id FROM state_history ORDER BY id")] == ids
        now = datetime.now(UTC)
        ahead = [now.replace(day=1) + timedelta(days=31 * i) for i in range(4)]
        assert partitions(conn) == sorted(
            {"state_history_default", "state_history_y2026m01", "state_history_y2026m03"}
            | {f"state_history_y{m:%Y}m{m:%m}" for m in ahead}
        )
        change(conn, "e1", "deleting", now)
        new = conn.execute("SELECT max(id) AS id FROM state_history").fetchone()
        assert taken is not None and new is not None
        assert new["id"] == taken["last_value"] + 1
        granted = conn.execute(
            "SELECT has_table_privilege(%s, 'state_history', 'SELECT') AS s,"
            " has_table_privilege(%s, 'state_history', 'INSERT') AS i,"
            " to_regclass('state_history_unpartitioned') AS old",
            (READER, READER),
        ).fetchone()
        assert granted == {"s": True, "i": True, "old": None}


def months_of(names: list[str], year: str) -> list[str]:
    """``yYYYYmMM`` of the partitions of ``year`` (the template has this month's, too)."""
    return [n[-8:] for n in names if n[-8:-3] == f"y{year}"]


def test_maintenance_makes_the_next_months_archives_and_drops(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.execute(
        f"DO $$ BEGIN CREATE ROLE {READER} NOLOGIN; EXCEPTION"
        " WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    conn.execute(f"GRANT SELECT ON state_history TO {READER}")
    with clock.freeze(NOW):
        maintain()
    assert months_of(partitions(conn), "2031") == ["y2031m01", "y2031m02", "y2031m03", "y2031m04"]
    change(conn, "e1", "updating", NOW + timedelta(days=5))
    change(conn, "e1", "deleting", NOW + timedelta(days=20))  # February

    monkeypatch.setenv("HISTORY_RETENTION_MONTHS", "2")
    monkeypatch.setenv("HISTORY_ARCHIVE_MONTHS", "3")
    settings.reset()
    with clock.freeze(datetime(2031, 4, 2, 4, 17, tzinfo=UTC)):  # January ended 2 months ago
        maintain()
    assert months_of(partitions(conn), "2031") == [f"y2031m0{m}" for m in range(2, 8)]
    assert months_of(partitions(conn, "archive"), "2031") == ["y2031m01"]
    archived = conn.execute("SELECT to_status FROM archive.state_history_y2031m01").fetchall()
    assert archived == [{"to_status": "updating"}]
    assert [h.to_status for h in spine.history(conn, "entry", "e1")] == ["deleting"]
    readable = conn.execute(
        "SELECT has_table_privilege(%s, 'archive.state_history_y2031m01', 'SELECT') AS t,"
        " has_schema_privilege(%s, 'archive', 'USAGE') AS s",
        (READER, READER),
    ).fetchone()
    assert readable == {"t": True, "s": True}

    with clock.freeze(datetime(2031, 7, 2, 4, 17, tzinfo=UTC)):  # no run for three months
        maintain()
    assert months_of(partitions(conn), "2031") == [
        *(f"y2031m0{m}" for m in range(5, 10)),
        "y2031m10",
    ]
    # January's month ended 5 months ago (2 live + 3 archived): dropped; 02-04 archived.
    assert months_of(partitions(conn, "archive"), "2031") == ["y2031m02", "y2031m03", "y2031m04"]


def test_it_is_idempotent_and_safe_with_two_schedulers(database_url: str) -> None:
    done: list[spine.Partition] = []

    def run() -> None:
        with db.pool().connection() as c:
            done.extend(spine.keep_history_partitions(c, NOW, 60, 0))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.partition_name for p in done) == [
        f"state_history_y2031m0{m}" for m in (1, 2, 3, 4)
    ]
    with db.pool().connection() as c:
        assert spine.keep_history_partitions(c, NOW, 60, 0) == []


def test_a_change_in_a_month_with_no_partition_succeeds_and_the_api_reads_it_the_same(
    database_url: str, redis_url: str
) -> None:
    from statemachines import claim_steps

    far = datetime(2040, 5, 6, 7, 8, tzinfo=UTC)  # no partition: 3 months ahead at most
    with clock.freeze(far), outbox.step(actor="test") as s:
        row = claim_steps.submit(
            s,
            {
                "type": "PORTABILITY",
                "key": "+5561988880000",
                "key_type": "PHONE",
                "claimer_participant": settings.bridge().participant,
                "claimer_branch": "1",
                "claimer_account_number": "777",
                "claimer_account_type": "CACC",
                "claimer_opening_date": datetime(2020, 3, 1, 3, tzinfo=UTC),
                "claimer_type": "NATURAL_PERSON",
                "claimer_tax_id": "11144477735",
                "claimer_name": "Maria da Silva",
                "claimer_trade_name": None,
            },
        )
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(conn, "history", ["claims:read"])
    where = "SELECT tableoid::regclass::text AS p FROM state_history WHERE subject_id = %s"
    with TestClient(create_app()) as api:
        api.headers["Authorization"] = f"Bearer {key}"
        before = api.get(f"/v1/claims/{row.id}").json()["history"]
        with db.pool().connection() as conn:
            assert conn.execute(where, (str(row.id),)).fetchone() == {"p": "state_history_default"}
        with clock.freeze(far):
            maintain()  # the month's partition made, the row moved into it
        with db.pool().connection() as conn:
            moved = conn.execute(where, (str(row.id),)).fetchone()
        assert moved == {"p": "state_history_y2040m05"}
        assert api.get(f"/v1/claims/{row.id}").json()["history"] == before
    assert [(h["from_status"], h["to_status"], h["at"]) for h in before] == [
        (None, "submitting", "2040-05-06T07:08:00Z")
    ]


def test_the_runbook_reads_a_subjects_archived_history(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    runbook = (ROOT / "docs" / "runbooks" / "processes.md").read_text()
    (block,) = [b for b in re.findall(r"```sql\n(.*?)```", runbook, re.S) if "gexec" in b]
    subject = "00000000-0000-0000-0000-0000000000c1"
    with clock.freeze(NOW):
        maintain()
    for at, to in ((NOW, "open"), (NOW + timedelta(days=20), "confirmed")):
        conn.execute(
            "INSERT INTO state_history (machine, subject_id, to_status, trigger, actor, at)"
            " VALUES ('claim', %s, %s, 'poll', 'worker', %s)",
            (subject, to, at),
        )
    spine.keep_history_partitions(conn, datetime(2031, 4, 2, tzinfo=UTC), 2, 0)
    out = subprocess.run(
        ["psql", database_url, "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t"],
        input=block,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split("|")[:3] for line in out if line] == [
        ["", "confirmed", "poll"],  # February's, live
        ["state_history_y2031m01", "", "open"],  # January's, archived
    ]
