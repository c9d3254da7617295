"""Lookup metrics: what the BCB watches of a participant (MO8 §13.2: about one lookup
per payment, misses under 7 % for the participant and 20 % for a payer) and what an
operator needs to see the cache and the buckets work.

Counters and the histogram are per process (multiprocess mode adds them up); the
gauges read Redis at scrape time (``RedisCollector``), so every API process reports
the same shared state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram

LOOKUPS = Counter(
    "dict_lookups_total",
    "Key lookups by outcome: found, not_found (the DICT's 404), own_key (a book transfer,"
    " the DICT not asked), cached, rate_limited (refused here, the DICT not asked),"
    " rate_limited_by_dict, unavailable, refused (another DICT problem).",
    ["outcome"],
)
CACHE = Counter(
    "dict_lookup_cache_total",
    "Lookups of other participants' keys by answer cache result (hit or miss).",
    ["result"],
)
PER_PAYMENT = Histogram(
    "dict_lookups_per_payment",
    "Lookups made for one payment (same end-to-end id), observed when it is reported paid.",
    buckets=(1, 2, 3, 5, 10),
)


OUTCOMES = (
    "found",
    "not_found",
    "own_key",
    "cached",
    "rate_limited",
    "rate_limited_by_dict",
    "unavailable",
    "refused",
)
# Every series exists from the start (increase() sees the first event), and each
# child is looked up once, not per lookup.
_BY_OUTCOME = {outcome: LOOKUPS.labels(outcome=outcome) for outcome in OUTCOMES}
_HIT, _MISS = CACHE.labels(result="hit"), CACHE.labels(result="miss")


def lookup(outcome: str) -> None:
    _BY_OUTCOME[outcome].inc()


def cache(*, hit: bool) -> None:
    (_HIT if hit else _MISS).inc()


def paid(lookups: int) -> None:
    PER_PAYMENT.observe(lookups)


class RedisCollector:
    """Gauges of the shared Redis state, read at scrape time through ``redis()`` (a
    function returning the process's sync client)."""

    def __init__(self, redis: Callable[[], Any], now: Callable[[], datetime]) -> None:
        self._redis = redis
        self._now = now

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from app.lookups import keys

        day_ago = self._now().timestamp() - 86_400
        pipe = self._redis().pipeline(transaction=False)
        pipe.zremrangebyscore(keys.SUSPICIOUS, "-inf", day_ago)
        pipe.zcard(keys.SUSPICIOUS)
        pipe.scard(keys.OWN)
        pipe.exists(keys.OWN_BUILT)
        _, suspicious, own, built = pipe.execute()
        yield GaugeMetricFamily(
            "dict_lookup_suspicious_payers",
            "Payers whose misses passed 20 % of their lookups within the last 24 h",
            value=suspicious,
        )
        yield GaugeMetricFamily(
            "dict_lookup_own_keys_indexed",
            "Keys of ours in the lookups' Redis index (book transfers answered without the DICT)",
            value=own,
        )
        yield GaugeMetricFamily(
            "dict_lookup_own_index_built",
            "1 when the index of our keys is built; 0 after Redis lost it (rebuilt in a minute)",
            value=built,
        )
