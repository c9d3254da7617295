"""The simulator's knobs: behaviour settings, participants and injected faults.

All three can be changed at run time through SimulatorAdmin; the defaults are
the ones a test wants (no list lag, rate limits on, key limits on).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

CATEGORIES = ("A", "B", "C", "D", "E", "F", "G", "H")

# The participants a simulator starts with when none are given: ours (settings'
# default PARTICIPANT_ISPB) and a second PSP to claim our keys and be claimed from.
DEFAULT_PARTICIPANTS: tuple[tuple[str, str], ...] = (("12345678", "A"), ("87654321", "A"))

LEGAL_PERSON_CACHE_MAX_AGE = 180
"""Manual §12: lookups of keys "vinculadas a usuários pessoa jurídica podem ter suas
respostas cacheadas ... prazo máximo de 180 segundos definido no header Cache-Control"."""

FRAUD_REFUND_WINDOW_HOURS = 72.0
"""Manual §10.1 and §17.2: "O PSP do pagador tem até 72 horas para iniciar a solicitação de
devolução após a conclusão do processo de notificação de infração"."""

OPERATIONAL_FLAW_REFUND_WINDOW_DAYS = 90.0
"""Manual §17.1 (flow, step 2): "Caso a transação tenha sido realizada nos últimos noventa
dias, PSP do pagador envia solicitação de devolução" (calendar days of 24 h [inferred])."""


@dataclass
class SimConfig:
    list_lag_seconds: float = 0.0
    """Lists (claims, CID events, reports) hide rows modified less than this ago (DICT: <=5 s)."""
    cid_file_processing_seconds: float = 10.0
    """A CID file is REQUESTED, then PROCESSING, then AVAILABLE after this long."""
    rate_limits_enabled: bool = True
    """Token buckets are taken and enforced (RateLimited when empty)."""
    key_limits_enabled: bool = True
    """EntryLimitExceeded beyond 5 (CPF owner) / 20 (CNPJ owner) keys per account."""
    corrupt_cid_files: bool = False
    """Downloads of CID files deliver bytes that do not match the announced Sha256 (one
    CID line altered, same size): a corrupted transfer. GetCidSetFile is unchanged."""
    legal_person_cache_max_age_seconds: int = LEGAL_PERSON_CACHE_MAX_AGE
    """GetEntry's Cache-Control max-age for a LEGAL_PERSON's key (0..180); a NATURAL_PERSON's
    key is always answered with 0, not to be cached."""
    fraud_refund_window_hours: float = FRAUD_REFUND_WINDOW_HOURS
    """A FRAUD (or REFUND_CANCELLED) refund request must follow the AGREED close of its
    infraction report within this many hours; later: RefundPeriodExpired."""
    operational_flaw_refund_window_days: float = OPERATIONAL_FLAW_REFUND_WINDOW_DAYS
    """An OPERATIONAL_FLAW refund request must name a transaction settled at most this many
    days ago; older: RefundPeriodExpired."""


@dataclass(frozen=True)
class Participant:
    ispb: str
    category: str
    name: str = ""


@dataclass(frozen=True)
class Faults:
    """Faults injected into a fraction of DictBridge calls (never SimulatorAdmin)."""

    latency_ms: float = 0.0
    unavailable_ratio: float = 0.0
    """Answered UNAVAILABLE before doing anything: the DICT never saw the request."""
    drop_ratio: float = 0.0
    """Executed, then answered UNAVAILABLE: the DICT acted but the answer was lost."""
    methods: frozenset[str] = field(default_factory=frozenset)
    """Method names affected; empty means every DictBridge method."""
    participants: frozenset[str] = field(default_factory=frozenset)
    """Callers affected (their ISPB); empty means every caller. A fault test breaks the
    bridge of the participant under test while the other PSP it plays still gets through."""

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.unavailable_ratio or self.drop_ratio)

    def applies(self, method: str, participant: str) -> bool:
        return (
            self.active
            and (not self.methods or method in self.methods)
            and (not self.participants or participant in self.participants)
        )

    def roll_unavailable(self) -> bool:
        return self.unavailable_ratio > 0 and random.random() < self.unavailable_ratio

    def roll_drop(self) -> bool:
        return self.drop_ratio > 0 and random.random() < self.drop_ratio


def parse_participants(text: str) -> list[tuple[str, str]]:
    """``"12345678:A,87654321:B"`` (category defaults to A) -> [(ispb, category), ...]."""
    result = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        ispb, _, category = part.partition(":")
        result.append((ispb.strip(), (category.strip() or "A").upper()))
    return result
