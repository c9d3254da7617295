"""Records and protobuf messages, both ways; timestamps as integer microseconds."""

from __future__ import annotations

import os

from google.protobuf.timestamp_pb2 import Timestamp

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.simulator.records import EntryRecord


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


def account_pb(r: EntryRecord) -> pb.Account:
    return pb.Account(
        participant=r.participant,
        branch=r.branch,
        account_number=r.account_number,
        account_type=r.account_type,
        opening_date=ts(r.opening_us),
    )


def entry_pb(r: EntryRecord) -> pb.Entry:
    return pb.Entry(
        key_type=r.key_type,
        key=r.key,
        account=account_pb(r),
        owner=pb.Owner(
            type=r.owner_type, tax_id_number=r.tax_id, name=r.name, trade_name=r.trade_name
        ),
    )


def extended_pb(r: EntryRecord, open_claim_us: int | None = None) -> pb.ExtendedEntry:
    out = pb.ExtendedEntry(
        entry=entry_pb(r), creation_date=ts(r.created_us), key_ownership_date=ts(r.owned_us)
    )
    if open_claim_us is not None:
        out.open_claim_creation_date.CopyFrom(ts(open_claim_us))
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
