"""Token buckets on the simulated DICT: taken per call, RateLimited when empty (DICT.md §4)."""

from __future__ import annotations

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.domain.cid import EMPTY_VSYNC
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.integration.bridge.builders import OTHER, OURS, e2e_id, lookup

SMALL = "11223344"  # category H: ENTRIES_READ_PARTICIPANT_ANTISCAN holds 50, refills 2/min
MISSING = "+5511999999999"  # a key nobody holds


def verification(client: DictClient) -> pb.CreateSyncVerificationRequest:
    return pb.CreateSyncVerificationRequest(
        participant=client.participant, key_type="EVP", participant_sync_verifier=EMPTY_VSYNC
    )


def bucket(client: DictClient, policy: str) -> pb.BucketState:
    return client.get_bucket_state(
        pb.GetBucketStateRequest(participant=client.participant, policy=policy)
    ).policy


def test_an_empty_bucket_answers_rate_limited_until_it_refills(
    ours: DictClient, admin: AdminClient
) -> None:
    for _ in range(50):  # SYNC_VERIFICATIONS_WRITE: 50 tokens, 10 a minute
        ours.create_sync_verification(verification(ours))
    with pytest.raises(problems.RateLimited) as caught:
        ours.create_sync_verification(verification(ours))
    assert caught.value.retry_after_s == pytest.approx(6, abs=0.5)
    assert bucket(ours, "SYNC_VERIFICATIONS_WRITE").available_tokens < 1
    admin.advance_clock(6)
    assert ours.create_sync_verification(verification(ours)).result == "OK"


def test_a_lookup_miss_costs_three_participant_tokens(
    sim: SimulatorHandle, admin: AdminClient
) -> None:
    admin.add_participant(SMALL, "H")
    with DictClient(sim.address, SMALL) as small:
        for n in range(16):  # 16 misses x 3 = 48 of 50 (each payer's own bucket: 20 of 100)
            with pytest.raises(problems.NotFound):
                small.get_entry(lookup(MISSING, SMALL, payer=n))
        state = bucket(small, "ENTRIES_READ_PARTICIPANT_ANTISCAN")
        assert state.available_tokens == pytest.approx(2, abs=0.1) and state.capacity == 50
        with pytest.raises(problems.NotFound):
            small.get_entry(lookup(MISSING, SMALL, payer=16))  # admitted: goes to -1
        with pytest.raises(problems.RateLimited):
            small.get_entry(lookup(MISSING, SMALL, payer=17))


def test_a_payers_misses_drain_its_own_bucket(ours: DictClient) -> None:
    payer = "52998224725"
    for _ in range(5):  # 5 x 20 = the 100 tokens of a person
        with pytest.raises(problems.NotFound):
            ours.get_entry(by_payer(payer))
    with pytest.raises(problems.RateLimited):
        ours.get_entry(by_payer(payer))
    with pytest.raises(problems.NotFound):  # another payer is not limited
        ours.get_entry(by_payer("11144477735"))


def test_a_payers_bucket_is_kept_per_requesting_participant(
    ours: DictClient, theirs: DictClient
) -> None:
    payer = "52998224725"
    for _ in range(5):
        with pytest.raises(problems.NotFound):
            ours.get_entry(by_payer(payer))
    with pytest.raises(problems.RateLimited):
        ours.get_entry(by_payer(payer))
    with pytest.raises(problems.NotFound):  # the same payer at another PSP: its own bucket
        theirs.get_entry(by_payer(payer, OTHER))


def by_payer(payer_id: str, psp: str = OURS) -> pb.GetEntryRequest:
    return pb.GetEntryRequest(key=MISSING, payer_id=payer_id, end_to_end_id=e2e_id(psp))


def test_bucket_states_are_listed_with_the_category(ours: DictClient) -> None:
    listed = ours.list_bucket_states(pb.ListBucketStatesRequest(participant=OURS))
    by_name = {p.name: p for p in listed.policies}
    assert listed.category == "A"
    assert by_name["ENTRIES_READ_PARTICIPANT_ANTISCAN"].capacity == 50_000
    assert by_name["ENTRIES_WRITE"].refill_period_sec == 60
    assert "ENTRIES_READ_USER_ANTISCAN" not in by_name
    with pytest.raises(problems.NotFound):
        bucket(ours, "NO_SUCH_POLICY")


def test_rate_limits_can_be_turned_off(ours: DictClient, admin: AdminClient) -> None:
    admin.set_config(rate_limits_enabled=False)
    for _ in range(60):
        ours.create_sync_verification(verification(ours))


def test_the_admin_resizes_one_participant_policy_and_the_dict_holds_to_it(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """SetPolicySize is the simulator's admin, not a DICT call (the BCB sizes buckets): a
    resized bucket starts full at its size, is reported at it, and refuses past it; the
    other participant's bucket keeps its category's size."""
    admin.set_policy_size(OURS, "SYNC_VERIFICATIONS_WRITE", 2, 6, 60)
    sizes = [bucket(c, "SYNC_VERIFICATIONS_WRITE").capacity for c in (ours, theirs)]
    assert sizes == [2, 50]
    ours.create_sync_verification(verification(ours))
    ours.create_sync_verification(verification(ours))
    with pytest.raises(problems.RateLimited) as caught:
        ours.create_sync_verification(verification(ours))
    assert caught.value.retry_after_s == pytest.approx(10, abs=0.5)  # 6 a minute


@pytest.mark.parametrize(
    ("policy", "sizes", "field"),
    [
        ("ENTRIES_READ_USER_ANTISCAN", (10, 1, 60), "policy"),  # per user, not per PSP
        ("NO_SUCH_POLICY", (10, 1, 60), "policy"),
        ("ENTRIES_WRITE", (0, 1, 60), "capacity"),
        ("ENTRIES_WRITE", (10, 0, 60), "refill_tokens"),
        ("ENTRIES_WRITE", (10, 1, 0), "refill_period_sec"),
    ],
)
def test_a_policy_size_out_of_reason_is_refused(
    admin: AdminClient, policy: str, sizes: tuple[int, int, int], field: str
) -> None:
    with pytest.raises(problems.BadRequest) as caught:
        admin.set_policy_size(OURS, policy, *sizes)
    assert field in [f for f, _ in caught.value.violations]
