"""Which scopes a key may hold, and which pepper the API may start with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.handlers import HTTPRouteHandler

from app import logging as app_logging
from app import security, settings
from app.api.app import resource_controllers
from app.cli import main
from app.dev import child_env


def _required_scopes() -> set[str]:
    scopes = set()
    for controller in resource_controllers():
        handlers = [h for h in vars(controller).values() if isinstance(h, HTTPRouteHandler)]
        at_class = getattr(controller, "guards", None)  # a slot descriptor when not set
        at_class = at_class if isinstance(at_class, list | tuple) else []
        for guard in [*at_class, *(g for h in handlers for g in h.guards or [])]:
            if scope := getattr(guard, "required_scope", None):
                scopes.add(scope)
    return scopes


def test_every_scope_a_route_requires_is_a_known_scope() -> None:
    required = _required_scopes()

    assert {"entries:read", "entries:write", "claims:read", "claims:write"} <= required
    assert required <= set(security.KNOWN_SCOPES)


def test_unknown_scopes_are_refused_with_the_list_of_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown scope") as refused:
        security.check_scopes(["entries:read", "entries:reed"])

    assert "entries:reed" in str(refused.value)
    assert ", ".join(security.KNOWN_SCOPES) in str(refused.value)


def test_a_scope_declared_by_a_guard_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.api.auth import requires

    monkeypatch.setattr(security, "_DECLARED", set(security._DECLARED))  # undone after
    requires("reports:read")

    assert security.check_scopes(["reports:read"]) == ["reports:read"]
    with pytest.raises(ValueError, match="malformed"):
        requires("Reports Read")


# The pepper


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """No pepper and no DICT_CONNECT_ENV; uvicorn.run and logging replaced: the
    calls to uvicorn.run are recorded, so nothing is served."""
    import uvicorn

    runs: list[Any] = []
    monkeypatch.delenv("API_KEY_PEPPER", raising=False)
    monkeypatch.delenv("DICT_CONNECT_ENV", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: runs.append((a, k)))
    monkeypatch.setattr(app_logging, "configure_logging", lambda *a, **k: None)
    settings.reset()
    yield runs
    settings.reset()


def test_the_api_refuses_to_start_with_the_default_pepper(api_env, capsys) -> None:
    assert main(["api", "--port", "1"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dict-connect api: API_KEY_PEPPER ")
    assert api_env == []


def test_the_api_refuses_an_empty_pepper_even_in_dev(api_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("API_KEY_PEPPER", "")
    monkeypatch.setenv("DICT_CONNECT_ENV", "dev")
    settings.reset()

    assert main(["api", "--port", "1"]) == 2
    assert "API_KEY_PEPPER is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    "env",
    [{"API_KEY_PEPPER": "a-secret-of-our-own"}, {"DICT_CONNECT_ENV": "dev"}],
    ids=["own pepper", "dev"],
)
def test_the_api_starts_with_its_own_pepper_or_in_dev(api_env, monkeypatch, env) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.reset()

    assert main(["api", "--port", "1"]) == 0
    assert len(api_env) == 1


def test_dict_connect_dev_runs_its_processes_as_dev(tmp_path: Path) -> None:
    env = child_env({}, state=tmp_path, db_url="postgresql://x", redis_url="redis://x", sim_port=1)

    assert env["DICT_CONNECT_ENV"] == "dev"
