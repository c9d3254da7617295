"""No deadline lives in Redis or in a process: restarts mid-period lose nothing."""

from __future__ import annotations

import redis as redis_lib

from tests.acceptance.claims_helpers import DAY, dict_claim, pass_time, until_status
from tests.acceptance.conftest import Proc, Stack, wait_until
from tests.acceptance.test_claims_donor import received


def relay_ticks(stack: Stack) -> int:
    return len(stack.query("spine.cron_slots", job="relay"))


def cancel_calls(stack: Stack) -> int:
    return stack.admin().get_call_counts().by_method["CancelClaim"]


def test_worker_and_redis_restarted_mid_period_the_day_7_cancel_happens_once(stack) -> None:
    _, _, dict_c, ours = received(stack, 11, "PORTABILITY")
    pass_time(stack, 3 * DAY)
    stack.procs["worker"].kill()
    redis_lib.Redis.from_url(stack.redis_url).flushdb()  # Redis restarted empty
    stack.procs["worker"].start()
    pass_time(stack, 4 * DAY + 60)
    until_status(stack, ours["id"], "cancelled")
    pass_time(stack, 3600)  # later ticks find nothing more to do
    stack.relay()
    assert dict_claim(stack, dict_c.id).cancel_reason == "DEFAULT_OPERATION"
    assert cancel_calls(stack) == 1


def test_the_scheduler_restarted_mid_period_still_acts_at_day_7(stack: Stack) -> None:
    _, _, dict_c, ours = received(stack, 12, "PORTABILITY")
    scheduler = Proc(
        "scheduler",
        ["scheduler"],
        stack.procs["api"].env,
        stack.procs["api"].log.with_name("scheduler.log"),
    )
    stack.procs["scheduler"] = scheduler
    scheduler.start()
    wait_until(lambda: relay_ticks(stack) >= 1, timeout=90, what="the scheduler's first relay")
    pass_time(stack, 3 * DAY)
    scheduler.kill()
    stack.advance(4 * DAY + 60)  # nobody runs the relay by hand now
    scheduler.start()
    # the restarted scheduler's relay (its 10 s thread; its cron each minute too) finds
    # the day-7 timer due
    until_status(stack, ours["id"], "cancelled", timeout=150)
    wait_until(lambda: cancel_calls(stack) == 1, what="one CancelClaim")
    assert dict_claim(stack, dict_c.id).cancelled_by == "DONOR"


def test_a_deadline_acted_on_late_is_reported(stack: Stack) -> None:
    import json

    ours = received(stack, 13, "PORTABILITY")[3]
    stack.advance(7 * DAY + 600)  # the relay was down for the deadline and 10 minutes more
    stack.relay()
    until_status(stack, ours["id"], "cancelled")
    events = redis_lib.Redis.from_url(stack.redis_url)
    stream = "dict-connect.events.claims.deadline_missed"
    wait_until(lambda: events.xlen(stream) == 1, what="a claims.deadline_missed event")
    missed = json.loads(events.xrange(stream)[0][1][b"payload"])
    assert missed["deadline"] == "ResolutionPeriodEnd" and missed["claim_id"] == ours["id"]
