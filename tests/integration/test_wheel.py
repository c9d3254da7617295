"""The wheel installs anywhere: built from the sources, installed into a fresh
virtualenv in a temporary directory that cannot see this repository, it migrates a
fresh database (the SQL travels inside it) and serves the API.

The wheel's dependencies come from the package index (pip's cache makes it quick).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from app import db
from tests.conftest import ADMIN_URL, REDIS_URL, _unavailable, _url

ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _packages() -> list[str]:
    """The top-level folders the wheel is built from (pyproject's package discovery)."""
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    return [pattern.rstrip("*") for pattern in include]


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A virtualenv outside the repository with the wheel installed, and the environment
    to run it in (no PYTHONPATH, the venv first on PATH)."""
    tmp = tmp_path_factory.mktemp("wheel")
    assert ROOT not in tmp.resolve().parents
    # The sources the Dockerfile's build stage copies, and nothing else of the checkout
    # (a build in place would also leave build/ and *.egg-info behind in it).
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in _packages():
        shutil.copytree(
            ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "COV_CORE_", "VIRTUAL_ENV", "PYTEST_"))
    }
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        cwd=tmp,
        env=env,
        timeout=PIP_TIMEOUT_S,
    )
    (wheel,) = (tmp / "dist").glob("dict_connect-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp, env=env)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    installing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
        check=False,
    )
    if installing.returncode != 0:
        message = f"pip install of the wheel failed:\n{installing.stdout}\n{installing.stderr}"
        if os.environ.get("CI") != "true" and "Could not find a version" in installing.stderr:
            pytest.skip(f"the package index is not reachable: {message}")
        pytest.fail(message)
    yield wheel, env


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database (not migrated), dropped afterwards."""
    name = f"dc_wheel_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_wheel_holds_the_code_the_contracts_and_the_sql(
    installed: tuple[Path, dict[str, str]],
) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("migrations", "queries"):
        for path in db.sql_files(kind):
            assert f"sql/{kind}/{path.name}" in names
    assert {"app/bridge/dict_bridge.proto", "simulator/admin.proto", "simulator/ctl.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "docs/", "compose/"))]


def test_the_installed_program_migrates_a_fresh_database_and_serves_the_api(
    installed: tuple[Path, dict[str, str]], fresh_database: str
) -> None:
    wheel, env = installed
    tmp = wheel.parent.parent
    venv = tmp / "venv"
    env = {**env, "DATABASE_URL": fresh_database, "REDIS_URL": REDIS_URL}

    # Everything comes from the new venv's site-packages, nothing from the checkout.
    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sys, app, sql, simulator, statemachines, actors\n"
            "from app import db\n"
            "print(sys.prefix)\n"
            "for m in (app, sql, simulator, statemachines, actors): print(m.__file__)\n"
            "print(db.SQL)",
        ],
        cwd=tmp,
        env=env,
    ).splitlines()
    assert Path(where[0]).resolve() == venv.resolve()
    site = venv.resolve() / "lib"
    for path in where[1:]:
        assert site in Path(path).resolve().parents, path
        assert ROOT not in Path(path).resolve().parents, path

    migrations = [p.name for p in db.sql_files("migrations")]
    out = _run(["dict-connect", "migrate"], cwd=tmp, env=env)
    assert out.strip() == f"applied {len(migrations)} migration(s): {', '.join(migrations)}"
    with psycopg.connect(fresh_database) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert applied == migrations

    port = _free_port()
    api = subprocess.Popen(
        ["dict-connect", "api", "--port", str(port)],
        cwd=tmp,
        env={**env, "DICT_CONNECT_ENV": "dev"},  # the development API_KEY_PEPPER will do
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, api.communicate()[0]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the installed API never answered /health"
            time.sleep(0.2)  # ok: waiting for a real process to answer, not a timer
        assert health.json()["status"] in {"ok", "degraded"}
    finally:
        api.terminate()
        output = api.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def test_the_installed_simulator_and_a_missing_local_extra(
    installed: tuple[Path, dict[str, str]], fresh_database: str
) -> None:
    wheel, env = installed
    tmp = wheel.parent.parent
    assert _run(["dict-connect", "simulator", "--help"], cwd=tmp, env=env).startswith(
        "usage: dict-connect simulator"
    )
    assert _run(["dict-connect", "sim", "--help"], cwd=tmp, env=env).startswith(
        "usage: dict-connect sim"
    )
    # Without the local extra, dev needs servers that answer, and says how to get its own.
    dead_redis = f"redis://127.0.0.1:{_free_port()}/0"
    dev = subprocess.run(
        ["dict-connect", "dev", "--state-dir", str(tmp / "state")],
        cwd=tmp,
        env={**env, "DATABASE_URL": fresh_database, "REDIS_URL": dead_redis},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dev.returncode == 2, dev.stdout + dev.stderr
    assert "Traceback" not in dev.stderr
    assert dev.stderr.strip().splitlines() == [
        "dict-connect dev: no Redis to use (REDIS_URL unset or not answering) and the "
        "embedded one is not installed: pip install 'dict-connect[local]'"
    ]
