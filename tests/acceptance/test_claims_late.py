"""A deadline acted on late is reported. (Restarts mid-period: tests/faults.)"""

from __future__ import annotations

import redis as redis_lib

from tests.acceptance.claims_helpers import DAY, until_status
from tests.acceptance.conftest import Stack, wait_until
from tests.acceptance.test_claims_donor import received


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
