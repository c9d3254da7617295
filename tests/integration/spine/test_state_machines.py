"""The state_transitions mirror, the SQL guard and the history it writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from app import db
from app.migrate import migrate
from statemachines import registry


def _insert_entry(conn: psycopg.Connection, status: str = "registering") -> uuid.UUID:
    entry_id = uuid.uuid4()
    conn.execute(
        db.q("entries.insert"),
        {
            "id": entry_id,
            "key": f"+55119{uuid.uuid4().int % 10**8:08d}",
            "key_type": "PHONE",
            "status": status,
            "participant": "12345678",
            "branch": "1",
            "account_number": "123",
            "account_type": "CACC",
            "opening_date": datetime(2020, 1, 1, tzinfo=UTC),
            "owner_type": "NATURAL_PERSON",
            "owner_tax_id": "52998224725",
            "owner_name": "Ana",
            "owner_trade_name": None,
            "request_id": uuid.uuid4(),
            "now": datetime.now(UTC),
        },
    )
    return entry_id


def test_the_sql_mirror_equals_the_declarations(database_url: str) -> None:
    with db.connect(database_url) as conn:
        edges = {
            (r["machine"], r["trigger"], r["from_status"], r["to_status"])
            for r in conn.execute(db.q("migrate.transitions"))
        }
        states = {
            (r["machine"], r["status"], r["initial"]) for r in conn.execute(db.q("migrate.states"))
        }
    assert edges == {(s.name, *e) for s in registry.MACHINES.values() for e in s.edges()}
    assert states == {
        (s.name, st, st in s.initial) for s in registry.MACHINES.values() for st in s.states
    }


def test_migrate_twice_applies_nothing_the_second_time(database_url: str) -> None:
    assert migrate(database_url) == []


def test_psql_update_to_an_illegal_status_is_rejected(database_url: str) -> None:
    with db.connect(database_url, autocommit=True) as conn:
        entry_id = _insert_entry(conn)
        with pytest.raises(
            psycopg.errors.CheckViolation, match="illegal transition registering -> deleted"
        ):
            conn.execute("UPDATE entries SET status = 'deleted' WHERE id = %s", (entry_id,))
        status = conn.execute("SELECT status FROM entries WHERE id = %s", (entry_id,)).fetchone()
    assert status == {"status": "registering"}


def test_an_illegal_initial_status_is_rejected(database_url: str) -> None:
    with (
        db.connect(database_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.CheckViolation, match="illegal initial status active"),
    ):
        _insert_entry(conn, status="active")


def test_a_manual_legal_change_is_recorded_with_its_author(database_url: str) -> None:
    with db.connect(database_url, autocommit=True) as conn:
        entry_id = _insert_entry(conn)
        conn.execute("UPDATE entries SET status = 'rejected' WHERE id = %s", (entry_id,))
        history = conn.execute(
            db.q("spine.history"), {"machine": "entry", "subject_id": str(entry_id)}
        ).fetchall()
    assert [(h["from_status"], h["to_status"], h["trigger"], h["actor"]) for h in history] == [
        (None, "registering", "manual", "postgres"),
        ("registering", "rejected", "manual", "postgres"),
    ]


def test_a_tagged_change_must_use_a_declared_trigger(database_url: str) -> None:
    with db.connect(database_url) as conn:
        entry_id = _insert_entry(conn)
        conn.commit()
        db.set_tags(conn, actor="worker", trigger="registered", reason="test")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE entries SET status = 'rejected' WHERE id = %s", (entry_id,))


def test_an_insert_skipped_on_conflict_leaves_no_history(database_url: str) -> None:
    with db.connect(database_url, autocommit=True) as conn:
        entry_id = _insert_entry(conn)
        conn.execute(
            "INSERT INTO entries SELECT * FROM entries WHERE id = %s ON CONFLICT (id) DO NOTHING",
            (entry_id,),
        )
        history = conn.execute(
            db.q("spine.history"), {"machine": "entry", "subject_id": str(entry_id)}
        ).fetchall()
    assert len(history) == 1


def test_an_edited_applied_migration_stops_migrate(database_url: str) -> None:
    from app.migrate import MigrationChanged

    with db.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0001_spine.sql'"
        )
    with pytest.raises(MigrationChanged, match=r"0001_spine\.sql"):
        migrate(database_url)
