"""Token buckets in Redis, shared by every API process, changed only by Lua scripts.

The arithmetic is ``app.domain.buckets.TokenBucket`` (DICT.md §4, MO8 §13.1) run
inside Redis so that concurrent lookups from any process see one bucket: refill
continuously, let a call through while a whole token is left, take its full cost
(a bucket may go negative), give credits back up to capacity. A bucket at capacity
is deleted (absent means full), so idle payers cost no memory. Time is our clock
(``app.clock``), passed in: the same time every process and test moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from app.domain.buckets import Policy

# One bucket: state {t: tokens, ts: ms of the last refill}. A clock that stepped back
# never refills (ts stays ahead until time catches up).
LIB = """
local function level(key, cap, refill, period, now)
  local s = redis.call('HMGET', key, 't', 'ts')
  local t, ts = tonumber(s[1]), tonumber(s[2])
  if t == nil then return cap, now end
  if now > ts then
    if t < cap then t = math.min(cap, t + (now - ts) * refill / period) end
    ts = now
  end
  return t, ts
end
local function store(key, t, ts, cap, refill, period)
  if t >= cap then redis.call('DEL', key) return end
  redis.call('HSET', key, 't', tostring(t), 'ts', tostring(ts))
  redis.call('PEXPIRE', key, math.ceil((cap - t) * period / refill) + 60000)
end
-- One bucket per ARGV entry "capacity,refill tokens,refill period ms,amount" (one
-- argument, not four: the client's cost is per argument).
-- mode admit: all buckets must hold a whole token, then each loses its amount;
-- charge: each loses its amount, no question asked; credit: each gains, up to cap.
-- Returns {1, tokens...} or, when admit refuses, {0, ms until every bucket has a token}.
local function spec(a)
  local cap, refill, period, amount = string.match(ARGV[a], '([^,]+),([^,]+),([^,]+),([^,]+)')
  return tonumber(cap), tonumber(refill), tonumber(period), tonumber(amount)
end
local function apply(mode, now, first_key, first_arg)
  local n = #KEYS - first_key + 1
  local levels, wait = {}, 0
  for i = 0, n - 1 do
    local cap, refill, period = spec(first_arg + i)
    local t, ts = level(KEYS[first_key + i], cap, refill, period, now)
    levels[i] = {t, ts}
    if mode == 'admit' and t < 1 then
      wait = math.max(wait, math.ceil((1 - t) * period / refill))
    end
  end
  if wait > 0 then return {0, wait} end
  local out = {1}
  for i = 0, n - 1 do
    local cap, refill, period, amount = spec(first_arg + i)
    local t = levels[i][1]
    if mode == 'credit' then t = math.min(cap, t + amount) else t = t - amount end
    store(KEYS[first_key + i], t, levels[i][2], cap, refill, period)
    out[#out + 1] = tostring(t)
  end
  return out
end
"""

APPLY = LIB + "return apply(ARGV[1], tonumber(ARGV[2]), 1, 3)"


@dataclass(frozen=True, slots=True)
class Draw:
    """``amount`` tokens of ``policy``'s bucket held at Redis key ``key``."""

    key: str
    policy: Policy
    amount: int

    def argv(self) -> str:
        p = self.policy
        return f"{p.capacity},{p.refill_tokens},{p.refill_period_s * 1000},{self.amount}"


def argv(draws: tuple[Draw, ...] | list[Draw]) -> list[str]:
    return [draw.argv() for draw in draws]


def now_ms(now: datetime) -> int:
    return math.floor(now.timestamp() * 1000)


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
