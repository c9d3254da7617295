"""SIGTERM, as Kubernetes sends it to a pod's process: intake stops, work in flight
finishes within the process's shutdown timeout, and what could not finish is taken up
again by the outbox, once.

The signal goes to the process itself (a container's PID 1), not to its group: the
worker's main process passes it on to the processes it started. The DICT is slowed
with the simulator's latency fault so that the signal lands during a call.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import redis as redis_lib

from app import db, outbox
from app.cli import SHUTDOWN_TIMEOUT_S
from tests.acceptance.conftest import Proc, Stack, _free_port, wait_until
from tests.acceptance.test_entries import entry_body, register
from tests.acceptance.test_lookups import lookup, theirs


def sample(url: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus text exposition (0 when absent)."""
    for line in httpx.get(url, timeout=5).text.splitlines():
        metric, _, value = line.rpartition(" ")
        if metric.split("{")[0] == name and all(f'{k}="{v}"' in metric for k, v in labels.items()):
            return float(value)
    return 0.0


def replace(stack: Stack, name: str, args: list[str], **env: str) -> Proc:
    """Stop the stack's ``name`` process and start ``args`` in its place."""
    old = stack.procs[name]
    old.stop()
    proc = Proc(name, args, {**old.env, **env}, old.log)
    proc.output = old.output
    stack.procs[name] = proc
    proc.start()
    return proc


def sigterm(proc: Proc) -> float:
    assert proc.popen is not None
    os.kill(proc.popen.pid, signal.SIGTERM)
    return time.monotonic()


def exit_after(proc: Proc, sent_at: float, timeout_s: float) -> float:
    """Seconds from the signal to a clean exit; fails if the process outlives ``timeout_s``.
    uvicorn ends its clean shutdown by raising the signal again (-SIGTERM)."""
    assert proc.popen is not None
    code = proc.popen.wait(timeout_s)
    assert code in (0, -signal.SIGTERM), f"{proc.name} exited with {code}"
    return time.monotonic() - sent_at


def refused(url: str) -> bool:
    """No new request is served: the connection is refused, or (accepted by the kernel
    in the moment the listener closes) closed without an answer."""
    try:
        httpx.get(f"{url}/health", timeout=1)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
        return True
    return False


# --- the API --------------------------------------------------------------------------


def slow_lookups(stack: Stack, latency_ms: int, *api_args: str) -> tuple[Proc, str]:
    """An API whose lookups wait for a DICT slowed to ``latency_ms``; a key to look up."""
    port = stack.api_url.rsplit(":", 1)[1]
    api = replace(stack, "api", ["api", "--port", port, *api_args], LOOKUP_TIMEOUT_S="30")
    wait_until(lambda: not refused(stack.api_url), what="the API to answer")
    key = theirs(stack, "EVP").key
    stack.admin().set_faults(latency_ms=latency_ms, methods=["GetEntry"])
    return api, key


def lookup_in_flight(stack: Stack) -> bool:
    path = "/v1/lookups/{key}"
    return (
        sample(f"{stack.api_url}/metrics", "dict_connect_http_requests_in_progress", path=path) >= 1
    )


def test_the_api_refuses_new_connections_and_answers_the_request_in_flight(
    stack: Stack,
) -> None:
    api, key = slow_lookups(stack, 4000)
    with ThreadPoolExecutor(1) as pool, stack.http() as http:
        pending = pool.submit(lookup, http, key, 1)
        wait_until(lambda: lookup_in_flight(stack), every=0.05, what="a lookup in flight")
        sent_at = sigterm(api)
        wait_until(lambda: refused(stack.api_url), timeout=2, every=0.05, what="no new connection")
        assert not pending.done()  # intake is closed while the lookup still waits on the DICT
        answer = pending.result(timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["key"] == key
    took = exit_after(api, sent_at, SHUTDOWN_TIMEOUT_S["api"])
    assert 3 < took < SHUTDOWN_TIMEOUT_S["api"]
    assert "Application shutdown complete" in api.log.read_text()


def test_the_api_cuts_a_request_longer_than_its_shutdown_timeout(stack: Stack) -> None:
    api, key = slow_lookups(stack, 8000, "--shutdown-timeout", "1")
    with ThreadPoolExecutor(1) as pool, stack.http() as http:
        pending = pool.submit(lookup, http, key, 1)
        wait_until(lambda: lookup_in_flight(stack), every=0.05, what="a lookup in flight")
        sent_at = sigterm(api)
        took = exit_after(api, sent_at, 8)
        assert took < 4  # well before the DICT would have answered
        cut = pending.result(timeout=10)
    # uvicorn cancels the request and answers 500 itself: the client may retry it (a
    # write commits before it answers, and its Idempotency-Key makes a retry safe).
    assert cut.status_code == 500


# --- the worker -----------------------------------------------------------------------


def request_id(stack: Stack, entry_id: str) -> str:
    with stack.http() as http:
        return str(http.get(f"/v1/entries/{entry_id}").json()["request_id"])


def entry_status(stack: Stack, entry_id: str) -> str:
    with stack.http() as http:
        return str(http.get(f"/v1/entries/{entry_id}").json()["status"])


def outbox_status(stack: Stack, entry_id: str) -> str:
    with db.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT status FROM outbox WHERE actor = 'register_entry' AND subject = %s",
            (f"entry:{entry_id}",),
        ).fetchone()
    assert row is not None
    return str(row["status"])


