"""API key format, scopes and hashing (no database)."""

from __future__ import annotations

import pytest

from app import security, settings
from app.security import ApiKey


def test_tokens_parse_into_prefix_and_secret() -> None:
    assert security.parse_token("dc_0a1b2c3d_" + "x" * 43) == ("0a1b2c3d", "x" * 43)
    assert security.parse_token("dc_0a1b2c3d_abc") is None  # secret too short
    assert security.parse_token("xx_0a1b2c3d_" + "x" * 43) is None
    assert security.parse_token("") is None


def test_scopes_are_normalised_and_checked() -> None:
    assert security.check_scopes([" entries:read", "admin", "entries:read"]) == [
        "admin",
        "entries:read",
    ]
    with pytest.raises(ValueError, match="malformed"):
        security.check_scopes(["Entries Read"])
    with pytest.raises(ValueError, match="at least one"):
        security.check_scopes([" "])


def test_the_hash_depends_on_the_pepper(monkeypatch) -> None:
    monkeypatch.setenv("API_KEY_PEPPER", "one")
    settings.reset()
    first = security.hash_secret("s3cret")
    monkeypatch.setenv("API_KEY_PEPPER", "two")
    settings.reset()

    assert security.hash_secret("s3cret") != first
    assert len(first) == 32
    monkeypatch.undo()
    settings.reset()


def test_admin_allows_every_scope() -> None:
    assert ApiKey(1, "a", frozenset({"admin"})).allows("claims:write")
    assert ApiKey(1, "r", frozenset({"entries:read"})).allows("entries:read")
    assert not ApiKey(1, "r", frozenset({"entries:read"})).allows("entries:write")
