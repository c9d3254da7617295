"""The lookups' Redis copies follow our entries and claims: every change is noted by a
trigger in its own transaction and applied by the cron, never lost, even when Redis
is down or loses everything."""

from __future__ import annotations

import hashlib

import pytest
import redis as redis_lib

from app import db, outbox
from app.lookups import index, keys
from statemachines import entry
from tests.integration.lookups.conftest import World


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def notes(conn: db.Conn) -> list[tuple[bytes, bool | None]]:
    rows = conn.execute("SELECT key_hash, held FROM lookup_key_changes ORDER BY seq").fetchall()
    return [(bytes(r["key_hash"]), r["held"]) for r in rows]


@pytest.fixture
def r(redis_url: str) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(redis_url)


def test_registering_and_deleting_our_key_moves_it_in_and_out_of_the_index(
    world: World, r: redis_lib.Redis
) -> None:
    entry_id, key, _ = world.our_key(1)
    with db.pool().connection() as conn:
        assert notes(conn) == [(digest(key), True)]
        assert index.refresh(conn, r) == (True, 1)  # first run: built, then the note
        assert notes(conn) == []
    assert r.sismember(keys.OWN, digest(key))
    assert r.get(keys.existence(digest(key))).startswith(b"1|")

    with outbox.step(actor="test") as s:
        entry.request_delete(s, entry_id, "USER_REQUESTED")
    world.run_due()
    with db.pool().connection() as conn:
        assert notes(conn) == [(digest(key), False)]
        assert index.refresh(conn, r) == (False, 1)
    assert not r.sismember(keys.OWN, digest(key))
    assert r.get(keys.existence(digest(key))) is None


def test_a_claim_on_a_key_drops_its_cached_answers(world: World, r: redis_lib.Redis) -> None:
    world.they_hold("+5521920000001", "52998224725")
    r.set(keys.answer(digest("+5521920000001"), False), b"1|{}")
    r.set(keys.answer(digest("+5521920000001"), True), b"1|{}")
    world.submit("PORTABILITY", "+5521920000001", "52998224725")
    with db.pool().connection() as conn:
        assert (digest("+5521920000001"), None) in notes(conn)
        index.refresh(conn, r)
    assert r.get(keys.answer(digest("+5521920000001"), False)) is None
    assert r.get(keys.answer(digest("+5521920000001"), True)) is None


def test_notes_wait_while_redis_is_down_and_a_lost_index_is_rebuilt(
    world: World, r: redis_lib.Redis
) -> None:
    _, first, _ = world.our_key(1)
    dead = redis_lib.Redis(port=1, socket_connect_timeout=0.2)
    with db.pool().connection() as conn:
        with pytest.raises(redis_lib.ConnectionError):
            index.refresh(conn, dead)
        assert notes(conn) == [(digest(first), True)]  # kept for the next run
        index.refresh(conn, r)
    _, second, _ = world.our_key(2)
    r.flushdb()  # Redis restarted empty
    with db.pool().connection() as conn:
        rebuilt, _ = index.refresh(conn, r)
    assert rebuilt
    assert r.smembers(keys.OWN) == {digest(first), digest(second)}
    assert r.exists(keys.OWN_BUILT)
