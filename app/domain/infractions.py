"""Infraction reports of the special return mechanism (MED) as the DICT accepts them
(DICT.md §5; API v2.6.1 schemas InfractionReport, CloseInfractionReportRequest,
ContactInformation; manual §10).

A report is opened by the PSP of the payer (REFUND_REQUEST, the transaction's
EndToEndId) or of the payee (REFUND_CANCELLED, the return's RtrId) against the other
PSP, the counterparty, which acknowledges it and closes it within 7 calendar days:
AGREED (with the fraud type: a fraud marker follows) or DISAGREED. The reporter may
cancel at any time. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.domain.keys import Violation

__all__ = [
    "ANALYSIS_DEADLINE",
    "DEADLINE_WARNING",
    "TRANSACTION_MAX_AGE",
    "CloseRequest",
    "ReportRequest",
    "close_violations",
    "deadline",
    "report_violations",
]


class Reason(StrEnum):
    REFUND_REQUEST = "REFUND_REQUEST"  # by the payer's PSP; TransactionId = EndToEndId
    REFUND_CANCELLED = "REFUND_CANCELLED"  # by the payee's PSP; TransactionId = RtrId


class SituationType(StrEnum):
    SCAM = "SCAM"
    ACCOUNT_TAKEOVER = "ACCOUNT_TAKEOVER"
    COERCION = "COERCION"
    FRAUDULENT_ACCESS = "FRAUDULENT_ACCESS"
    OTHER = "OTHER"  # needs ReportDetails; the only one for REFUND_CANCELLED


class AnalysisResult(StrEnum):
    AGREED = "AGREED"
    DISAGREED = "DISAGREED"


class FraudType(StrEnum):
    APPLICATION_FRAUD = "APPLICATION_FRAUD"
    MULE_ACCOUNT = "MULE_ACCOUNT"
    SCAMMER_ACCOUNT = "SCAMMER_ACCOUNT"
    OTHER = "OTHER"  # needs AnalysisDetails


DETAILS_MAX_LENGTH = 2000  # ReportDetails and AnalysisDetails
TRANSACTION_ID = re.compile(r"\w{8,32}", re.ASCII)  # schema InfractionReport.TransactionId
CONTACT_EMAIL = re.compile(
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)  # schema Email
CONTACT_PHONE = re.compile(r"\+[0-9][0-9]{1,14}")  # schema Phone
TRANSACTION_MAX_AGE = timedelta(days=80)  # a report is opened within 80 days (manual §10.1)
ANALYSIS_DEADLINE = timedelta(days=7)  # the counterparty closes within 7 days (§10.1)
DEADLINE_WARNING = timedelta(days=5)  # our own warning, two days before


@dataclass(frozen=True, slots=True)
class ReportRequest:
    transaction_id: str
    reason: str
    situation_type: str
    contact_email: str
    contact_phone: str
    report_details: str | None = None
    transaction_at: datetime | None = None  # when the transaction settled (the 80 days)


@dataclass(frozen=True, slots=True)
class CloseRequest:
    analysis_result: str
    fraud_type: str | None = None
    analysis_details: str | None = None


def _one_of(field: str, value: str, kind: type[StrEnum]) -> list[Violation]:
    if value in {m.value for m in kind}:
        return []
    return [Violation(field, "one_of", f"one of {', '.join(m.value for m in kind)}")]


def _details(field: str, value: str | None, required: bool, why: str) -> list[Violation]:
    if not value or not value.strip():
        return [Violation(field, "required", why)] if required else []
    if len(value) > DETAILS_MAX_LENGTH:
        message = f"at most {DETAILS_MAX_LENGTH} characters"
        return [Violation(field, "max_length", message)]
    return []


def report_violations(r: ReportRequest, now: datetime) -> list[Violation]:
    """Everything the DICT would refuse in a new report, and the 80-day window."""
    found = []
    if not TRANSACTION_ID.fullmatch(r.transaction_id):
        message = "the transaction's EndToEndId (or RtrId): 8 to 32 letters or digits"
        found.append(Violation("transaction_id", "pattern", message))
    found += _one_of("reason", r.reason, Reason)
    found += _one_of("situation_type", r.situation_type, SituationType)
    if r.reason == Reason.REFUND_CANCELLED and r.situation_type != SituationType.OTHER:
        message = "a REFUND_CANCELLED report has situation_type OTHER"
        found.append(Violation("situation_type", "other_for_refund_cancelled", message))
    found += _details(
        "report_details",
        r.report_details,
        r.situation_type == SituationType.OTHER,
        "required when situation_type is OTHER",
    )
    if not CONTACT_EMAIL.fullmatch(r.contact_email):
        found.append(Violation("contact_information.email", "pattern", "a lowercase e-mail"))
    if not CONTACT_PHONE.fullmatch(r.contact_phone):
        message = "E.164: + and up to 15 digits"
        found.append(Violation("contact_information.phone", "pattern", message))
    if r.transaction_at is not None and now - r.transaction_at > TRANSACTION_MAX_AGE:
        message = f"a report is opened within {TRANSACTION_MAX_AGE.days} days of the transaction"
        found.append(Violation("transaction_at", "max_age", message))
    return found


def close_violations(c: CloseRequest) -> list[Violation]:
    """A close the DICT would refuse: AGREED needs the fraud type, OTHER its details."""
    found = _one_of("analysis_result", c.analysis_result, AnalysisResult)
    if c.analysis_result == AnalysisResult.AGREED:
        if c.fraud_type is None:
            message = "required when analysis_result is AGREED"
            found.append(Violation("fraud_type", "required_when_agreed", message))
        else:
            found += _one_of("fraud_type", c.fraud_type, FraudType)
    elif c.fraud_type is not None:
        message = "only an AGREED close names a fraud type"
        found.append(Violation("fraud_type", "only_when_agreed", message))
    found += _details(
        "analysis_details",
        c.analysis_details,
        c.fraud_type == FraudType.OTHER,
        "required when fraud_type is OTHER",
    )
    return found


def deadline(created_at: datetime) -> datetime:
    """When the counterparty's analysis is due: 7 calendar days after the report."""
    return created_at + ANALYSIS_DEADLINE