def registration_in_flight(worker: Proc) -> bool:
    url = f"http://127.0.0.1:{worker.env['METRICS_PORT']}/metrics"
    try:
        return sample(url, "dramatiq_messages_inprogress", actor_name="register_entry") >= 1
    except httpx.HTTPError:  # the metrics process starts once the worker processes booted
        return False


def created(stack: Stack, entry_id: str) -> Any:
    return stack.admin().get_call_counts(request_id(stack, entry_id))


def test_the_worker_finishes_the_message_in_flight_and_takes_no_new_one(stack: Stack) -> None:
    worker = replace(
        stack,
        "worker",
        stack.procs["worker"].args,
        BRIDGE_TIMEOUT_S="30",  # the call may last longer than the default 5 s deadline
    )
    # 12 s: the call must still be in flight when the worker's metrics answer, which
    # takes seconds on a loaded machine (6 s failed there twice, 2026-12-04)
    stack.admin().set_faults(latency_ms=12000, methods=["CreateEntry"])
    with stack.http() as http:
        (first,) = register(http, [entry_body(0)])
        wait_until(lambda: registration_in_flight(worker), what="the registration in flight")
        sent_at = sigterm(worker)
        # Dramatiq stops taking messages within 2 s: its worker process looks at the
        # signal every second, then each idle thread ends its 1 s wait for work.
        time.sleep(2.5)  # ok: letting Dramatiq's own 1 s polls pass, in real time
        (second,) = register(http, [entry_body(1)])
    took = exit_after(worker, sent_at, SHUTDOWN_TIMEOUT_S["worker"])

    assert 5 < took < SHUTDOWN_TIMEOUT_S["worker"]
    assert entry_status(stack, first) == "active"  # the call in flight finished
    assert outbox_status(stack, first) == "done"
    assert entry_status(stack, second) == "registering"  # the new message was not taken
    assert created(stack, second).total == 0
    waiting = redis_lib.Redis.from_url(stack.redis_url)
    assert waiting.llen("dramatiq:dict") == 1  # it waits in Redis for the next worker

    stack.admin().set_faults()
    worker.start()
    wait_until(lambda: entry_status(stack, second) == "active", what="the second entry active")
    assert [created(stack, e).entries_created for e in (first, second)] == [1, 1]


def test_a_call_longer_than_the_timeout_is_cut_and_the_outbox_finishes_it_once(
    stack: Stack,
) -> None:
    slow = replace(
        stack,
        "worker",
        ["worker", "--processes", "1", "--threads", "8", "--shutdown-timeout", "2"],
        BRIDGE_TIMEOUT_S="30",  # the call may last longer than the default 5 s deadline
        METRICS_PORT=str(_free_port()),
    )
    stack.admin().set_faults(latency_ms=12000, methods=["CreateEntry"])
    with stack.http() as http:
        (entry,) = register(http, [entry_body(2)])
    wait_until(lambda: registration_in_flight(slow), what="the registration in flight")
    sent_at = sigterm(slow)
    took = exit_after(slow, sent_at, 8)

    assert took < 6  # cut after 2 s, before the DICT answered
    assert entry_status(stack, entry) == "registering"
    assert outbox_status(stack, entry) == "dispatched"  # its lease will hand it out again

    stack.admin().set_faults()
    wait_until(lambda: created(stack, entry).entries_created == 1, what="the DICT to act")
    replace(stack, "worker", slow.args, METRICS_PORT=str(_free_port()))
    stack.advance_our_clock(outbox.LEASE.total_seconds() + 60)
    assert stack.relay() >= 1  # the expired lease re-dispatches the row
    wait_until(lambda: entry_status(stack, entry) == "active", what="the entry active")
    wait_until(lambda: outbox_status(stack, entry) == "done", what="the outbox row done")

    counts = created(stack, entry)
    assert counts.entries_created == 1  # the repeat carried the same RequestId
    assert counts.by_method["CreateEntry"] == 2
    history = stack.query("spine.history", machine="entry", subject_id=entry)
    assert [h["to_status"] for h in history].count("active") == 1


# --- the scheduler --------------------------------------------------------------------


def test_the_scheduler_stops_ticking_and_exits_at_once(stack: Stack) -> None:
    health, metrics = _free_port(), _free_port()
    scheduler = Proc(
        "scheduler",
        ["scheduler"],
        {**stack.procs["api"].env, "HEALTH_PORT": str(health), "METRICS_PORT": str(metrics)},
        stack.procs["api"].log.with_name("scheduler.log"),
    )
    stack.procs["scheduler"] = scheduler
    scheduler.start()
    ticks = f"http://127.0.0.1:{metrics}/metrics"
    wait_until(
        lambda: (
            not refused(f"http://127.0.0.1:{metrics}")
            and sample(ticks, "dict_scheduler_ticks_total", job="relay") >= 1
        ),
        what="the scheduler's first tick",
    )
    assert httpx.get(f"http://127.0.0.1:{health}/health").json() == {"status": "ok"}

    sent_at = sigterm(scheduler)
    took = exit_after(scheduler, sent_at, SHUTDOWN_TIMEOUT_S["scheduler"])

    assert took < 2  # idle between ticks: nothing to wait for
    assert refused(f"http://127.0.0.1:{health}")
    assert "scheduler stopped" in scheduler.log.read_text()
