"""The lookups' anti-scan buckets, asynchronous: the script of ``app.ratelimit.buckets``
run through ``redis.asyncio`` (idle payers cost no memory: a full bucket is deleted)."""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from app.ratelimit.buckets import APPLY, Draw, argv, now_ms


class Buckets:
    """Admit, charge and credit a set of buckets in one atomic step."""

    def __init__(self, redis: Redis) -> None:
        self._apply = redis.register_script(APPLY)

    async def _run(self, mode: str, draws: list[Draw], now: datetime) -> list[bytes]:
        keys = [d.key for d in draws]
        result: list[bytes] = await self._apply(keys, [mode, now_ms(now), *argv(draws)])
        return result

    async def admit(self, draws: list[Draw], now: datetime) -> float:
        """Take each draw if every bucket holds a whole token: 0.0; else nothing is
        taken and the seconds until one would."""
        result = await self._run("admit", draws, now)
        return 0.0 if int(result[0]) == 1 else int(result[1]) / 1000

    async def charge(self, draws: list[Draw], now: datetime) -> None:
        """Take each draw, however low the bucket (the rest of a miss's cost)."""
        if draws:
            await self._run("charge", draws, now)

    async def credit(self, draws: list[Draw], now: datetime) -> None:
        """Give each draw back, never above capacity (a payment, an unanswered call)."""
        if draws:
            await self._run("credit", draws, now)

    async def tokens(self, draws: list[Draw], now: datetime) -> list[float]:
        """The tokens each bucket holds now (a credit of nothing: no change)."""
        zero = [Draw(d.key, d.policy, 0) for d in draws]
        return [float(t) for t in (await self._run("credit", zero, now))[1:]]
