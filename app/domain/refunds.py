"""Refund requests of the special return mechanism (MED) as the DICT accepts them
(DICT.md §5; API v2.6.1 schemas Refund, CloseRefundRequest, RefundReason,
RefundAnalysisResult, RefundRejectionReason; manual §10.1 and §17).

The payer's PSP (the *requesting* participant, the one the SPI debited) asks the
payee's PSP (the *contested* one) to return funds: for its own operational flaw within
90 days of the transaction, or for fraud within 72 hours of the AGREED close of the
infraction report it opened on that transaction. The contested participant closes the
request with its analysis; the requester may cancel it while it is OPEN. Pure: no I/O,
no clock.

The DICT states no deadline for the contested participant's analysis: the manual asks
it to return the funds "imediatamente" (§17, flows). How long we allow ourselves is
therefore the bank's policy (``REFUND_ANALYSIS_HOURS``, default 24 h, warned at 75 %).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.domain.keys import Violation

__all__ = [
    "FRAUD_WINDOW",
    "OPERATIONAL_FLAW_WINDOW",
    "CloseRequest",
    "RefundRequest",
    "close_violations",
    "refund_violations",
]


class Reason(StrEnum):
    FRAUD = "FRAUD"  # after an AGREED REFUND_REQUEST report of ours, within 72 h
    OPERATIONAL_FLAW = "OPERATIONAL_FLAW"  # our own error; details required; 90 days
    REFUND_CANCELLED = "REFUND_CANCELLED"  # after an AGREED REFUND_CANCELLED report
    PIX_AUTOMATICO = "PIX_AUTOMATICO"  # our error in a Pix Automático payment order


class AnalysisResult(StrEnum):
    TOTALLY_ACCEPTED = "TOTALLY_ACCEPTED"
    PARTIALLY_ACCEPTED = "PARTIALLY_ACCEPTED"
    REJECTED = "REJECTED"


class RejectionReason(StrEnum):
    NO_BALANCE = "NO_BALANCE"
    ACCOUNT_CLOSURE = "ACCOUNT_CLOSURE"
    INVALID_REQUEST = "INVALID_REQUEST"  # only for OPERATIONAL_FLAW; details required
    OTHER = "OTHER"


REPORT_REASON = {
    Reason.FRAUD.value: "REFUND_REQUEST",
    Reason.REFUND_CANCELLED.value: "REFUND_CANCELLED",
}
"""The refunds that follow an AGREED infraction report of ours, and that report's reason."""
DETAILS_MAX_LENGTH = 2000  # RefundDetails and RefundAnalysisDetails
TRANSACTION_ID = re.compile(r"\w{32}", re.ASCII)  # Refund.TransactionId, RefundTransactionId
AMOUNT_MAX = Decimal("9999999999999.99")
OPERATIONAL_FLAW_WINDOW = timedelta(days=90)  # manual §17.1: "nos últimos noventa dias"
FRAUD_WINDOW = timedelta(hours=72)  # §10.1: 72 h after the report's AGREED close


@dataclass(frozen=True, slots=True)
class RefundRequest:
    transaction_id: str
    refund_reason: str
    refund_amount: Decimal
    refund_details: str | None = None
    transaction_at: datetime | None = None  # when the transaction settled, if known
    report_closed_at: datetime | None = None  # FRAUD/REFUND_CANCELLED: the AGREED close


@dataclass(frozen=True, slots=True)
class CloseRequest:
    refund_reason: str  # of the request being closed
    requested_amount: Decimal
    analysis_result: str
    analysis_details: str | None = None
    rejection_reason: str | None = None
    refund_transaction_id: str | None = None
    refunded_amount: Decimal | None = None


def _one_of(field: str, value: str, kind: type[StrEnum]) -> list[Violation]:
    if value in {m.value for m in kind}:
        return []
    return [Violation(field, "one_of", f"one of {', '.join(m.value for m in kind)}")]


def _text(field: str, value: str | None, required: bool, why: str) -> list[Violation]:
    if not value or not value.strip():
        return [Violation(field, "required", why)] if required else []
    if len(value) > DETAILS_MAX_LENGTH:
        return [Violation(field, "max_length", f"at most {DETAILS_MAX_LENGTH} characters")]
    return []


def amount_violations(field: str, amount: Decimal) -> list[Violation]:
    """An amount in reais: above zero, at most two decimal places."""
    if not amount.is_finite() or amount <= 0 or amount > AMOUNT_MAX:
        return [Violation(field, "positive_amount", "an amount in reais above zero")]
    if amount != amount.quantize(Decimal("0.01")):
        return [Violation(field, "cents", "at most two decimal places")]
    return []


