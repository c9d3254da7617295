"""Two schedulers on one database and one Redis: no single point of failure, and each
tick of each cron worked once.

Both replicas send every tick; the worker runs both messages, and the first to insert
the tick's ``cron_runs(job, slot)`` row does the work while the other finds the slot
taken. Proved over two minutes' ticks: the start-up tick (periodiq ticks at once on
start) and the next minute's, which both replicas send at the same instant.

periodiq's cron has no seconds and follows the wall clock (not our clock file), so
this test waits for one real minute boundary: it takes up to about 70 s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from tests.acceptance.conftest import Proc, Stack, _free_port, wait_until
from tests.acceptance.test_shutdown import exit_after, sample, sigterm

EVERY_MINUTE = {
    "relay": "relay",
    "sync_schedule": "sync_schedule",
    "poll_claims_tick": "poll_claims",
    "lookup_index": "lookup_index",
    "poll_infractions": "poll_infractions",
    "poll_refunds": "poll_refunds",
    "poll_rate_limits": "poll_rate_limits",
}
"""Every cron that ticks each minute: its actor, and the job its cron_runs rows name."""


def scheduler(stack: Stack, n: int) -> tuple[Proc, str]:
    """Scheduler ``n``, with ports of its own; its /metrics URL."""
    metrics = _free_port()
    api = stack.procs["api"]
    proc = Proc(
        f"scheduler-{n}",
        ["scheduler"],
        {**api.env, "HEALTH_PORT": str(_free_port()), "METRICS_PORT": str(metrics)},
        api.log.with_name(f"scheduler-{n}.log"),
    )
    stack.procs[proc.name] = proc
    return proc, f"http://127.0.0.1:{metrics}/metrics"


def ticks(url: str, actor: str) -> float:
    try:
        return sample(url, "dict_scheduler_ticks_total", job=actor)
    except httpx.HTTPError:  # not listening yet
        return 0.0


def test_two_schedulers_each_tick_is_worked_once(stack: Stack) -> None:
    from actors import broker

    assert {
        name for name, a in broker.actors.items() if str(a.options.get("periodic")) == "* * * * *"
    } == set(EVERY_MINUTE)
    if datetime.now(UTC).second > 45:  # both start-up ticks must fall in the same minute
        time.sleep(61 - datetime.now(UTC).second)  # ok: periodiq follows the wall clock
    one, two = scheduler(stack, 1), scheduler(stack, 2)
    for proc, _ in (one, two):
        proc.start()
    # Both replicas sent two minutes' ticks: the start-up one and the next minute's.
    wait_until(
        lambda: all(ticks(url, "relay") == 2 for _, url in (one, two)),
        timeout=90,
        what="two ticks from each scheduler",
    )
    sent = {a: ticks(one[1], a) + ticks(two[1], a) for a in EVERY_MINUTE}
    for proc, _ in (one, two):  # the next tick is a minute away: stop before it
        exit_after(proc, sigterm(proc), 10)

    worker = f"http://127.0.0.1:{stack.procs['worker'].env['METRICS_PORT']}/metrics"
    worked = lambda: {  # noqa: E731
        a: sample(worker, "dramatiq_messages_total", actor_name=a) for a in EVERY_MINUTE
    }
    wait_until(lambda: worked() == sent, what="the worker to run every message")

    assert sent == dict.fromkeys(EVERY_MINUTE, 4.0)  # two replicas x two minutes
    slots = {
        job: [r["slot"] for r in stack.query("spine.cron_slots", job=job)]
        for job in EVERY_MINUTE.values()
    }
    relay = slots["relay"]
    assert len(relay) == 2 and (relay[1] - relay[0]).total_seconds() == 60
    assert slots == dict.fromkeys(EVERY_MINUTE.values(), relay)  # each job, each slot, once
    # The work behind a slot ran once: one reading of the DICT's buckets per minute.
    assert stack.admin().get_call_counts().by_method["ListBucketStates"] == 2
