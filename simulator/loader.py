"""LoadEntries: millions of valid entries for one participant, fast (``synthetic``).

CIDs are the whole cost (an HMAC each), and computing them touches no shared
state, so it runs outside the simulator's lock (other calls go on meanwhile) and,
for big loads, in worker processes, one per CPU: the results are appended in
order under the lock, a chunk at a time. Workers are spawned, not forked: a fork
of a process running gRPC threads is unsafe.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

from app.domain import problems
from simulator.state import Simulator
from simulator.synthetic import Segment, compute_range, compute_range_of_copy

KEY_TYPES = ("CPF", "CNPJ", "PHONE", "EMAIL", "EVP")
CHUNK = 50_000  # entries per hold of the lock
PARALLEL_MIN = 500_000  # below this, starting worker processes costs more than it saves


def load(sim: Simulator, participant: str, key_type: str, count: int, seed: int) -> float:
    """Generate and activate ``count`` entries; returns the seconds it took."""
    started = time.perf_counter()
    key_type = key_type or "EVP"
    if key_type not in KEY_TYPES or count < 0:
        raise problems.BadRequest(
            "key_type must be a DICT key type and count >= 0",
            violations=[("key_type", "one_of"), ("count", "min")],
        )
    with sim.lock:
        sim.participant(participant)
        try:
            seg = sim.state.store.new_segment(participant, key_type, count, sim.now_us(), seed)
        except ValueError as exc:
            raise problems.BadRequest(str(exc)) from None
    ranges = [(lo, min(lo + CHUNK, count)) for lo in range(0, count, CHUNK)]
    workers = min(os.cpu_count() or 1, 4)
    if count >= PARALLEL_MIN and workers > 1:
        spec = dataclasses.replace(seg, cids=bytearray(), loaded=0)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = pool.map(
                compute_range_of_copy,
                itertools.repeat(spec),
                [lo for lo, _ in ranges],
                [hi for _, hi in ranges],
                chunksize=1,
            )
            _append(sim, seg, ranges, results)
    else:
        _append(sim, seg, ranges, (compute_range(seg, lo, hi) for lo, hi in ranges))
    return time.perf_counter() - started


def _append(
    sim: Simulator,
    seg: Segment,
    ranges: list[tuple[int, int]],
    results: Iterable[tuple[bytes, int, int]],
) -> None:
    ledger, store = sim.state.ledger, sim.state.store
    for (_lo, hi), (cids, xor, live) in zip(ranges, results, strict=True):
        with sim.lock:
            killed_xor, killed = store.extend(seg, cids, live, hi)
            ledger.fold(seg.participant, seg.key_type, xor ^ killed_xor, live - killed)
