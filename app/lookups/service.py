"""A lookup, a payment credit and a checkKeys, as the API runs them.

A lookup, in order (``docs/lookups.md``):

1. One Lua script in Redis: is the key ours (a book transfer: answered from our base,
   the DICT is never asked)? is a legal person's answer cached? do the payer's and
   our anti-scan buckets each hold a token (then a found key's cost is taken)? A
   bucket the DICT would refuse is refused here, with the DICT's ``RateLimited`` and
   Retry-After, without calling it.
2. GetEntry through the bridge, awaited with its own deadline and circuit breaker.
3. One more script: the rest of a miss's cost, the key's existence (SHA-256, 30 days),
   the answer when it may be cached, the payment's record for its credit, the
   payer's misses. (A script, not a pipeline: one command to encode and parse instead
   of eight, the client's largest cost.)

PostgreSQL is read only to answer a key of ours (the answer is our entry), and,
while the Redis index of our keys is being rebuilt, to ask whether a key is ours.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import msgspec
from redis.asyncio import Redis

from app import clock, db, settings
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.aio import AsyncDictClient
from app.bridge.breaker import CircuitOpen
from app.domain import problems
from app.domain.buckets import policy
from app.domain.lookups import (
    EXISTENCE_CACHE_MAX_S,
    LookupRequest,
    answer_cache_seconds,
    charges,
    key_digest,
)
from app.lookups import answers, keys, metrics
from app.lookups.answers import CheckedKey, LookupAnswer, PaymentReported, SuspiciousPayer
from app.lookups.buckets import Buckets
from app.ratelimit.buckets import LIB, Draw, argv, now_ms
from app.repo import entries

log = logging.getLogger(__name__)

# KEYS: own, own built, cached answer, payment, buckets...; ARGV: digest, check own,
# now ms, payment window ms, then one per bucket (buckets.LIB). Step 1 in one round trip.
# A cached answer is "<expiry ms on our clock>|<JSON>": it expires on the clock every
# process and test shares (Redis's own expiry, in real time, only frees the memory).
BEGIN = (
    LIB
    + """
if ARGV[2] == '1' then
  if redis.call('EXISTS', KEYS[2]) == 0 then return {'unindexed'} end
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
    redis.call('HINCRBY', KEYS[4], 'n', 1)
    redis.call('PEXPIRE', KEYS[4], ARGV[4])
    return {'own'}
  end
end
local cached = redis.call('GET', KEYS[3])
if cached then
  local sep = string.find(cached, '|', 1, true)
  if tonumber(ARGV[3]) < tonumber(string.sub(cached, 1, sep - 1)) then
    redis.call('HINCRBY', KEYS[4], 'n', 1)
    redis.call('PEXPIRE', KEYS[4], ARGV[4])
    return {'cached', string.sub(cached, sep + 1)}
  end
  redis.call('DEL', KEYS[3])
end
local r = apply('admit', tonumber(ARGV[3]), 5, 5)
if r[1] == 0 then return {'limited', tostring(r[2])} end
return {'admitted'}
"""
)

# KEYS: existence, payment, payer, answer, suspicious payers, [buckets a miss charges];
# ARGV: found (1/0), now ISO, existence ttl s, payment window ms, the payer's bucket,
# its policy, payer type, the answer to cache ('' for none), its ttl s, its expiry ms,
# payer id, lookups before a payer is judged, now s, now ms, then one per bucket.
FINISH = (
    LIB
    + """
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'n', 1)
redis.call('HSET', KEYS[2], 'bucket', ARGV[5], 'policy', ARGV[6], 'payer_type', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[1] == '1' and 'found' or 'missing', 1)
redis.call('EXPIRE', KEYS[3], 86400, 'NX')
if ARGV[8] ~= '' then redis.call('SET', KEYS[4], ARGV[10] .. '|' .. ARGV[8], 'EX', ARGV[9]) end
if ARGV[1] == '0' then
  if #KEYS > 5 then apply('charge', tonumber(ARGV[14]), 6, 15) end
  local c = redis.call('HMGET', KEYS[3], 'found', 'missing')
  local f, m = tonumber(c[1] or 0), tonumber(c[2] or 0)
  if f + m >= tonumber(ARGV[12]) and m / (f + m) > 0.2 then
    redis.call('ZADD', KEYS[5], 'NX', ARGV[13], ARGV[11])
  end
