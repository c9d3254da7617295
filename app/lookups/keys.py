"""Every Redis key the lookups use. Keys are never in clear: a Pix key appears only
as the hex of its SHA-256 (manual §16), a payer as the hex of the SHA-256 of its tax
id in bucket names."""

from __future__ import annotations

import hashlib

PREFIX = "dict-connect:lookups"

OWN = f"{PREFIX}:own"
"""SET of the SHA-256 digests (32 bytes) of every key we hold in the DICT."""
OWN_BUILT = f"{PREFIX}:own:built"
"""Present once OWN was rebuilt from PostgreSQL; absent after Redis lost its data."""
SUSPICIOUS = f"{PREFIX}:suspicious-payers"
"""ZSET payer id -> when its misses first passed 20 % of its lookups (MO8 §13.2)."""


def answer(digest: bytes, statistics: bool) -> str:
    """A cached DICT answer (legal persons' keys only, ≤ 180 s)."""
    return f"{PREFIX}:answer:{digest.hex()}:{int(statistics)}"


def existence(digest: bytes) -> str:
    """Whether the key exists in the DICT: "1|<cached at>" or "0|<cached at>", ≤ 30 days."""
    return f"{PREFIX}:exists:{digest.hex()}"


def payment(end_to_end_id: str) -> str:
    """The lookups of one payment: how many, and the buckets its credit goes back to."""
    return f"{PREFIX}:payment:{end_to_end_id}"


def payer(payer_id: str) -> str:
    """A payer's found and missing lookups of the day (HASH found, missing)."""
    return f"{PREFIX}:payer:{payer_id}"


def bucket(policy: str, payer_id: str | None = None) -> str:
    """A token bucket: ours for a PSP policy, the payer's for a USER one."""
    if payer_id is None:
        return f"dict-connect:bucket:{policy}"
    digest = hashlib.sha256(payer_id.encode()).hexdigest()[:32]
    return f"dict-connect:bucket:{policy}:{digest}"
