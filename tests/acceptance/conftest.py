"""api + worker + simulator as real processes, on a fresh database and Redis db.

Time is moved, never waited for: our processes share a clock offset file
(CLOCK_OFFSET_FILE) and the simulator has its own clock, moved through its admin
service.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import db, settings

OUR_ISPB = "12345678"
OTHER_ISPB = "87654321"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any], timeout: float = 60, every: float = 0.2, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until truthy (processes run in real time; this is no clock sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    output: Any = None
    module: str = "app.cli"
    """What ``python -m`` runs: the CLI, or e.g. ``dramatiq`` for a worker a test builds."""

    def start(self) -> None:
        if self.output is None:
            self.output = self.log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@dataclass
class Stack:
    api_url: str
    sim_address: str
    database_url: str
    redis_url: str
    clock_file: Path
    api_key: str
    procs: dict[str, Proc] = field(default_factory=dict)

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, timeout=30, headers={"Authorization": f"Bearer {self.api_key}"}
        )

    def admin(self) -> Any:
        from simulator.admin_client import AdminClient

        return AdminClient(self.sim_address)

    def dict_as(self, participant: str) -> Any:
        from app.bridge.client import DictClient

        return DictClient(self.sim_address, participant)

    def advance_our_clock(self, seconds: float) -> None:
        from app import clock

        current = float(self.clock_file.read_text() or 0)
        clock.set_file_offset(str(self.clock_file), current + seconds)

    def advance(self, seconds: float) -> None:
        """Move both clocks: ours (every process) and the simulated DICT's."""
        self.advance_our_clock(seconds)
        self.admin().advance_clock(seconds)

    def poll(self) -> int:
        """One claims poll, as the scheduler's cron would run it."""
        from actors.polling import poll

        return poll()

    def relay(self) -> int:
        """One relay tick, as the scheduler's cron would run it."""
        from app import outbox

        return outbox.relay_tick()

    def query(self, sql_name: str, **params: Any) -> list[dict[str, Any]]:
        with db.connect(self.database_url) as conn:
            return conn.execute(db.q(sql_name), params).fetchall()


@pytest.fixture
def stack(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    from app.security import cli_create

    clock_file = tmp_path / "clock-offset"
    clock_file.write_text("0\n")
    monkeypatch.setenv("CLOCK_OFFSET_FILE", str(clock_file))
    sim_port, api_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BRIDGE_ADDRESS": f"127.0.0.1:{sim_port}",
        "PARTICIPANT_ISPB": OUR_ISPB,
        "CLOCK_OFFSET_FILE": str(clock_file),
        "PYTHONUNBUFFERED": "1",
        "BRIDGE_BREAKER_RESET_S": "1",
        "DICT_CONNECT_ENV": "dev",  # the API accepts the development API_KEY_PEPPER
        "HEALTH_PORT": "0",  # off: several stacks share this host; a test sets its own
        "METRICS_PORT": "0",
    }
    worker_env = {**env, "HEALTH_PORT": str(_free_port()), "METRICS_PORT": str(_free_port())}
    monkeypatch.setenv("BRIDGE_ADDRESS", env["BRIDGE_ADDRESS"])
    monkeypatch.setenv("PARTICIPANT_ISPB", OUR_ISPB)
    settings.reset()
    from actors.entries import client
    from app import queue

    queue.broker.cache_clear()
    client.cache_clear()
    api_key = cli_create("acceptance", ["admin"])
    s = Stack(
        f"http://127.0.0.1:{api_port}",
        f"127.0.0.1:{sim_port}",
        database_url,
        redis_url,
        clock_file,
        api_key,
    )
    s.procs = {
        "simulator": Proc(
            "simulator",
            [
                "simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(sim_port),
                "--participants",
                f"{OUR_ISPB}:A,{OTHER_ISPB}:A",
            ],
            env,
            tmp_path / "simulator.log",
        ),
        "api": Proc("api", ["api", "--port", str(api_port)], env, tmp_path / "api.log"),
        "worker": Proc(
            "worker",
            ["worker", "--processes", "1", "--threads", "8"],
            worker_env,
            tmp_path / "worker.log",
        ),
    }
    for p in s.procs.values():
        p.start()
    try:
        wait_until(lambda: _ready(s.api_url), timeout=60, what="the API to be ready")
        yield s
    finally:
        for p in s.procs.values():
            p.stop()
            if p.output is not None:
                p.output.close()
        queue.broker.cache_clear()
        client.cache_clear()
        for p in s.procs.values():
            tail = p.log.read_text(errors="replace")[-3000:] if p.log.exists() else ""
            if tail:
                print(f"----- {p.name} log (tail) -----\n{tail}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
