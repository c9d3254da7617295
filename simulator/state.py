"""The simulated DICT: every piece of state, one lock, and the few moves that
keep entries, VSyncs and CID events consistent with each other.

Handlers run in the gRPC server's threads and take ``Simulator.lock`` for the
whole decision and change, so a call sees and leaves a consistent DICT (the
DICT's own writes are serialisable per key; one lock is simpler and, given the
GIL, no slower).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from app.domain import cid as cid_rules
from app.domain import problems
from app.domain.buckets import TokenBucket
from simulator.buckets import Limiter
from simulator.clock import SimClock
from simulator.config import DEFAULT_PARTICIPANTS, Faults, Participant, SimConfig
from simulator.counters import CallCounters
from simulator.ledger import Ledger
from simulator.lookups import Lookups
from simulator.models import CidFile, Claim, Marker, Refund, Report, Transaction
from simulator.records import EntryRecord
from simulator.store import EntryStore


def cid_of(r: EntryRecord) -> bytes:
    """The entry's CID: HMAC keyed by its creating RequestId (DICT.md §3)."""
    return cid_rules.compute_cid_bytes(
        r.request_id,
        r.key_type,
        r.key,
        r.tax_id,
        r.name,
        r.trade_name,
        r.participant,
        r.branch,
        r.account_number,
        r.account_type,
    )


class CreateMemo(NamedTuple):
    """What a CreateEntry RequestId did, to answer its repeats the same way (a tuple
    of bytes: the cyclic GC stops tracking it, however many creates there were)."""

    fingerprint: bytes  # digest of the request's entry and reason
    record: bytes  # the entry as created (packed)


@dataclass
class DictState:
    """Everything Reset forgets."""

    store: EntryStore = field(default_factory=EntryStore)
    ledger: Ledger = field(default_factory=Ledger)
    counters: CallCounters = field(default_factory=CallCounters)
    creates: dict[str, CreateMemo] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    open_claims: dict[str, str] = field(default_factory=dict)  # key -> claim in progress
    reports: dict[str, Report] = field(default_factory=dict)
    markers: dict[str, Marker] = field(default_factory=dict)
    marker_requests: dict[str, str] = field(default_factory=dict)  # RequestId -> marker id
    refunds: dict[str, Refund] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)  # the SPI's, by E2E id
    files: dict[int, CidFile] = field(default_factory=dict)
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    sizes: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    """(ispb, policy) -> (capacity, refill tokens, refill period s) set by the admin."""
    lookups: Lookups = field(default_factory=Lookups)  # E2E id -> lookups awaiting payment
    sequence: int = 0


class Simulator:
    def __init__(
        self, participants: list[tuple[str, str]] | None = None, config: SimConfig | None = None
    ) -> None:
        self.lock = threading.RLock()
        self.clock = SimClock()
        self.faults = Faults()
        self._initial_participants = list(participants or DEFAULT_PARTICIPANTS)
        self._initial_config = config or SimConfig()
        self.config = replace(self._initial_config)
        self.participants: dict[str, Participant] = {}
        self.state = DictState()
        self.buckets = Limiter(self)
        self._correlation = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        """Forget every entry, claim, report, refund, transaction, file, bucket and
        counter; restore the starting participants, configuration and clock; clear faults."""
        with self.lock:
            self.state = DictState()
            self.clock.reset()
            self.faults = Faults()
            self.config = replace(self._initial_config)
            self.participants = {
                ispb: Participant(ispb, category) for ispb, category in self._initial_participants
            }

    # ------------------------------------------------------------ helpers for services

    def now_us(self) -> int:
        return self.clock.now_us()

    def next_id(self) -> int:
        self.state.sequence += 1
        return self.state.sequence

    def correlation_id(self) -> str:
        return f"sim-{next(self._correlation):012x}"

    def participant(self, ispb: str) -> Participant:
        """The known participant; Forbidden without one, ParticipantInvalid (the DICT's
        v2 problem type) for an ISPB the DICT does not know."""
        found = self.participants.get(ispb)
        if found is None:
            if not ispb:
                raise problems.Forbidden("the pi-requesting-participant metadata is missing")
            raise problems.ParticipantInvalid(f"participant {ispb!r} is not registered")
        return found

    def activate(self, record: EntryRecord, now_us: int) -> EntryRecord:
        """Make ``record`` the key's active entry: CID, store, VSync, ADDED event."""
        record.cid = cid_of(record)
        self.state.store.add(record)
        self.state.ledger.added(record.participant, record.key_type, record.cid, now_us)
        return record

    def deactivate(self, key: str, now_us: int) -> EntryRecord | None:
        """Take the key's entry out: store, VSync, REMOVED event."""
        record = self.state.store.remove(key)
        if record is not None:
            self.state.ledger.removed(record.participant, record.key_type, record.cid, now_us)
        return record
