"""A key revoked with ``dict-connect apikey revoke`` is answered 401 from then on.

An API process trusts a key it verified for ``auth.CACHE_SECONDS``; the cache's
clock is moved here instead of waiting it out.
"""

from __future__ import annotations

import pytest

from app.api import auth
from app.cli import main
from tests.integration.api.conftest import bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(auth.cache, "clock", clock)
    return clock


def test_a_key_revoked_before_use_is_refused_at_once(client, make_key, capsys) -> None:
    key = make_key("test:read", name="leaked")

    assert main(["apikey", "revoke", "leaked"]) == 0
    capsys.readouterr()

    r = client.get("/test/read", headers=bearer(key))
    assert r.status_code == 401
    assert r.json()["detail"] == "the API key is unknown or revoked"


def test_a_key_in_use_is_refused_once_the_cache_period_ends_and_ever_after(
    client, make_key, capsys, cache_clock
) -> None:
    key, other = make_key("test:read", name="leaked"), make_key("test:read", name="kept")
    assert client.get("/test/read", headers=bearer(key)).status_code == 200

    assert main(["apikey", "revoke", key.split("_")[1]]) == 0  # by prefix
    capsys.readouterr()
    assert client.get("/test/read", headers=bearer(key)).status_code == 200  # still cached
    cache_clock.now += auth.CACHE_SECONDS + 0.001

    for _ in range(3):
        assert client.get("/test/read", headers=bearer(key)).status_code == 401
        cache_clock.now += auth.CACHE_SECONDS + 0.001
    assert client.get("/test/read", headers=bearer(other)).status_code == 200


def test_a_key_verified_before_a_database_outage_is_trusted_through_it_for_a_while(
    client, make_key, cache_clock, monkeypatch
) -> None:
    """Key lookups answer from the DICT and Redis: a PostgreSQL outage must not stop them
    at authentication. A key verified within STALE_SECONDS keeps working; an unknown
    one, or one verified longer ago, gets the 503 the outage causes."""
    import psycopg

    key, other = make_key("test:read", name="in-use"), make_key("test:read", name="idle")
    assert client.get("/test/read", headers=bearer(key)).status_code == 200

    def down(token: str) -> None:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(auth, "_verify", down)
    cache_clock.now += auth.CACHE_SECONDS + 1
    assert client.get("/test/read", headers=bearer(key)).status_code == 200
    assert client.get("/test/read", headers=bearer(other)).status_code == 503
    cache_clock.now += auth.STALE_SECONDS
    assert client.get("/test/read", headers=bearer(key)).status_code == 503
