"""Prometheus metrics of calls to the DICT through the bridge.

Defined once at import: prometheus-client refuses a second registration of the
same name, and every DictClient in the process must feed the same series.
``outcome`` is "ok" or the problem type (a DICT type such as "EntryAlreadyExists",
or "BridgeUnavailable" / "CircuitOpen" when the DICT never answered), so a
dashboard separates the DICT refusing from the bridge being down.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CALLS = Counter(
    "dict_bridge_calls_total",
    "Calls to the DICT bridge, by RPC and outcome (ok or problem type).",
    ["rpc", "outcome"],
)

DURATION = Histogram(
    "dict_bridge_call_duration_seconds",
    "Duration of calls to the DICT bridge, retries included, by RPC and outcome.",
    ["rpc", "outcome"],
    # Up to the default deadline (5 s) finely, then room for long CID file downloads.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)


def observe(rpc: str, outcome: str, seconds: float) -> None:
    """Record one finished call."""
    CALLS.labels(rpc=rpc, outcome=outcome).inc()
    DURATION.labels(rpc=rpc, outcome=outcome).observe(seconds)
