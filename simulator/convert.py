"""Records and protobuf messages, both ways; timestamps as integer microseconds."""

from __future__ import annotations

import os
import re
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from app.bridge import dict_bridge_pb2 as pb
from simulator.records import EntryRecord


def ts(us: int) -> Timestamp:
    seconds, micros = divmod(us, 1_000_000)
    return Timestamp(seconds=seconds, nanos=micros * 1000)


def us_of(stamp: Timestamp) -> int:
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000


def optional_us(message: object, field: str) -> int | None:
    """The timestamp field's value, or None when unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    return us_of(getattr(message, field))


_AMOUNT = re.compile(r"([0-9]{1,16})(?:\.([0-9]{1,2}))?", re.ASCII)


def cents_of(amount: str) -> int | None:
    """The DICT's "number, format currency" (RefundAmount, "100.00") in integer cents; None
    for anything else: a sign, an exponent, a third decimal, a comma [inferred: the spec's
    examples all have two decimals; one or none is read as the same number]."""
    found = _AMOUNT.fullmatch(amount)
    if found is None:
        return None
    units, fraction = found.groups()
    return int(units) * 100 + int((fraction or "0").ljust(2, "0"))


def amount_text(cents: int) -> str:
    """Integer cents as the DICT writes an amount: always two decimals ("100.00")."""
    return f"{cents // 100}.{cents % 100:02d}"


def uuid_text(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid_bytes(text: str) -> bytes | None:
    """16 raw bytes of a UUID in its canonical 8-4-4-4-12 form; None otherwise."""
    if len(text) != 36 or text[8] != "-" or text[13] != "-" or text[18] != "-" or (text[23] != "-"):
        return None
    digits = text.replace("-", "")
    if len(digits) != 32 or not _HEX.issuperset(digits):
        return None
    return bytes.fromhex(digits)


_HEX = frozenset("0123456789abcdefABCDEF")


def new_uuid4() -> str:
    """A random UUIDv4 in lowercase text (the DICT's EVP keys)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return uuid_text(bytes(raw))


def _set_ts(stamp: Timestamp, us: int) -> None:
    seconds, micros = divmod(us, 1_000_000)
    stamp.seconds, stamp.nanos = seconds, micros * 1000


def fill_extended(out: pb.ExtendedEntry, r: EntryRecord, open_claim_us: int | None = None) -> None:
    """Write ``r`` into ``out`` in place: setting fields of a message already in its
    parent is ~3x cheaper than building sub-messages that the parent then copies."""
    e = out.entry
    e.key_type, e.key = r.key_type, r.key
    a = e.account
    a.participant, a.branch, a.account_number, a.account_type = r.account
    _set_ts(a.opening_date, r.opening_us)
    o = e.owner
    o.type, o.tax_id_number, o.name, o.trade_name = r.owner_type, r.tax_id, r.name, r.trade_name
    _set_ts(out.creation_date, r.created_us)
    _set_ts(out.key_ownership_date, r.owned_us)
    if open_claim_us is not None:
        _set_ts(out.open_claim_creation_date, open_claim_us)


def extended_pb(r: EntryRecord, open_claim_us: int | None = None) -> pb.ExtendedEntry:
    out = pb.ExtendedEntry()
    fill_extended(out, r, open_claim_us)
    return out


Response = TypeVar(
    "Response",
    pb.CreateEntryResponse,
    pb.GetEntryResponse,
    pb.UpdateEntryResponse,
    pb.GetEntryByCidResponse,
)


def with_entry(cls: type[Response], r: EntryRecord, open_claim_us: int | None = None) -> Response:
    """A response message whose ``entry`` is ``r``."""
    out = cls()
    fill_extended(out.entry, r, open_claim_us)
    return out


def record_of(entry: pb.Entry, key: str, request_id: bytes, now_us: int) -> EntryRecord:
    """A new entry's record from the request (CID not yet computed)."""
    a, o = entry.account, entry.owner
    return EntryRecord(
        key,
        entry.key_type,
        o.type,
        o.tax_id_number,
        o.name,
        o.trade_name,
        a.participant,
        a.branch,
        a.account_number,
        a.account_type,
        us_of(a.opening_date),
        now_us,
        now_us,
        request_id,
    )
