"""GetEntry's statistics (IncludeStatistics): the anti-fraud counters of the key and of its
owner (manual §18 "FLUXO DE CONSULTA A INFORMAÇÕES DE SEGURANÇA"; OpenAPI v2.6.1 schemas
PersonStatistics, KeyStatistics and WindowedValue), from what the simulated DICT holds:

- fraud markers (``sim.state.markers``) still REGISTERED, counted by FraudType: a marker
  counts for the person of its TaxIdNumber, and for a key when it names the key and the
  key's owner is still that person (§18: a key's reports pass to a new registration only
  when "o conjunto de informações relativas à chave e ao usuário" is the same) [inferred:
  a CANCELLED marker is withdrawn and counts nowhere];
- infraction reports tied to a key and owner (``Report.key``/``Report.owner``: only a
  REFUND_REQUEST whose transaction the simulator saw looked up; see ``infractions``);
  the others cannot be tied to anyone and count nowhere;
- active entries (the accounts holding the owner's keys).

The simulator has no SPI: Settlements and TotalFraudTransactionAmount are zeros
[inferred]. The DICT's counters lag events by up to 12 h (§18, each block's Watermark is
"data-hora do último evento considerado"); the simulator's never lag, so every Watermark
is the simulator's now [inferred].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta, timezone

from app.bridge import dict_bridge_pb2 as pb
from simulator.clock import US, from_datetime, to_datetime
from simulator.convert import ts
from simulator.models import ACKNOWLEDGED, CLOSED, OPEN_REPORT, REGISTERED, Marker, Report
from simulator.records import EntryRecord
from simulator.state import Simulator

BRASILIA = timezone(timedelta(hours=-3))
"""Where the months of m12 and m60 begin [inferred: the DICT runs on Brasília time, which
has kept UTC-3 all year since 2019]."""
D90_US = 90 * 86_400 * US

FRAUD_FIELDS = {  # WindowedValue field -> the FraudType it counts (OpenAPI descriptions)
    "application_frauds": "APPLICATION_FRAUD",
    "mule_accounts": "MULE_ACCOUNT",
    "scammer_accounts": "SCAMMER_ACCOUNT",
    "other_frauds": "OTHER",
}


@dataclass(frozen=True, slots=True)
class Windows:
    """A WindowedValue's three windows at one instant (manual §18): the last 90 days, and
    the last 12 and 60 months "sem considerar o mês no qual a consulta é realizada" (whole
    calendar months before the current one)."""

    now_us: int
    d90_from_us: int
    month_us: int  # the current month's first instant: m12 and m60 end just before it
    m12_from_us: int
    m60_from_us: int

    @classmethod
    def at(cls, now_us: int) -> Windows:
        local = to_datetime(now_us).astimezone(BRASILIA)
        month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return cls(
            now_us,
            now_us - D90_US,
            from_datetime(month),
            from_datetime(month.replace(year=month.year - 1)),
            from_datetime(month.replace(year=month.year - 5)),
        )

    def distinct(self, events: Iterable[tuple[int, str]]) -> pb.WindowedValue:
        """How many distinct subjects had an event (instant, subject) in each window: an
        event's own id counts events, a participant counts participants."""
        d90: set[str] = set()
        m12: set[str] = set()
        m60: set[str] = set()
        for at, subject in events:
            if self.d90_from_us <= at <= self.now_us:
                d90.add(subject)
            if self.m60_from_us <= at < self.month_us:
                m60.add(subject)
                if at >= self.m12_from_us:
                    m12.add(subject)
        return pb.WindowedValue(d90=len(d90), m12=len(m12), m60=len(m60))


def attach(sim: Simulator, record: EntryRecord, out: pb.GetEntryResponse) -> None:
    """Fill the answer's OwnerStatistics and KeyStatistics for ``record``'s key."""
    w = Windows.at(sim.now_us())
    markers = [m for m in sim.state.markers.values() if m.status == REGISTERED]
    reports = list(sim.state.reports.values())
    tax_id, key = record.tax_id, record.key
    out.owner_statistics.CopyFrom(
        pb.PersonStatistics(
            spi=_no_settlements(w),
            fraud_markers=_fraud_markers([m for m in markers if m.tax_id == tax_id], w),
            infraction_reports=_reports([r for r in reports if r.owner == tax_id], w),
            entries=pb.PersonEntryStatistics(
                watermark=ts(w.now_us),
                registered_accounts=sim.state.store.owner_account_count(tax_id),
            ),
        )
    )
    out.key_statistics.CopyFrom(
        pb.KeyStatistics(
            spi=_no_settlements(w),
            fraud_markers=_fraud_markers(
                [m for m in markers if (m.key, m.tax_id) == (key, tax_id)], w
            ),
            infraction_reports=_reports(
                [r for r in reports if (r.key, r.owner) == (key, tax_id)], w
            ),
            # "contas distintas em que houve registro da chave": the simulator keeps no
            # history of a key's accounts, so only the one it is on now [inferred].
            entries=pb.KeyEntryStatistics(watermark=ts(w.now_us), distinct_accounts=1),
        )
    )


def _no_settlements(w: Windows) -> pb.SpiStatistics:
    """Settlements as payee (a person) or through the key: none without an SPI [inferred];
    SettlePayment only credits lookups, it records no settlement."""
    return pb.SpiStatistics(watermark=ts(w.now_us), settlements=pb.WindowedValue())


def _fraud_markers(markers: list[Marker], w: Windows) -> pb.FraudMarkerStatistics:
    """Counted from each marker's creation, which for a report's marker is when the report
    was closed AGREED (§18: "considera-se como data inicial a data em que a notificação foi
    aceita"). UnknownFrauds are v1 markers, which this v2 DICT never holds: every marker
    has one of the four types, so excluding UNKNOWN from DistinctFraudReporters leaves all.
    TotalFraudTransactionAmount sums settled amounts: none without an SPI [inferred]."""
    counts = {
        name: w.distinct((m.created_us, m.id) for m in markers if m.fraud_type == fraud_type)
        for name, fraud_type in FRAUD_FIELDS.items()
    }
    return pb.FraudMarkerStatistics(
        watermark=ts(w.now_us),
        unknown_frauds=pb.WindowedValue(),
        total_fraud_transaction_amount=pb.WindowedValue(),
        distinct_fraud_reporters=w.distinct((m.created_us, m.participant) for m in markers),
        **counts,
    )


def _reports(reports: list[Report], w: Windows) -> pb.InfractionReportStatistics:
    """Open: "ainda não concluídas nem canceladas" (OPEN or ACKNOWLEDGED). Rejected:
    closed DISAGREED, counted from the close [inferred, as §18 counts confirmed reports
    from their acceptance]; a CLOSED report changes no more, so its LastModified is it."""
    still_open = [r for r in reports if r.status in (OPEN_REPORT, ACKNOWLEDGED)]
    rejected = (
        (r.last_modified_us, r.id)
        for r in reports
        if r.status == CLOSED and r.analysis_result == "DISAGREED"
    )
    return pb.InfractionReportStatistics(
        watermark=ts(w.now_us),
        open_reports=len(still_open),
        open_reports_distinct_reporters=len({r.reporter for r in still_open}),
        rejected_reports=w.distinct(rejected),
    )
