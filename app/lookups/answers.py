"""What a lookup answers: the DICT's ExtendedEntry (and statistics when asked), or our
own entry for a book transfer. The API returns these structs as they are."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from google.protobuf.timestamp_pb2 import Timestamp

from app.bridge import dict_bridge_pb2 as pb


def _time(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _opt_time(holder: Any, field: str) -> datetime | None:
    return _time(getattr(holder, field)) if holder.HasField(field) else None


class LookupAccount(msgspec.Struct, frozen=True):
    participant: str
    """ISPB of the participant holding the account."""
    account_number: str
    account_type: str
    """CACC, SVGS, SLRY or TRAN."""
    opening_date: datetime
    branch: str | None = None


class LookupOwner(msgspec.Struct, frozen=True):
    type: str
    """NATURAL_PERSON or LEGAL_PERSON."""
    tax_id: str
    name: str
    trade_name: str | None = None


class StatisticsWindow(msgspec.Struct, frozen=True):
    """Counts over the last 90 days, 12 months and 60 months."""

    d90: int
    m12: int
    m60: int


class SpiStatistics(msgspec.Struct, frozen=True):
    watermark: datetime | None
    settlements: StatisticsWindow


class FraudMarkerStatistics(msgspec.Struct, frozen=True):
    watermark: datetime | None
    application_frauds: StatisticsWindow
    mule_accounts: StatisticsWindow
    scammer_accounts: StatisticsWindow
    other_frauds: StatisticsWindow
    unknown_frauds: StatisticsWindow
    total_fraud_transaction_amount: StatisticsWindow
    distinct_fraud_reporters: StatisticsWindow


class InfractionReportStatistics(msgspec.Struct, frozen=True):
    watermark: datetime | None
    open_reports: int
    open_reports_distinct_reporters: int
    rejected_reports: StatisticsWindow


class LookupStatistics(msgspec.Struct, frozen=True):
    """The DICT's anti-fraud counters of the key's owner (PersonStatistics) or of the
    key (KeyStatistics); ``entries`` is RegisteredAccounts for the owner and
    DistinctAccounts for the key."""

    spi: SpiStatistics
    fraud_markers: FraudMarkerStatistics
    infraction_reports: InfractionReportStatistics
    entries_watermark: datetime | None
    entries: int


class LookupAnswer(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    key_type: str
    account: LookupAccount
    owner: LookupOwner
    source: str
    """dict: the DICT answered now; cache: a legal person's key the DICT answered within
    the last 180 s; own_base: the key is ours, pay it as a book transfer."""
    book_transfer: bool = False
    """True when the key is held by us: the DICT refuses to be asked, pay internally."""
    entry_id: uuid.UUID | None = None
    """Our entry, for a book transfer."""
    creation_date: datetime | None = None
    key_ownership_date: datetime | None = None
    open_claim_creation_date: datetime | None = None
    """Set while a portability or ownership claim is open on the key."""
    correlation_id: str | None = None
    """The DICT's CorrelationId of the answer (quote it to the BCB)."""
    owner_statistics: LookupStatistics | None = None
    key_statistics: LookupStatistics | None = None


class PaymentReported(msgspec.Struct, frozen=True):
    end_to_end_id: str
    lookups: int
    """Lookups made with this end-to-end id (about one per payment is normal)."""
    credited: bool
    """True when this report gave the lookup's tokens back; false when it had been
    reported before or no lookup of it reached the DICT."""


class SuspiciousPayer(msgspec.Struct, frozen=True):
    payer_id: str
    flagged_at: datetime
    """When its misses first passed 20 % of its lookups (with at least
    LOOKUP_PAYER_MIN_LOOKUPS of them)."""
    found: int
    missing: int
    """Its lookups of the day that found a key, and that did not."""


class CheckedKey(msgspec.Struct, frozen=True):
    key: str
    has_entry: bool
    source: str
    """dict (asked now), cache (a lookup within 30 days) or own_base (a key of ours)."""
    checked_at: datetime


def _windowed(w: pb.WindowedValue) -> StatisticsWindow:
    return StatisticsWindow(w.d90, w.m12, w.m60)


def _statistics(s: pb.PersonStatistics | pb.KeyStatistics) -> LookupStatistics:
    f, r = s.fraud_markers, s.infraction_reports
    entries: pb.KeyEntryStatistics | pb.PersonEntryStatistics = s.entries
    if isinstance(s, pb.KeyStatistics):
        count = s.entries.distinct_accounts
    else:
        count = s.entries.registered_accounts
    return LookupStatistics(
        spi=SpiStatistics(_opt_time(s.spi, "watermark"), _windowed(s.spi.settlements)),
        fraud_markers=FraudMarkerStatistics(
            _opt_time(f, "watermark"),
            *(
                _windowed(getattr(f, name))
                for name in (
                    "application_frauds",
                    "mule_accounts",
                    "scammer_accounts",
                    "other_frauds",
                    "unknown_frauds",
                    "total_fraud_transaction_amount",
                    "distinct_fraud_reporters",
                )
            ),
        ),
        infraction_reports=InfractionReportStatistics(
            _opt_time(r, "watermark"),
            r.open_reports,
            r.open_reports_distinct_reporters,
            _windowed(r.rejected_reports),
        ),
        entries_watermark=_opt_time(entries, "watermark"),
        entries=count,
    )


def from_dict(answer: pb.GetEntryResponse, source: str = "dict") -> LookupAnswer:
    """The DICT's answer as ours."""
    extended = answer.entry
    e = extended.entry
    a, o = e.account, e.owner
    return LookupAnswer(
        key=e.key,
        key_type=e.key_type,
        account=LookupAccount(
            a.participant, a.account_number, a.account_type, _time(a.opening_date), a.branch or None
        ),
        owner=LookupOwner(o.type, o.tax_id_number, o.name, o.trade_name or None),
        source=source,
        creation_date=_opt_time(extended, "creation_date"),
        key_ownership_date=_opt_time(extended, "key_ownership_date"),
        open_claim_creation_date=_opt_time(extended, "open_claim_creation_date"),
        correlation_id=answer.correlation_id or None,
        owner_statistics=_statistics(answer.owner_statistics)
        if answer.HasField("owner_statistics")
        else None,
        key_statistics=_statistics(answer.key_statistics)
        if answer.HasField("key_statistics")
        else None,
    )


def from_own(row: Any) -> LookupAnswer:
    """Our entry (an ``EntryRow``), answered as a book transfer."""
    return LookupAnswer(
        key=row.key,
        key_type=row.key_type,
        account=LookupAccount(
            row.participant, row.account_number, row.account_type, row.opening_date, row.branch
        ),
        owner=LookupOwner(row.owner_type, row.owner_tax_id, row.owner_name, row.owner_trade_name),
        source="own_base",
        book_transfer=True,
        entry_id=row.id,
        creation_date=row.created_at,
    )