end
return 1
"""
)

# KEYS: payment. Returns nil (no lookup of it in the window), {'again', n} (reported
# before), {'nothing', n} (no lookup of it reached the DICT: nothing was charged) or
# {'credit', n, payer's bucket, its policy, payer type} (credit it now, once).
PAID = """
local p = redis.call('HMGET', KEYS[1], 'n', 'paid', 'bucket', 'policy', 'payer_type')
if not p[1] then return nil end
if p[2] then return {'again', p[1]} end
redis.call('HSET', KEYS[1], 'paid', '1')
if not p[3] then return {'nothing', p[1]} end
return {'credit', p[1], p[3], p[4], p[5]}
"""


class Lookups:
    """One per API process (``service()``), on its event loop."""

    def __init__(self, redis: Redis, client: AsyncDictClient) -> None:
        self.redis = redis
        self.client = client
        self.buckets = Buckets(redis)
        self._begin = redis.register_script(BEGIN)
        self._paid = redis.register_script(PAID)
        self._finish = redis.register_script(FINISH)
        cfg = settings.lookups()
        self.category = cfg.category
        self.window_ms = int(cfg.payment_window_s * 1000)
        self.own_check_timeout_s = cfg.own_check_timeout_s
        self.payer_min_lookups = cfg.payer_min_lookups

    async def close(self) -> None:
        await self.client.close()
        await self.redis.aclose()

    # ------------------------------------------------------------------ a lookup

    async def lookup(self, req: LookupRequest, statistics: bool) -> LookupAnswer | bytes:
        """The answer, or the cached answer's JSON as stored. Raises a ``DictProblem``
        (NotFound, RateLimited, BridgeUnavailable...) as the API should answer it."""
        digest = key_digest(req.key)
        user, ours = charges(req, self.category)
        draws = [
            Draw(keys.bucket(user.policy.name, req.payer_id), user.policy, user.found),
            Draw(keys.bucket(ours.policy.name), ours.policy, ours.found),
        ]
        outcome = await self._start(req, digest, statistics, draws, check_own=True)
        if outcome[0] == b"unindexed":
            own = await self._own_entry_or_none(req.key, bounded=True)
            if own is not None:
                return self._own(own, req)
            outcome = await self._start(req, digest, statistics, draws, check_own=False)
        kind = outcome[0]
        if kind == b"own":
            own = await self._own_entry_or_none(req.key, bounded=False)
            if own is not None:
                return self._own(own, req)
            await self.redis.srem(keys.OWN, digest)  # the index was behind our base
            outcome = await self._start(req, digest, statistics, draws, check_own=False)
            kind = outcome[0]
        if kind == b"cached":
            metrics.lookup("cached")
            metrics.cache(hit=True)
            cached: bytes = outcome[1]
            return cached
        metrics.cache(hit=False)
        if kind == b"limited":
            metrics.lookup("rate_limited")
            wait_s = int(outcome[1]) / 1000
            raise problems.RateLimited(
                "the payer's or our anti-scan bucket is empty", retry_after_s=wait_s
            )
        return await self._ask_dict(req, digest, statistics, draws, (user.missing, ours.missing))

    async def _start(
        self,
        req: LookupRequest,
        digest: bytes,
        statistics: bool,
        draws: list[Draw],
        *,
        check_own: bool,
    ) -> list[Any]:
        result: list[Any] = await self._begin(
            [
                keys.OWN,
                keys.OWN_BUILT,
                keys.answer(digest, statistics),
                keys.payment(req.end_to_end_id),
            ]
            + [d.key for d in draws],
            [digest, "1" if check_own else "0", now_ms(_now()), self.window_ms, *argv(draws)],
        )
        return result

    async def _ask_dict(
        self,
        req: LookupRequest,
        digest: bytes,
        statistics: bool,
        draws: list[Draw],
        missing: tuple[int, int],
    ) -> LookupAnswer:
        request = pb.GetEntryRequest(
            key=req.key,
            payer_id=req.payer_id,
            end_to_end_id=req.end_to_end_id,
            include_statistics=statistics,
        )
        try:
            answer = await self.client.get_entry(request)
        except problems.NotFound:
            rest = [
                Draw(d.key, d.policy, m - d.amount) for d, m in zip(draws, missing, strict=True)
            ]
            await self.buckets.charge(rest, _now())
            await self._after(req, digest, draws, found=False)
            metrics.lookup("not_found")
            raise
        except problems.EntryCannotBeQueriedForBookTransfer:
            # Ours in the DICT, not yet in the index: never charged, answered from our base.
            await self.buckets.credit(draws, _now())
            await self.redis.sadd(keys.OWN, digest)
            own = await self._own_entry_or_none(req.key, bounded=False)
            if own is None:
                metrics.lookup("refused")
                raise
            return self._own(own, req)
        except CircuitOpen:
            await self.buckets.credit(draws, _now())  # the call never left this process
            metrics.lookup("unavailable")
            raise
        except problems.DictProblem as problem:
            # The DICT answered, or may have: what it charged stays charged (stricter).
            metrics.lookup(_outcome(problem))
            if problem.retryable and problem.retry_after_s is None:
                problem.retry_after_s = 1.0
            raise
        found = answers.from_dict(answer)
        await self._after(
            req,
            digest,
            draws,
            found=True,
            answer=found,
            max_age=answer.cache_max_age_seconds,
            statistics=statistics,
        )
        metrics.lookup("found")
        return found

    async def _after(
        self,
        req: LookupRequest,
        digest: bytes,
        draws: list[Draw],
        *,
        found: bool,
        answer: LookupAnswer | None = None,
        max_age: int = 0,
        statistics: bool = False,
        rest: list[Draw] | None = None,
    ) -> None:
        """Record what the DICT said, in one script: existence, the answer when it may
        be cached, the payment's buckets, the payer's counts, and (``rest``) the rest of
        a miss's cost."""
        now = _now()
        cached, ttl = b"", 0
        if answer is not None:
            ttl = answer_cache_seconds(answer.owner.type, max_age)
            if ttl > 0:
                cached = msgspec.json.encode(msgspec.structs.replace(answer, source="cache"))
        rest = rest or []
        await self._finish(
            [
                keys.existence(digest),
                keys.payment(req.end_to_end_id),
                keys.payer(req.payer_id),
                keys.answer(digest, statistics),
                keys.SUSPICIOUS,
                *(d.key for d in rest),
            ],
            [
                int(found),
                now.isoformat(),
                EXISTENCE_CACHE_MAX_S,
                self.window_ms,
                draws[0].key,
                draws[0].policy.name,
                str(req.payer_type),
                cached,
                ttl,
                now_ms(now) + ttl * 1000,
                req.payer_id,
                self.payer_min_lookups,
                now.timestamp(),
                now_ms(now),
                *argv(rest),
            ],
        )

    # ------------------------------------------------------------------ our keys

    async def _own_entry_or_none(self, key: str, *, bounded: bool) -> Any:
        """Our live entry of ``key`` held in the DICT, or None. ``bounded``: give up
        after LOOKUP_OWN_CHECK_TIMEOUT_S (the DICT then decides: it refuses our keys)."""
        timeout = self.own_check_timeout_s if bounded else 5.0
        with anyio.move_on_after(timeout):
            try:
                return await anyio.to_thread.run_sync(_own_entry, key, timeout, limiter=_PG_THREADS)
            except Exception:
                if not bounded:
                    raise
                log.warning("own-key check unavailable; asking the DICT", exc_info=True)
        return None

    def _own(self, row: Any, req: LookupRequest) -> LookupAnswer:
        metrics.lookup("own_key")
        return answers.from_own(row)

    # ------------------------------------------------------------------ credits

    async def paid(self, end_to_end_id: str) -> PaymentReported | None:
        """The payment of a lookup was sent: give its tokens back once, as the DICT
        does (+1 / +2 to the payer by kind, +1 to us). None: no lookup of it in the
        window."""
        result = await self._paid([keys.payment(end_to_end_id)], [])
        if result is None:
            return None
        kind, lookups = result[0], int(result[1])
        if kind == b"again":
            return PaymentReported(end_to_end_id, lookups, credited=False)
        metrics.paid(lookups)
        if kind == b"nothing":
            return PaymentReported(end_to_end_id, lookups, credited=False)
        bucket, policy_name, payer_type = (v.decode() for v in result[2:5])
        user = policy(policy_name, person_type=payer_type)
        ours = policy("ENTRIES_READ_PARTICIPANT_ANTISCAN", self.category)
        await self.buckets.credit(
            [
                Draw(bucket, user, user.costs.payment_credit),
                Draw(keys.bucket(ours.name), ours, ours.costs.payment_credit),
            ],
            _now(),
        )
        return PaymentReported(end_to_end_id, lookups, credited=True)

    async def suspicious_payers(self) -> list[SuspiciousPayer]:
        """Payers whose misses passed 20 % of their lookups within the last 24 h."""
        day_ago = _now().timestamp() - 86_400
        flagged: list[tuple[bytes, float]] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            keys.SUSPICIOUS, day_ago, "+inf", withscores=True
        )
        pipe = self.redis.pipeline(transaction=False)
        for payer, _ in flagged:
            pipe.hmget(keys.payer(payer.decode()), "found", "missing")
        counts = await pipe.execute()
        return [
            SuspiciousPayer(
                payer.decode(),
                datetime.fromtimestamp(at, UTC),
                int(found or 0),
                int(missing or 0),
            )
            for (payer, at), (found, missing) in zip(flagged, counts, strict=True)
        ]

    # ------------------------------------------------------------------ checkKeys

    async def check_keys(self, normalised: Sequence[str], use_cache: bool) -> list[CheckedKey]:
        """Whether each key exists in the DICT: ours from the index, others from the
        existence cache when known (and ``use_cache``), the rest from checkKeys."""
        now = _now()
        digests = [key_digest(k) for k in normalised]
        pipe = self.redis.pipeline(transaction=False)
        for d in digests:
            pipe.sismember(keys.OWN, d)  # type: ignore[arg-type]  # bytes members
        for d in digests:
            pipe.get(keys.existence(d))
        found = await pipe.execute()
        own, known = found[: len(digests)], found[len(digests) :]
        answered: dict[str, CheckedKey] = {}
        for key, is_own, cached in zip(normalised, own, known, strict=True):
            if is_own:
                answered[key] = CheckedKey(key, True, "own_base", now)
            elif use_cache and cached:
                flag, _, at = cached.decode().partition("|")
                checked_at = datetime.fromisoformat(at)
                if (now - checked_at).total_seconds() < EXISTENCE_CACHE_MAX_S:
                    answered[key] = CheckedKey(key, flag == "1", "cache", checked_at)
        ask = [k for k in dict.fromkeys(normalised) if k not in answered]
        if ask:
            check = policy("KEYS_CHECK")
            wait = await self.buckets.admit([Draw(keys.bucket(check.name), check, 1)], now)
            if wait:
                raise problems.RateLimited("our KEYS_CHECK bucket is empty", retry_after_s=wait)
            reply = await self.client.check_keys(pb.CheckKeysRequest(keys=ask))
            for item in reply.keys:
                answered[item.key] = CheckedKey(item.key, item.has_entry, "dict", now)
        return [answered[k] for k in normalised]


def _outcome(problem: problems.DictProblem) -> str:
    if isinstance(problem, problems.RateLimited):
        log.warning("the DICT refused a lookup our buckets admitted: %s", problem)
        return "rate_limited_by_dict"
    return "unavailable" if problem.retryable else "refused"


def _now() -> datetime:
    return clock.now()


def _own_entry(key: str, timeout: float) -> Any:
    with db.pool().connection(timeout=timeout) as conn:
        row = entries.live_by_key(conn, key)
    return row if row is not None and row.cid is not None else None


_PG_THREADS = anyio.CapacityLimiter(4)
"""Threads a process's lookups may hold on PostgreSQL at once (answering our own keys,
checking keys while the index is rebuilt): a slow or dead database makes lookups wait
their bounded turn, never piles up threads."""

_service: Lookups | None = None


def service() -> Lookups:
    """The process's service, made on first use (on the API's event loop)."""
    global _service
    if _service is None:
        _service = Lookups(
            Redis.from_url(settings.redis().url, socket_timeout=2.0, socket_connect_timeout=1.0),
            AsyncDictClient.from_settings(),
        )
    return _service


async def close() -> None:
    global _service
    if _service is not None:
        await _service.close()
        _service = None
