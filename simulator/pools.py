"""The server's threads: few for speed, many when calls are meant to wait.

Each gRPC call holds a pool thread until it answers. Handler threads contend for
the GIL, so two threads serve the most calls per second here (measured: 2 beat
4, 8 and 16 on the 2-core reference machine; docs/benchmarks.md). But a call that
sleeps (injected latency) or runs long (LoadEntries, a big CID file download)
would then starve the others, so those go to a wide pool instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

from simulator.config import Faults

WIDE_WORKERS = 64


class ElasticPool(futures.ThreadPoolExecutor):
    """A narrow pool that hands calls to ``wide`` while injected latency is on."""

    def __init__(self, faults: Callable[[], Faults], workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="dict-sim")
        self.wide = futures.ThreadPoolExecutor(WIDE_WORKERS, thread_name_prefix="dict-sim-wide")
        self._faults = faults

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        if self._faults().latency_ms:
            return self.wide.submit(fn, *args, **kwargs)
        return super().submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.wide.shutdown(wait, cancel_futures=cancel_futures)
        super().shutdown(wait, cancel_futures=cancel_futures)


def on_wide_pool(handler: Callable[..., Any], pool: ElasticPool) -> Callable[..., Any]:
    """Mark a long-running handler to run on the wide pool (gRPC reads the attribute)."""
    handler.experimental_thread_pool = pool.wide  # type: ignore[attr-defined]
    return handler
