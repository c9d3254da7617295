"""``dict-connect worker`` and ``dict-connect scheduler`` log redacted JSON, every line.

The worker runs as in production: Dramatiq's main process forks a worker process,
which boots, imports ``actors`` and runs the message. The message's actor fails
(its arguments do not fit), and its arguments hold a tax id, a name and a phone key:
Dramatiq logs a failed message with its arguments, and the actor logs them at DEBUG.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
import redis as redis_lib
from dramatiq.brokers.redis import RedisBroker

from tests.conftest import REDIS_URL

TAX_ID, NAME, PHONE = "52998224725", "Maria da Silva", "+5561988880000"
WAIT_S = 20
"""A guard against a hang, not a measure: each step ends on the line it waits for."""


class Output:
    """A process's merged stdout and stderr, line by line, read by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_for(self, wanted: Callable[[str], bool], what: str) -> str:
        """The first line from now on that is ``wanted``."""
        while True:
            try:
                line = self._new.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"no {what} in:\n" + "\n".join(self.lines)) from None
            if line is None:
                raise AssertionError(f"exited before {what}:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if wanted(line):
                return line

    def stop(self) -> list[str]:
        """SIGTERM the process group; every line it wrote."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        while (line := self._new.get(timeout=WAIT_S)) is not None:
            self.lines.append(line)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return self.lines


@pytest.fixture
def own_redis_url(redis_url: str) -> Iterator[str]:
    """A Redis database of this module's own (the test database's number + 5): the
    worker takes every message on its queues, and other test runs sharing the test
    Redis (and their workers) must neither take this test's message nor give theirs."""
    base, _, number = REDIS_URL.rpartition("/")
    url = f"{base}/{(int(number or 0) + 5) % 16}"
    client = redis_lib.Redis.from_url(url, socket_timeout=3)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def _parsed(lines: list[str]) -> list[dict[str, Any]]:
    docs = []
    for line in lines:
        try:
            docs.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return docs


def _no_customer_data(lines: list[str]) -> None:
    for line in lines:
        assert TAX_ID not in line and NAME not in line and PHONE not in line, line


def test_the_worker_logs_a_failed_message_as_json_without_its_arguments(
    database_url: str, own_redis_url: str
) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": own_redis_url, "LOG_LEVEL": "DEBUG"}
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="dict",
        actor_name="register_entry",
        args=(str(uuid.uuid4()), NAME),
        kwargs={"owner": {"tax_id": TAX_ID, "name": NAME}, "key": PHONE},
        options={},
    )
    broker = RedisBroker(url=own_redis_url)
    broker.declare_queue("dict")
    broker.enqueue(message)  # waits in Redis for the worker
    broker.close()

    worker = Output(["worker", "--processes", "1", "--threads", "1"], env)
    try:
        failed = worker.wait_for(lambda line: "Failed to process message" in line, "failure")
    finally:
        lines = worker.stop()

    docs = _parsed(lines)
    _no_customer_data(lines)
    assert json.loads(failed)["msg"] == (
        "Failed to process message register_entry(<4 args>) with unhandled exception."
    )
    assert json.loads(failed)["message_id"] == message.message_id
    assert "TypeError" in json.loads(failed)["exc"]
    assert {doc["process"] for doc in docs} == {"worker"}
    said = {doc["msg"] for doc in docs}
    assert "Received args=<2 args> kwargs=<2 args>." in said  # the actor's DEBUG line
    assert any(m.startswith("Dramatiq") and "booting up" in m for m in said)  # main process
    assert "Worker process is ready for action." in said  # the forked worker process


def test_the_scheduler_logs_json(database_url: str, own_redis_url: str) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": own_redis_url}
    scheduler = Output(["scheduler"], env)
    try:
        scheduler.wait_for(lambda line: "actors.spine:relay@cron" in line, "the relay cron")
    finally:
        lines = scheduler.stop()

    docs = _parsed(lines)
    assert {doc["process"] for doc in docs} == {"scheduler"}
    assert any(doc["logger"] == "periodiq" for doc in docs)
