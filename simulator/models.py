"""The DICT's few-and-small objects: claims, infraction reports, fraud markers, refund
requests, the SPI's settled transactions they name, CID files. Unlike entries they are
plain dataclasses: there are never millions."""

from __future__ import annotations

from dataclasses import dataclass

from app.bridge import dict_bridge_pb2 as pb
from simulator.convert import amount_text, ts

OPEN, WAITING, CONFIRMED, CANCELLED, COMPLETED = (
    "OPEN",
    "WAITING_RESOLUTION",
    "CONFIRMED",
    "CANCELLED",
    "COMPLETED",
)
CLAIM_IN_PROGRESS = frozenset({OPEN, WAITING, CONFIRMED})
CLAIM_LOCKS_KEY = frozenset({OPEN, WAITING})


@dataclass
class Claim:
    id: str
    type: str  # PORTABILITY | OWNERSHIP
    key: str
    key_type: str
    claimer_account: pb.Account
    claimer: pb.Owner
    donor_participant: str
    created_us: int  # kept for our own bookkeeping: the DICT's claim record has no creation date
    resolution_end_us: int
    completion_end_us: int | None  # OWNERSHIP only
    last_modified_us: int
    status: str = OPEN
    confirm_reason: str = ""
    cancel_reason: str = ""
    cancelled_by: str = ""  # DONOR | CLAIMER
    complete_request_id: str = ""
    donor_owned_us: int = 0  # the donor entry's KeyOwnershipDate (kept by a portability)

    @property
    def claimer_participant(self) -> str:
        return self.claimer_account.participant

    def to_pb(self) -> pb.Claim:
        out = pb.Claim(
            id=self.id,
            type=self.type,
            key=self.key,
            key_type=self.key_type,
            claimer_account=self.claimer_account,
            claimer=self.claimer,
            donor_participant=self.donor_participant,
            status=self.status,
            resolution_period_end=ts(self.resolution_end_us),
            last_modified=ts(self.last_modified_us),
            confirm_reason=self.confirm_reason,
            cancel_reason=self.cancel_reason,
            cancelled_by=self.cancelled_by,
        )
        if self.completion_end_us is not None:
            out.completion_period_end.CopyFrom(ts(self.completion_end_us))
        return out


OPEN_REPORT, ACKNOWLEDGED, CLOSED, CANCELLED_REPORT = "OPEN", "ACKNOWLEDGED", "CLOSED", "CANCELLED"


@dataclass
class Report:
    id: str
    transaction_id: str
    reason: str
    situation_type: str
    report_details: str
    reporter: str
    counterparty: str
    contact: pb.ContactInformation
    created_us: int
    last_modified_us: int
    status: str = OPEN_REPORT
    analysis_result: str = ""
    analysis_details: str = ""
    fraud_type: str = ""  # given on close; shown by the marker, not by the report
    fraud_marker_id: str = ""
    key: str = ""  # the key the reported transaction paid, when the simulator knows it
    owner: str = ""  # that key's owner's tax id (the payee): what the statistics count

    def to_pb(self, details: bool = True) -> pb.InfractionReport:
        """``details``: with ReportDetails and AnalysisDetails (a list sends them only
        when asked: IncludeDetails, "Inclui os detalhes da notificação")."""
        return pb.InfractionReport(
            id=self.id,
            transaction_id=self.transaction_id,
            reason=self.reason,
            situation_type=self.situation_type,
            report_details=self.report_details if details else "",
            reporter_participant=self.reporter,
            counterparty_participant=self.counterparty,
            status=self.status,
            contact_information=self.contact,
            analysis_result=self.analysis_result,
            analysis_details=self.analysis_details if details else "",
            fraud_marker_id=self.fraud_marker_id,
            creation_time=ts(self.created_us),
            last_modified=ts(self.last_modified_us),
        )


REGISTERED, CANCELLED_MARKER = "REGISTERED", "CANCELLED"


@dataclass
class Marker:
    id: str
    participant: str
    tax_id: str
    key: str
    fraud_type: str
    created_us: int
    request_id: str = ""
    report_id: str = ""
    closed_by: str = ""  # the PSP that closed the generating report (may cancel too)
    status: str = REGISTERED
    last_modified_us: int = 0  # 0: never modified since creation

    def to_pb(self) -> pb.FraudMarker:
        return pb.FraudMarker(
            id=self.id,
            tax_id_number=self.tax_id,
            key=self.key,
            fraud_type=self.fraud_type,
            status=self.status,
            creation_time=ts(self.created_us),
            last_modified=ts(self.last_modified_us or self.created_us),
            infraction_report_id=self.report_id,
        )


@dataclass(frozen=True)
class Transaction:
    """A transaction the SPI settled, as the DICT learns of it (admin AddTransaction: the
    simulator has no SPI). Amounts are integer cents."""

    end_to_end_id: str  # or the RtrId of a pacs.004
    payer: str  # the debited participant
    payee: str  # the credited participant
    amount_cents: int
    settled_us: int  # later than now: not settled yet
    pix_automatico: bool = False


OPEN_REFUND, CLOSED_REFUND, CANCELLED_REFUND = "OPEN", "CLOSED", "CANCELLED"


@dataclass
class Refund:
    id: str
    transaction_id: str
    reason: str
    amount_cents: int
    details: str
    requester: str
    contested: str
    created_us: int
    last_modified_us: int
    infraction_report_id: str = ""
    status: str = OPEN_REFUND
    analysis_result: str = ""
    analysis_details: str = ""
    rejection_reason: str = ""
    refund_transaction_id: str = ""
    close_params: tuple[str, ...] = ()  # the closing request, to recognise its repeats
    returned_cents: int = 0  # what the close says went back (not in the DICT's object)

    def to_pb(self, details: bool = True) -> pb.Refund:
        """``details``: with RefundDetails and AnalysisDetails (a list sends them only
        when asked: listRefunds' IncludeDetails)."""
        return pb.Refund(
            transaction_id=self.transaction_id,
            refund_reason=self.reason,
            refund_amount=amount_text(self.amount_cents),
            refund_details=self.details if details else "",
            id=self.id,
            status=self.status,
            requesting_participant=self.requester,
            contested_participant=self.contested,
            creation_time=ts(self.created_us),
            last_modified=ts(self.last_modified_us),
            infraction_report_id=self.infraction_report_id,
            analysis_result=self.analysis_result,
            analysis_details=self.analysis_details if details else "",
            refund_rejection_reason=self.rejection_reason,
            refund_transaction_id=self.refund_transaction_id,
        )


@dataclass
class CidFile:
    id: int
    participant: str
    key_type: str
    requested_us: int
    cids: bytes  # raw 32-byte CIDs, snapshot at request time
    size: int  # bytes of the file: one 64-hex CID and "\n" per line
    sha256: str
    ready_us: int = 0  # when it becomes AVAILABLE, fixed at request (0: a file saved before)
