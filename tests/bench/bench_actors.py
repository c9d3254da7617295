"""A bench-only actor: apply the DICT's 'registered' answer to an entry (one transition),
as ``register_entry`` does once the DICT answered, batched like every outbox actor."""

from __future__ import annotations

import dramatiq

from actors import batch, broker
from app import outbox
from statemachines import entry
from statemachines.core import IllegalTrigger


@dramatiq.actor(queue_name="bench")
def bench_registered(entry_id: str, key: str) -> None:
    outbox.apply(lambda s: entry.registered(s, entry_id, key), moot=(IllegalTrigger,))


batch.install(broker, {"bench_registered"})
