"""The DICT's refund rules as the spec states them, one row per rule (DICT.md §5).

Written from the spec text alone: docs/DICT.md §5 and §6 (which win on any
disagreement), the OpenAPI v2.6.1 text of createRefund, listRefund, closeRefund and
cancelRefund, the schemas Refund / ExtendedRefund / CloseRefundRequest and the error
table's "Solicitação de Devolução" rows, and the operating manual §10.1 and §17. Nothing
here is imported from the simulator's ``refunds``. ``expected`` is ``ACCEPTED`` or the
DICT's problem type; ``fields`` the violations it must name. Rows whose ``source`` says
[inferred] name a rule or a problem type the spec implies without stating it.

The payer's PSP, the requester, is always ours; the payee's PSP, contested, the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACCEPTED = "accepted"
HOUR, DAY = 3600, 86_400
FRAUD, FLAW = "FRAUD", "OPERATIONAL_FLAW"
REFUND_CANCELLED, PIX_AUTOMATICO = "REFUND_CANCELLED", "PIX_AUTOMATICO"
TOTALLY, PARTIALLY, REJECTED = "TOTALLY_ACCEPTED", "PARTIALLY_ACCEPTED", "REJECTED"
OPEN, CLOSED, CANCELLED = "OPEN", "CLOSED", "CANCELLED"
REQUESTER, CONTESTED, STRANGER = "requester", "contested", "stranger"
INVALID, OP_INVALID = "RefundInvalid", "RefundOperationInvalid"
# The infraction report a row's transaction has, made before the call.
AGREED, DISAGREED, NO_CLOSE, AGREED_THEN_CANCELLED, NONE = (
    "AGREED",
    "DISAGREED",
    "acknowledged, not closed",
    "AGREED, then cancelled",
    "none",
)

SCHEMA = "OpenAPI schema Refund"
FRAUD_FLOW = "manual §17.2 (after an accepted infraction report, within 72 h; DICT.md §5)"
FLAW_FLOW = "manual §17.1 (transactions of the last ninety days; no report, footnote 24)"
AMOUNT = 'manual §17.1/§17.2: "pode ser igual ou menor que o valor da transação original"'
NOT_FOUND = "error table: RefundTransactionNotFound / RefundTransactionNotSettled"
CLOSE = "OpenAPI CloseRefundRequest; manual §17, table of the close"


@dataclass(frozen=True)
class CreateRefund:
    """Ours asks for ``amount`` of a transaction ours paid the other PSP ``settled_ago``
    seconds before the call (negative: it settles that long after the call); its
    infraction report was ``report`` (``report_reason``), closed ``closed_ago`` before."""

    why: str
    expected: str
    source: str
    reason: str = FRAUD
    amount: str = "100.00"
    details: str = ""
    transaction_amount: str = "100.00"
    registered: bool = True
    settled_ago: int = 4 * DAY
    pix_automatico: bool = False
    by: str = REQUESTER
    report: str = AGREED
    report_reason: str = "REFUND_REQUEST"
    closed_ago: int = HOUR
    transaction_id: str = ""  # "" = the registered one
    fields: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.reason} {self.why}: {self.expected}"


def _flaw(why: str, expected: str, source: str = FLAW_FLOW, **kw: Any) -> CreateRefund:
    kw.setdefault("details", "Transação em duplicidade")
    return CreateRefund(why, expected, source, reason=FLAW, report=NONE, **kw)


CREATE_REFUND = [
    CreateRefund("an hour after its report's AGREED close", ACCEPTED, FRAUD_FLOW),
    CreateRefund("72 h less a second after the close", ACCEPTED, FRAUD_FLOW,
                 closed_ago=72 * HOUR - 1),
    CreateRefund("72 h and a second after the close", "RefundPeriodExpired", FRAUD_FLOW,
                 closed_ago=72 * HOUR + 1),
    CreateRefund("without a report", "RefundInfractionReportNotFound",
                 f"{FRAUD_FLOW}; error table", report=NONE),
    CreateRefund("with a report not yet closed", "RefundInfractionReportNotFound",
                 f"{FRAUD_FLOW} [inferred: only a concluded, accepted report]", report=NO_CLOSE),
    CreateRefund("with a DISAGREED report", "RefundInfractionReportNotFound",
                 f"{FRAUD_FLOW} [inferred]", report=DISAGREED),
    CreateRefund("with an AGREED report the reporter cancelled", "RefundInfractionReportNotFound",
                 f"{FRAUD_FLOW} [inferred]", report=AGREED_THEN_CANCELLED),
    CreateRefund("with an AGREED report of another reason", "RefundInfractionReportNotFound",
                 f"{FRAUD_FLOW} [inferred]", report_reason="REFUND_CANCELLED"),
    CreateRefund("without details", ACCEPTED, f"{SCHEMA}: RefundDetails required for "
                 "OPERATIONAL_FLAW only"),
    CreateRefund("of less than the transaction", ACCEPTED, AMOUNT, amount="99.99"),
    CreateRefund("of more than the transaction", INVALID, f"{AMOUNT} [inferred: RefundInvalid]",
                 amount="100.01", fields=frozenset({"refund_amount"})),
    CreateRefund("of a whole amount (no decimals)", ACCEPTED,
                 f"{SCHEMA}: RefundAmount number, format currency", amount="100"),
    CreateRefund("of zero", INVALID, f"{SCHEMA} [inferred: above zero]", amount="0.00",
                 fields=frozenset({"refund_amount"})),
    CreateRefund("of a negative amount", INVALID, f"{SCHEMA} [inferred]", amount="-1.00",
                 fields=frozenset({"refund_amount"})),
    CreateRefund("with three decimals", INVALID, f"{SCHEMA} [inferred: currency]",
                 amount="10.001", fields=frozenset({"refund_amount"})),
    CreateRefund("with a decimal comma", INVALID, f"{SCHEMA} [inferred]", amount="10,00",
                 fields=frozenset({"refund_amount"})),
    CreateRefund("with 2001 characters of details", INVALID, f"{SCHEMA}: maxLength 2000",
                 details="x" * 2001, fields=frozenset({"refund_details"})),
    CreateRefund("naming a 31-character transaction id", INVALID,
                 f"{SCHEMA}: TransactionId pattern \\w{{32}}", transaction_id="E" * 31,
                 fields=frozenset({"transaction_id"})),
    CreateRefund("of a transaction the SPI never settled", "RefundTransactionNotFound",
                 f"{NOT_FOUND} (nor could it be reported: InfractionReportTransactionNotFound)",
                 registered=False, report=NONE),
    CreateRefund("of a transaction settling later", "RefundTransactionNotSettled", NOT_FOUND,
                 settled_ago=-HOUR, report=NONE),
    CreateRefund("asked by the payee's PSP", "Forbidden",
                 'createRefund: "Apenas o participante debitado pode criar" [inferred: 403]',
                 by=CONTESTED),
    _flaw("89 days after the transaction", ACCEPTED, settled_ago=89 * DAY),
    _flaw("90 days less a second after the transaction", ACCEPTED, settled_ago=90 * DAY - 1),
    _flaw("90 days and a second after the transaction", "RefundPeriodExpired",
          settled_ago=90 * DAY + 1),
    _flaw("without details", INVALID, f"{SCHEMA}: RefundDetails required for it", details="",
          fields=frozenset({"refund_details"})),
    _flaw("of a Pix Automático payment", INVALID,
          "manual §17 footnote 20 [inferred: RefundInvalid]", pix_automatico=True,
          fields=frozenset({"refund_reason"})),
    _flaw("of more than the transaction", INVALID, f"{AMOUNT} [inferred: RefundInvalid]",
          amount="150.00", fields=frozenset({"refund_amount"})),
    CreateRefund("of a Pix Automático payment", ACCEPTED, "manual §17.5; footnote 24 (no report)",
                 reason=PIX_AUTOMATICO, pix_automatico=True, report=NONE),
    CreateRefund("of an ordinary payment", INVALID, "manual §17.5 [inferred: RefundInvalid]",
                 reason=PIX_AUTOMATICO, report=NONE, fields=frozenset({"refund_reason"})),
    CreateRefund("after its AGREED REFUND_CANCELLED report", ACCEPTED,
                 "manual §17.4 (its own pacs.004 RtrId, after an accepted report)",
                 reason=REFUND_CANCELLED, report_reason="REFUND_CANCELLED"),
    CreateRefund("after an AGREED REFUND_REQUEST report", "RefundInfractionReportNotFound",
                 "manual §17.4 [inferred]", reason=REFUND_CANCELLED),
    CreateRefund("of an unknown reason", INVALID, f"{SCHEMA}: RefundReason enum",
                 reason="OTHER", report=NONE, fields=frozenset({"refund_reason"})),
]  # fmt: skip


@dataclass(frozen=True)
class CloseRefund:
    """The contested PSP closes an OPEN ``refund_reason`` request for the transaction's
    whole 100.00 with these parameters."""

    why: str
    expected: str
    source: str
    result: str = TOTALLY
    details: str = ""
    rejection: str = ""
    refund_transaction: str = "D8765432120261203130000000000001"
    refunded_amount: str = ""
    refund_reason: str = FLAW
    fields: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.result} {self.why} ({self.refund_reason}): {self.expected}"


def _rejected(why: str, expected: str, source: str, **kw: Any) -> CloseRefund:
    kw.setdefault("refund_transaction", "")
    return CloseRefund(why, expected, source, result=REJECTED, **kw)


CLOSE_REFUND = [
    CloseRefund("with its pacs.004", ACCEPTED, CLOSE),
    CloseRefund("with its pacs.004", ACCEPTED, CLOSE, refund_reason=FRAUD),
    CloseRefund("with its pacs.004", ACCEPTED, CLOSE, result=PARTIALLY),
    CloseRefund("returning 40.00", ACCEPTED, f"{CLOSE}; our refunded_amount (not in the DICT)",
                result=PARTIALLY, refunded_amount="40.00"),
    CloseRefund("returning all that was asked", INVALID, "our refunded_amount [inferred]",
                result=PARTIALLY, refunded_amount="100.00",
                fields=frozenset({"refunded_amount"})),
    CloseRefund("without its refund transaction", INVALID,
                f"{CLOSE}: RefundTransactionId required when accepted", refund_transaction="",
                fields=frozenset({"refund_transaction_id"})),
    CloseRefund("without its refund transaction", INVALID, CLOSE, result=PARTIALLY,
                refund_transaction="", fields=frozenset({"refund_transaction_id"})),
    CloseRefund("with a 31-character refund transaction", INVALID,
                f"{CLOSE}: RefundTransactionId pattern \\w{{32}}", refund_transaction="D" * 31,
                fields=frozenset({"refund_transaction_id"})),
    CloseRefund("with a rejection reason", INVALID, f"{CLOSE} [inferred]", rejection="OTHER",
                fields=frozenset({"refund_rejection_reason"})),
    CloseRefund("of 2001 characters of details", INVALID, f"{CLOSE}: maxLength 2000",
                details="x" * 2001, fields=frozenset({"refund_analysis_details"})),
    CloseRefund("with an unknown result", INVALID, f"{CLOSE}: RefundAnalysisResult enum",
                result="ACCEPTED", fields=frozenset({"refund_analysis_result"})),
    _rejected("for NO_BALANCE", ACCEPTED, CLOSE, rejection="NO_BALANCE"),
    _rejected("for ACCOUNT_CLOSURE", ACCEPTED, CLOSE, rejection="ACCOUNT_CLOSURE",
              refund_reason=FRAUD),
    _rejected("for OTHER", ACCEPTED, CLOSE, rejection="OTHER", refund_reason=FRAUD),
    _rejected("without a reason", INVALID, f"{CLOSE}: RefundRejectionReason required",
              fields=frozenset({"refund_rejection_reason"})),
    _rejected("as INVALID_REQUEST, explained", ACCEPTED, CLOSE, rejection="INVALID_REQUEST",
              details="Não se trata de falha operacional"),
    _rejected("as INVALID_REQUEST, unexplained", INVALID,
              f"{CLOSE}: RefundAnalysisDetails required then", rejection="INVALID_REQUEST",
              fields=frozenset({"refund_analysis_details"})),
    _rejected("as INVALID_REQUEST", INVALID, f"{CLOSE}: INVALID_REQUEST for OPERATIONAL_FLAW only",
              rejection="INVALID_REQUEST", details="x", refund_reason=FRAUD,
              fields=frozenset({"refund_rejection_reason"})),
    _rejected("naming a refund transaction", INVALID,
              'manual §17: rejected when "não houve a liquidação de uma pacs.004" [inferred]',
              rejection="NO_BALANCE", refund_transaction="D8765432120261203130000000000001",
              fields=frozenset({"refund_transaction_id"})),
]  # fmt: skip


@dataclass(frozen=True)
class RefundCall:
    """``by`` makes ``operation`` on a FRAUD request in ``status`` (CLOSED: TOTALLY_ACCEPTED
    by the contested PSP; CANCELLED: by the requester). A close here is REJECTED NO_BALANCE,
    never the parameters of the close that made a CLOSED request (that is a repeat)."""

    operation: str  # close | cancel | get
    by: str
    status: str
    expected: str
    source: str

    @property
    def id(self) -> str:
        return f"{self.operation} by the {self.by} while {self.status}: {self.expected}"


CLOSE_SRC = (
    'closeRefund: "só pode ser fechada pelo participante contestado"; "o status deve ser OPEN"'
)
CANCEL_SRC = (
    'cancelRefund: "Só pode ser realizada pelo participante que criou a solicitação"; '
    '"não pode ser cancelada após ter sido fechada"'
)
IDEMPOTENT = "cancelRefund: Idempotência (a repeat answers as the first)"
STATUS_SRC = "error table: RefundOperationInvalid (status does not allow the operation)"
ROLE_SRC = "[inferred: Forbidden, 403 among the operation's answers]"
GET_SRC = "getRefund [inferred: 404 for a request the caller is no party to (no 403 listed)]"

REFUND_CALLS = [
    RefundCall("close", CONTESTED, OPEN, ACCEPTED, CLOSE_SRC),
    RefundCall("close", CONTESTED, CLOSED, OP_INVALID, f"{CLOSE_SRC}; {STATUS_SRC}"),
    RefundCall("close", CONTESTED, CANCELLED, OP_INVALID, f"{CLOSE_SRC}; {STATUS_SRC}"),
    RefundCall("close", REQUESTER, OPEN, "Forbidden", f"{CLOSE_SRC} {ROLE_SRC}"),
    RefundCall("close", STRANGER, OPEN, "NotFound", GET_SRC),
    RefundCall("cancel", REQUESTER, OPEN, ACCEPTED, CANCEL_SRC),
    RefundCall("cancel", REQUESTER, CLOSED, OP_INVALID, f"{CANCEL_SRC}; {STATUS_SRC}"),
    RefundCall("cancel", REQUESTER, CANCELLED, ACCEPTED, IDEMPOTENT),
    RefundCall("cancel", CONTESTED, OPEN, "Forbidden", f"{CANCEL_SRC} {ROLE_SRC}"),
    RefundCall("cancel", STRANGER, OPEN, "NotFound", GET_SRC),
    RefundCall("get", REQUESTER, OPEN, ACCEPTED, "getRefund"),
    RefundCall("get", CONTESTED, CLOSED, ACCEPTED, "getRefund"),
    RefundCall("get", STRANGER, OPEN, "NotFound", GET_SRC),
]
