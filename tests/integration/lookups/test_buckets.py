"""The Redis buckets (one Lua script) behave as the DICT's, i.e. as the reference
``TokenBucket`` of app.domain.buckets (MO8 §13.1): compared step by step on a random
sequence of admits, charges and credits, with time moving between them."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from app.domain.buckets import TokenBucket, policy
from app.lookups.buckets import Buckets
from app.ratelimit.buckets import Draw

PF = policy("ENTRIES_READ_USER_ANTISCAN", person_type="NATURAL_PERSON")
OURS = policy("ENTRIES_READ_PARTICIPANT_ANTISCAN", "H")  # 50 tokens, 2 a minute


def test_a_payers_bucket_goes_negative_refuses_and_says_how_long(redis_url: str) -> None:
    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        buckets = Buckets(client)
        t0 = datetime(2026, 12, 3, 12, tzinfo=UTC)
        pf = [Draw("b:pf", PF, 1)]
        for _ in range(4):  # four misses: 1 on admission, 19 after the 404
            assert await buckets.admit(pf, t0) == 0
            await buckets.charge([Draw("b:pf", PF, 19)], t0)
        assert await buckets.tokens(pf, t0) == [20.0]
        assert await buckets.admit(pf, t0) == 0  # 20 left: a fifth miss goes...
        await buckets.charge([Draw("b:pf", PF, 19)], t0)
        assert await buckets.admit(pf, t0) == 30.0  # ...and then 0: one token in 30 s
        await buckets.charge([Draw("b:pf", PF, 5)], t0)  # e.g. a miss admitted at 5
        assert await buckets.admit(pf, t0) == 180.0  # -5: 6 tokens at 2 a minute
        assert await buckets.admit(pf, t0 + timedelta(seconds=180)) == 0
        await buckets.credit([Draw("b:pf", PF, 1000)], t0 + timedelta(seconds=180))
        assert await buckets.tokens(pf, t0 + timedelta(seconds=180)) == [100.0]  # capacity
        await client.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_redis_buckets_match_the_reference_bucket(redis_url: str, seed: int) -> None:
    rng = random.Random(seed)

    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        buckets = Buckets(client)
        now = datetime(2026, 12, 3, 12, tzinfo=UTC)
        ref = {"u": TokenBucket.full(PF, now), "p": TokenBucket.full(OURS, now)}
        draws = {"u": Draw(f"b:u:{seed}", PF, 0), "p": Draw(f"b:p:{seed}", OURS, 0)}
        for _ in range(400):
            now += timedelta(milliseconds=rng.choice([0, 0, 250, 1000, 7000, 45000]))
            op, amount = rng.choice(["admit", "charge", "credit"]), rng.choice([1, 2, 3, 19, 20])
            both = [Draw(d.key, d.policy, amount) for d in draws.values()]
            if op == "admit":
                admitted = all(b.refill(now) >= 1 for b in ref.values())
                if admitted:
                    for b in ref.values():
                        b.tokens -= amount
                wait = await buckets.admit(both, now)
                assert (wait == 0) == admitted
            elif op == "charge":
                for b in ref.values():
                    b.charge(amount, now)
                await buckets.charge(both, now)
            else:
                for b in ref.values():
                    b.credit(amount, now)
                await buckets.credit(both, now)
            got = await buckets.tokens(list(draws.values()), now)
            want = [ref[k].available(now) for k in draws]
            assert got == pytest.approx(want, abs=1e-6)
        await client.aclose()

    asyncio.run(scenario())
