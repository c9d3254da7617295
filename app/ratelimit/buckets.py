"""Token buckets in Redis, shared by every process, changed only by one Lua script.

The arithmetic is ``app.domain.buckets.TokenBucket`` (DICT.md §4, MO8 §13.1) run inside
Redis so that concurrent callers in any process see one bucket: refill continuously,
let a call through while a whole token is left, take its full cost (a bucket may go
negative), give credits back up to capacity. A bucket at capacity is deleted (absent
means full), so idle buckets cost no memory. Time is our clock (``app.clock``), passed
in: the same time every process and test moves. Used by the lookups' anti-scan buckets
(``app.lookups``, asynchronous) and the limiter of our other DICT calls
(``app.ratelimit.limiter``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

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
-- charge: each loses its amount, no question asked; credit: each gains, up to cap;
-- lower: each holds at most its amount (what the DICT says it holds).
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
    if mode == 'credit' then t = math.min(cap, t + amount)
    elseif mode == 'lower' then t = math.min(t, amount)
    else t = t - amount end
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
