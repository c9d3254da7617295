"""The simulator as a process (``python -m simulator``) and its state directory."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.bridge.client import DictClient
from app.domain import problems
from simulator.admin_client import AdminClient
from simulator.server import start_in_thread
from tests.integration.bridge.builders import OTHER, OURS, create, entry, lookup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_module_serves_until_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    with (tmp_path / "simulator.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator",
                "--port",
                str(port),
                "--participants",
                "12345678:B,87654321",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        with AdminClient(f"127.0.0.1:{port}", timeout_s=2) as admin:
            participants = _when_up(admin, proc)
        assert [(p.ispb, p.category) for p in participants] == [
            ("12345678", "B"),
            ("87654321", "A"),
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, (tmp_path / "simulator.log").read_text()


def _when_up(admin: AdminClient, proc: subprocess.Popen[bytes]) -> list[object]:
    deadline = time.monotonic() + 20
    while True:
        try:
            return list(admin.list_participants())
        except problems.DictProblem:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.1)


def test_a_state_dir_keeps_the_dict_across_restarts(tmp_path: Path) -> None:
    handle = start_in_thread(state_dir=str(tmp_path))
    with DictClient(handle.address, OURS) as client:
        key = client.create_entry(create(entry("EMAIL"))).entry.entry.key
    handle.stop(0)
    again = start_in_thread(state_dir=str(tmp_path))
    try:
        with DictClient(again.address, OTHER) as client:
            assert client.get_entry(lookup(key)).entry.entry.key == key
    finally:
        again.stop(0)


def test_a_busy_port_is_refused() -> None:
    handle = start_in_thread()
    try:
        with pytest.raises(OSError):
            start_in_thread(handle.port)
    finally:
        handle.stop(0)