def refund_violations(r: RefundRequest, now: datetime) -> list[Violation]:
    """Everything the DICT would refuse in a new refund request, with its windows (the
    FRAUD window only when the report's close is known: the caller looks it up)."""
    found = []
    if not TRANSACTION_ID.fullmatch(r.transaction_id):
        message = "the transaction's EndToEndId: 32 letters or digits"
        found.append(Violation("transaction_id", "pattern", message))
    found += _one_of("refund_reason", r.refund_reason, Reason)
    found += amount_violations("refund_amount", r.refund_amount)
    found += _text(
        "refund_details",
        r.refund_details,
        r.refund_reason == Reason.OPERATIONAL_FLAW,
        "required for an OPERATIONAL_FLAW refund (what went wrong, for the other PSP)",
    )
    late = r.transaction_at is not None and now - r.transaction_at > OPERATIONAL_FLAW_WINDOW
    if r.refund_reason == Reason.OPERATIONAL_FLAW and late:
        days = OPERATIONAL_FLAW_WINDOW.days
        message = f"an operational flaw is refunded within {days} days of the transaction"
        found.append(Violation("transaction_at", "max_age", message))
    if r.report_closed_at is not None and now - r.report_closed_at > FRAUD_WINDOW:
        hours = int(FRAUD_WINDOW.total_seconds() // 3600)
        message = f"the refund is requested within {hours} h of the report's AGREED close"
        found.append(Violation("refund_reason", "window_expired", message))
    return found


def close_violations(c: CloseRequest) -> list[Violation]:
    """A close the DICT would refuse: a rejection needs its reason (INVALID_REQUEST only
    for an operational flaw, with details); an acceptance names the refund transaction
    (the pacs.004), and a partial one returned less than was asked."""
    found = _one_of("analysis_result", c.analysis_result, AnalysisResult)
    rejected = c.analysis_result == AnalysisResult.REJECTED
    if rejected:
        found += _rejection_violations(c)
    elif c.analysis_result in {m.value for m in AnalysisResult}:
        found += _acceptance_violations(c)
    found += _text(
        "analysis_details",
        c.analysis_details,
        rejected and c.rejection_reason == RejectionReason.INVALID_REQUEST,
        "required when rejecting with INVALID_REQUEST (why it is no operational flaw)",
    )
    return found


def _rejection_violations(c: CloseRequest) -> list[Violation]:
    found = []
    if c.rejection_reason is None:
        found.append(Violation("rejection_reason", "required_when_rejected", "required"))
    else:
        found += _one_of("rejection_reason", c.rejection_reason, RejectionReason)
    invalid = c.rejection_reason == RejectionReason.INVALID_REQUEST
    if invalid and c.refund_reason != Reason.OPERATIONAL_FLAW:
        message = "INVALID_REQUEST rejects an OPERATIONAL_FLAW refund only"
        found.append(Violation("rejection_reason", "invalid_request_only_for_flaw", message))
    for name in ("refund_transaction_id", "refunded_amount"):
        if getattr(c, name) is not None:
            message = "a rejection returns nothing"
            found.append(Violation(name, "none_when_rejected", message))
    return found


def _acceptance_violations(c: CloseRequest) -> list[Violation]:
    found = []
    if c.rejection_reason is not None:
        message = "only a REJECTED close names a rejection reason"
        found.append(Violation("rejection_reason", "only_when_rejected", message))
    if c.refund_transaction_id is None:
        message = "the RtrId of the pacs.004 that returned the funds"
        found.append(Violation("refund_transaction_id", "required_when_accepted", message))
    elif not TRANSACTION_ID.fullmatch(c.refund_transaction_id):
        message = "32 letters or digits (the pacs.004's RtrId)"
        found.append(Violation("refund_transaction_id", "pattern", message))
    partial = c.analysis_result == AnalysisResult.PARTIALLY_ACCEPTED
    if c.refunded_amount is None:
        if partial:
            message = "required for a partial acceptance: what was returned"
            found.append(Violation("refunded_amount", "required_when_partial", message))
        return found
    found += amount_violations("refunded_amount", c.refunded_amount)
    if partial and c.refunded_amount >= c.requested_amount:
        message = f"less than the {c.requested_amount} requested"
        found.append(Violation("refunded_amount", "less_than_requested", message))
    if not partial and c.refunded_amount != c.requested_amount:
        message = f"a total acceptance returns the {c.requested_amount} requested"
        found.append(Violation("refunded_amount", "the_requested_amount", message))
    return found


def analysis_deadline(created_at: datetime, hours: float) -> datetime:
    """When our analysis of a request against us is due: the bank's policy."""
    return created_at + timedelta(hours=hours)
