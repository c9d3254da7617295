"""One entry as the simulator stores it: a compact msgpack record.

The DICT side of the simulator may hold ten million entries, so an entry is
kept as one ``bytes`` (msgpack of an array-like struct, ~150 bytes) rather than
as Python objects (a tuple of ten strings alone is ~700 bytes). Decoding one on
each read costs about a microsecond, far below a gRPC call.
"""

from __future__ import annotations

import msgspec


class EntryRecord(msgspec.Struct, array_like=True, gc=False):
    """An active entry with what the DICT keeps beside it (dates, RequestId, CID)."""

    key: str
    key_type: str
    owner_type: str  # NATURAL_PERSON | LEGAL_PERSON
    tax_id: str
    name: str
    trade_name: str
    participant: str
    branch: str
    account_number: str
    account_type: str
    opening_us: int
    created_us: int  # CreationDate: when this entry (this owner at this PSP) was created
    owned_us: int  # KeyOwnershipDate: when the current owner took the key
    request_id: bytes  # 16 raw bytes of the creating RequestId: the CID's HMAC key
    cid: bytes = b""  # 32 raw bytes

    @property
    def account(self) -> tuple[str, str, str, str]:
        """What the key limit counts per (DICT.md §1, EntryLimitExceeded)."""
        return (self.participant, self.branch, self.account_number, self.account_type)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EntryRecord)


def pack(record: EntryRecord) -> bytes:
    return _encoder.encode(record)


def unpack(data: bytes) -> EntryRecord:
    return _decoder.decode(data)
