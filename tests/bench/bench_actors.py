"""A bench-only actor: apply the DICT's 'registered' answer to an entry (one transition)."""

from __future__ import annotations

import dramatiq

import actors  # noqa: F401  (the broker and its middleware)
from app import outbox
from statemachines import entry


@dramatiq.actor(queue_name="bench")
def bench_registered(entry_id: str, key: str) -> None:
    with outbox.step(actor="bench", trigger="registered") as s:
        entry.registered(s, entry_id, key)
