"""Optional persistence: with a state directory the simulated DICT survives a restart.

State lives in memory; ``save`` writes one pickle when the server stops cleanly
and ``load`` reads it at start. A crash loses what changed since the last clean
stop, as a test environment may.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import fields
from pathlib import Path

from simulator.state import DictState, Simulator

FILE = "simulator-state.pickle"


def save(sim: Simulator, state_dir: str) -> None:
    path = Path(state_dir)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f"{FILE}.tmp"
    with sim.lock:
        snapshot = {
            "state": sim.state,
            "offset_seconds": sim.clock.offset_seconds,
            "participants": sim.participants,
            "config": sim.config,
        }
        with tmp.open("wb") as fh:
            pickle.dump(snapshot, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path / FILE)


def load(sim: Simulator, state_dir: str) -> bool:
    """Restore a saved state; False when there is none."""
    path = Path(state_dir) / FILE
    if not path.exists():
        return False
    with path.open("rb") as fh:  # our own file, written by save()
        snapshot = pickle.load(fh)  # nosec B301
    with sim.lock:
        sim.state = _backfilled(snapshot["state"])
        sim.participants = snapshot["participants"]
        sim.config = snapshot["config"]
        sim.clock.reset()
        sim.clock.advance(snapshot["offset_seconds"])
    return True


def _backfilled(state: DictState) -> DictState:
    """A state saved before a part of it existed (refunds, transactions, ...) gets that
    part empty, as a fresh DICT has it."""
    fresh = DictState()
    for part in fields(DictState):
        if not hasattr(state, part.name):
            setattr(state, part.name, getattr(fresh, part.name))
    return state
