"""Our copy of the DICT's buckets (``app.ratelimit``): in Redis, shared, refilled at the
DICT's rate, lowered by the DICT's readings; a held call is never sent and waits in the
outbox, not in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis as redis_lib

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from app.ratelimit.limiter import Limiter, policy_name

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def limiter(redis_url: str) -> Iterator[Limiter]:
    client = redis_lib.Redis.from_url(redis_url)
    yield Limiter(client, "A")
    client.close()


def test_each_rpc_draws_on_its_policy() -> None:
    assert policy_name("CreateEntry", pb.CreateEntryRequest()) == "ENTRIES_WRITE"
    assert policy_name("ListClaims", pb.ListClaimsRequest(is_donor=True)) == "CLAIMS_LIST_WITH_ROLE"
    assert policy_name("ListClaims", pb.ListClaimsRequest()) == "CLAIMS_LIST_WITHOUT_ROLE"
    assert policy_name("ListRefunds", pb.ListRefundsRequest(participant_role="CONTESTED")) == (
        "REFUNDS_LIST_WITH_ROLE"
    )
    assert policy_name("GetEntry", pb.GetEntryRequest()) is None  # the lookups' own buckets
    assert policy_name("DownloadCidSetFile", pb.DownloadCidSetFileRequest()) is None


def test_a_bucket_admits_its_capacity_then_waits_for_the_refill(limiter: Limiter) -> None:
    """POLICIES_LIST: 20 tokens, 6 a minute (DICT.md §4)."""
    request = pb.ListBucketStatesRequest()
    assert [limiter.take("ListBucketStates", request, T0) for _ in range(20)] == [0.0] * 20
    wait = limiter.take("ListBucketStates", request, T0)
    assert wait == pytest.approx(10.0 / 0.98, abs=0.01)  # a token every 10 s, less our margin
    assert limiter.take("ListBucketStates", request, T0 + timedelta(seconds=10.3)) == 0.0
    assert limiter.take("ListBucketStates", request, T0 + timedelta(seconds=10.3)) > 0


def test_an_unanswered_call_gives_its_token_back(limiter: Limiter) -> None:
    request = pb.ListBucketStatesRequest()
    for _ in range(20):
        limiter.take("ListBucketStates", request, T0)
    limiter.give_back("ListBucketStates", request, T0)
    assert limiter.take("ListBucketStates", request, T0) == 0.0


def test_the_dicts_reading_sizes_our_copy_and_only_ever_lowers_it(limiter: Limiter) -> None:
    limiter.observe("ENTRIES_WRITE", 5, 10, 60, 60, T0)  # the DICT: 5 of 10 left, 1 a second
    assert limiter.policy("ENTRIES_WRITE").capacity == 10
    assert limiter.tokens("ENTRIES_WRITE", T0) == 5
    limiter.observe("ENTRIES_WRITE", 9, 10, 60, 60, T0)  # says more: ours stays stricter
    assert limiter.tokens("ENTRIES_WRITE", T0) == 5
    assert limiter.tokens("ENTRIES_WRITE", T0 + timedelta(seconds=3)) == pytest.approx(7.94)
    assert limiter.tokens("ENTRIES_WRITE", T0 + timedelta(minutes=5)) == 10  # up to capacity


class _Counting:
    """A limiter stand-in that holds every call back (for the client's path)."""

    def __init__(self, wait: float) -> None:
        self.wait, self.given_back = wait, 0

    def take(self, rpc: str, request: Any) -> float:
        return self.wait

    def give_back(self, rpc: str, request: Any) -> None:
        self.given_back += 1


def test_a_held_call_is_never_sent(sim: Any, admin: Any) -> None:
    from app.bridge.client import DictClient
    from tests.integration.bridge.builders import OURS

    with DictClient(sim.address, OURS) as client:
        client.limiter = _Counting(2.5)
        with pytest.raises(problems.LimiterWait) as held:
            client.list_bucket_states(pb.ListBucketStatesRequest(participant=OURS))
        assert held.value.retry_after_s == 2.5 and held.value.retryable
    assert admin.get_call_counts("").by_method["ListBucketStates"] == 0


@pytest.mark.parametrize("fault", ["unavailable_ratio", "drop_ratio"])
def test_a_call_without_an_answer_keeps_its_token_spent(sim: Any, admin: Any, fault: str) -> None:
    """No answer (the bridge unreachable, or the answer lost after the DICT applied and
    charged the call): the client cannot tell which, so our copy stays the stricter."""
    from app.bridge.client import DictClient
    from tests.integration.bridge.builders import OURS

    admin.set_faults(**{fault: 1.0}, methods=["ListBucketStates"])
    try:
        with DictClient(sim.address, OURS) as client:
            counting = _Counting(0.0)
            client.limiter = counting
            with pytest.raises(problems.DictProblem):
                client.list_bucket_states(pb.ListBucketStatesRequest(participant=OURS))
        assert counting.given_back == 0
    finally:
        admin.set_faults()


def test_a_500_the_dict_answered_gives_the_token_back(sim: Any) -> None:
    """DICT.md §4: every non-500 response costs 1; a 500 costs nothing."""
    from app.bridge.client import DictClient
    from app.bridge.status import from_rpc_error
    from tests.integration.bridge.builders import OURS
    from tests.unit.bridge.test_errors import FinishedCall

    answered = FinishedCall.carrying(problems.InternalServerError("DICT fault"))
    with DictClient(sim.address, OURS) as client:
        counting = _Counting(0.0)
        client.limiter = counting

        def the_dict_answers_500(*_: Any) -> Any:
            raise from_rpc_error(answered)

        client._invoke = the_dict_answers_500  # type: ignore[method-assign]
        with pytest.raises(problems.InternalServerError):
            client.list_bucket_states(pb.ListBucketStatesRequest(participant=OURS))
    assert counting.given_back == 1
