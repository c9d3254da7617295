"""The DICT's infraction report rules as the spec states them, one row per rule (DICT.md §5).

Written from the spec text alone: docs/DICT.md §5 and §6 (which win on any
disagreement), the OpenAPI v2.6.1 text of createInfractionReport, updateInfractionReport,
getInfractionReport, acknowledgeInfractionReport, closeInfractionReport,
cancelInfractionReport and listInfractionReport, the schemas InfractionReport,
ExtendedInfractionReport, ContactInformation (Email, Phone), SituationType, FraudType,
AnalysisDetails, UpdateInformationInfractionReportRequest and CloseInfractionReportRequest,
the error table's "Notificação de infração" rows, and the operating manual §10.1. Nothing
here is imported from the simulator's ``infractions``. ``expected`` is ``ACCEPTED`` or
the DICT's problem type; ``fields`` the violations it must name. Rows whose ``source``
says [inferred] name a rule or a problem type the spec implies without stating it.

The transaction a row names is always one the SPI settled with ours as its payer (the
debited PSP) and the other participant as its payee: a payment for REFUND_REQUEST, the
pacs.004 ours sent returning a payment for REFUND_CANCELLED. So the reporter is ours and
the counterparty the other PSP, unless a row says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACCEPTED = "accepted"
HOUR, DAY = 3600, 86_400
REQUEST, CANCELLED_REFUND = "REFUND_REQUEST", "REFUND_CANCELLED"
OPEN, ACKNOWLEDGED, CLOSED, CANCELLED = "OPEN", "ACKNOWLEDGED", "CLOSED", "CANCELLED"
CLOSED_THEN_CANCELLED = "CLOSED, then CANCELLED"
REPORTER, COUNTERPARTY, STRANGER = "reporter", "counterparty", "stranger"
INVALID, OP_INVALID = "InfractionReportInvalid", "InfractionReportOperationInvalid"
BEING_PROCESSED = "InfractionReportAlreadyBeingProcessedForTransaction"
PROCESSED = "InfractionReportAlreadyProcessedForTransaction"
EMAIL, PHONE = "fraude@banco.example", "+5511900000000"

CREATE = "createInfractionReport"
SCHEMA = "OpenAPI schema InfractionReport"
CONTACT = (
    'OpenAPI schema ContactInformation "required": ["Email", "Phone"]; manual §10.1: '
    '"Obrigatório quando a notificação for aberta pelo participante"'
)
WHO = (
    'createInfractionReport: "quem deve criar a notificação é o PSP do pagador da transação '
    'original. Para o cancelamento de devolução ... o PSP do recebedor da transação original"'
    " [inferred: Forbidden, 403 among its answers]"
)
ERRORS = "error table, Notificação de infração"
WINDOW = "manual §10.1 (flow 10.1.1 step 5: the last eighty calendar days) [inferred: DICT-side]"
CANCEL_WINDOW = (
    "manual §10.1.3 step 5 (a refund transaction of the last thirty calendar days) "
    "[inferred: DICT-side]"
)
NOT_IN_THE_DICT = (
    "CreateInfractionReportRequest is Participant and InfractionReport: no RequestId and no "
    "counterparty (the DICT takes it from the SPI's transaction)"
)


@dataclass(frozen=True)
class CreateReport:
    """``by`` reports the transaction ours paid the other PSP ``settled_ago`` seconds before
    the call (negative: it settles that long after the call), with these fields."""

    why: str
    expected: str
    source: str
    reason: str = REQUEST
    situation: str = "SCAM"
    details: str = ""
    email: str = EMAIL
    phone: str = PHONE
    contact: bool = True  # False: no ContactInformation at all
    registered: bool = True
    settled_ago: int = DAY
    by: str = REPORTER
    transaction_id: str = ""  # "" = the registered one
    counterparty: str = "other"  # the field NOT IN THE DICT: other | stranger | ""
    request_id: bool = True  # the field NOT IN THE DICT
    fields: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.reason} {self.why}: {self.expected}"


def _cancelled(why: str, expected: str, source: str, **kw: Any) -> CreateReport:
    """A REFUND_CANCELLED report, of SituationType OTHER and explained unless said."""
    kw.setdefault("situation", "OTHER")
    kw.setdefault("details", "O pagador aplicou um golpe no recebedor")
    return CreateReport(why, expected, source, reason=CANCELLED_REFUND, **kw)


CREATE_REPORT = [
    CreateReport("of a payment settled a day ago", ACCEPTED, CREATE),
    CreateReport("of a payment the SPI never settled", "InfractionReportTransactionNotFound",
                 f"{ERRORS}: InfractionReportTransactionNotFound (400)", registered=False),
    CreateReport("of a payment settling later", "InfractionReportTransactionNotSettled",
                 f"{ERRORS}: InfractionReportTransactionNotSettled (400)", settled_ago=-HOUR),
    CreateReport("by the payee's PSP", "Forbidden", WHO, by=COUNTERPARTY),
    CreateReport("by a PSP party to nothing", "Forbidden", WHO, by=STRANGER),
    CreateReport("80 days less a second after the payment", ACCEPTED, WINDOW,
                 settled_ago=80 * DAY - 1),
    CreateReport("80 days and a second after the payment", "InfractionReportPeriodExpired",
                 f"{WINDOW}; {ERRORS}: InfractionReportPeriodExpired", settled_ago=80 * DAY + 1),
    CreateReport("with an email only", INVALID, CONTACT, phone="",
                 fields=frozenset({"contact_information.phone"})),
    CreateReport("with a phone only", INVALID, CONTACT, email="",
                 fields=frozenset({"contact_information.email"})),
    CreateReport("without contact information", INVALID, f"{SCHEMA}: ContactInformation required",
                 contact=False, fields=frozenset({"contact_information"})),
    CreateReport("with an email in capitals", INVALID, "OpenAPI schema Email: pattern [a-z0-9...]",
                 email="Fraude@Banco.example", fields=frozenset({"contact_information.email"})),
    CreateReport("with a phone without +", INVALID, "OpenAPI schema Phone: ^\\+[0-9]\\d{1,14}$",
                 phone="5511900000000", fields=frozenset({"contact_information.phone"})),
    CreateReport("of SituationType OTHER, explained", ACCEPTED, SCHEMA, situation="OTHER",
                 details="Golpe do falso funcionário"),
    CreateReport("of SituationType OTHER, unexplained", INVALID,
                 f'{SCHEMA}: ReportDetails "Obrigatório caso SituationType=OTHER"',
                 situation="OTHER", fields=frozenset({"report_details"})),
    CreateReport("with 2000 characters of details", ACCEPTED, f"{SCHEMA}: maxLength 2000",
                 details="x" * 2000),
    CreateReport("with 2001 characters of details", INVALID, f"{SCHEMA}: maxLength 2000",
                 details="x" * 2001, fields=frozenset({"report_details"})),
    CreateReport("of SituationType UNKNOWN", INVALID,
                 'SituationType: "Caso criado na v1, será retornado com UNKNOWN" [inferred]',
                 situation="UNKNOWN", fields=frozenset({"situation_type"})),
    CreateReport("naming a 7-character transaction id", INVALID,
                 f"{SCHEMA}: TransactionId pattern \\w{{8,32}}", transaction_id="E123456",
                 fields=frozenset({"transaction_id"})),
    CreateReport("of an unknown reason", INVALID, "InfractionNotificationReason enum",
                 reason="FRAUD", fields=frozenset({"reason"})),
    CreateReport("naming a third PSP as counterparty", ACCEPTED,
                 f"{NOT_IN_THE_DICT}: the field is ignored, the counterparty is the payee's PSP",
                 counterparty="stranger"),
    CreateReport("as a real bridge sends it (no RequestId, no counterparty)", ACCEPTED,
                 NOT_IN_THE_DICT, counterparty="", request_id=False),
    _cancelled("by the PSP that returned the funds (the pacs.004's payer)", ACCEPTED,
               "createInfractionReport; manual §10.1 (opened by the original payee's PSP)"),
    _cancelled("by the PSP the funds were returned to", "Forbidden", WHO, by=COUNTERPARTY),
    _cancelled("of SituationType SCAM", INVALID,
               'InfractionReport.SituationType: "Caso Reason=REFUND_CANCELLED, deve ser '
               'preenchido com OTHER"; manual §10.1', situation="SCAM",
               fields=frozenset({"situation_type"})),
    _cancelled("30 days less a second after the refund", ACCEPTED, CANCEL_WINDOW,
               settled_ago=30 * DAY - 1),
    _cancelled("30 days and a second after the refund", "InfractionReportPeriodExpired",
               CANCEL_WINDOW, settled_ago=30 * DAY + 1),
]  # fmt: skip


@dataclass(frozen=True)
class ReportAgain:
    """Ours reports a transaction again, its first report being in ``first`` (a CLOSED one
    closed ``result``); ``same`` repeats the first request byte for byte (its RequestId
    too), else the repeat carries a new RequestId."""

    first: str
    expected: str
    source: str
    result: str = "DISAGREED"
    same: bool = False

    @property
    def id(self) -> str:
        kind = "the same request" if self.same else "a new request"
        return f"{kind} after an {self.first} report ({self.result}): {self.expected}"


BEING_SRC = (
    f'{ERRORS}: {BEING_PROCESSED}, "Já existe uma notificação de infração em andamento para '
    'a transação informada"'
)
PROCESSED_SRC = (
    f'{ERRORS}: {PROCESSED}, "Já existe uma notificação de infração fechado para a '
    'transação informada"'
)

REPORT_AGAIN = [
    ReportAgain(OPEN, BEING_PROCESSED, f"{BEING_SRC}; {NOT_IN_THE_DICT} (no memo)", same=True),
    ReportAgain(OPEN, BEING_PROCESSED, BEING_SRC),
    ReportAgain(ACKNOWLEDGED, BEING_PROCESSED, BEING_SRC),
    ReportAgain(CLOSED, PROCESSED, PROCESSED_SRC),
    ReportAgain(CLOSED, PROCESSED, PROCESSED_SRC, result="AGREED"),
    ReportAgain(CANCELLED, ACCEPTED, "[inferred: a cancelled report is neither]"),
    ReportAgain(CLOSED_THEN_CANCELLED, ACCEPTED, "[inferred: a cancelled report is neither]",
                result="AGREED"),
]  # fmt: skip


@dataclass(frozen=True)
class UpdateReport:
    """The reporter updates an OPEN report of ``reason`` (SCAM and unexplained for
    REFUND_REQUEST, OTHER and explained for REFUND_CANCELLED; contact EMAIL/PHONE) with
    the fields given (None: not sent)."""

    why: str
    expected: str
    source: str
    reason: str = REQUEST
    situation: str | None = None
    details: str | None = None
    email: str | None = None
    phone: str | None = None
    fields: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.reason} {self.why}: {self.expected}"


UPDATE = (
    'updateInfractionReport: "permite ao participante atualizar os campos SituationType, '
    'ContactInformation e ReportDetails"'
)
OPTIONAL = "UpdateInformationInfractionReportRequest requires only the id and Participant"

UPDATE_REPORT = [
    UpdateReport("to COERCION with a new contact", ACCEPTED, UPDATE, situation="COERCION",
                 email="med@banco.example", phone="+5561988887777"),
    UpdateReport("adding details only", ACCEPTED,
                 f"{OPTIONAL} [inferred: a field not sent keeps its value]",
                 details="O cliente foi coagido"),
    UpdateReport("to OTHER without details", INVALID,
                 f'{UPDATE}; ReportDetails "Obrigatório caso SituationType=OTHER"',
                 situation="OTHER", fields=frozenset({"report_details"})),
    UpdateReport("to a contact without a phone", INVALID, f"{UPDATE}; {CONTACT}",
                 email="med@banco.example", fields=frozenset({"contact_information.phone"})),
    UpdateReport("to UNKNOWN", INVALID, f"{UPDATE} [inferred: UNKNOWN is v1's only]",
                 situation="UNKNOWN", fields=frozenset({"situation_type"})),
    UpdateReport("with 2001 characters of details", INVALID, f"{UPDATE}; maxLength 2000",
                 details="x" * 2001, fields=frozenset({"report_details"})),
    UpdateReport("to SCAM", INVALID,
                 f'{UPDATE}; "Caso Reason=REFUND_CANCELLED, deve ser preenchido com OTHER"',
                 reason=CANCELLED_REFUND, situation="SCAM",
                 fields=frozenset({"situation_type"})),
]  # fmt: skip


@dataclass(frozen=True)
class CloseReport:
    """The counterparty closes an ACKNOWLEDGED report with these parameters."""

    why: str
    expected: str
    source: str
    result: str = "AGREED"
    fraud_type: str = "SCAMMER_ACCOUNT"
    details: str = ""
    fields: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.result} {self.why}: {self.expected}"


CLOSE = "closeInfractionReport; manual §10.1, the close's table"
FRAUD_TYPE = 'closeInfractionReport: "o tipo UNKNOWN não é válido para a API v2"'

CLOSE_REPORT = [
    CloseReport("as a scammer's account", ACCEPTED, CLOSE),
    CloseReport("without a fraud type", INVALID, f'{CLOSE}: FraudType "Obrigatório caso '
                'AnalysisResult = AGREED"', fraud_type="", fields=frozenset({"fraud_type"})),
    CloseReport("as OTHER, explained", ACCEPTED, CLOSE, fraud_type="OTHER", details="Conta-bolsão"),
    CloseReport("as OTHER, unexplained", INVALID,
                'AnalysisDetails: "Obrigatório caso FraudType=OTHER"; manual §10.1',
                fraud_type="OTHER", fields=frozenset({"analysis_details"})),
    CloseReport("as UNKNOWN", INVALID, FRAUD_TYPE, fraud_type="UNKNOWN",
                fields=frozenset({"fraud_type"})),
    CloseReport("without a fraud type", ACCEPTED, CLOSE, result="DISAGREED", fraud_type=""),
    CloseReport("naming UNKNOWN", INVALID, f"{FRAUD_TYPE}; FraudType enum", result="DISAGREED",
                fraud_type="UNKNOWN", fields=frozenset({"fraud_type"})),
    CloseReport("with 2001 characters of details", INVALID, "AnalysisDetails: maxLength 2000",
                details="x" * 2001, fields=frozenset({"analysis_details"})),
    CloseReport("as ACCEPTED", INVALID, "AnalysisResult enum", result="ACCEPTED",
                fields=frozenset({"analysis_result"})),
]  # fmt: skip


@dataclass(frozen=True)
class ReportCall:
    """``by`` makes ``operation`` on a report in ``status`` (CLOSED: AGREED by the
    counterparty; CANCELLED: by the reporter). A close here is DISAGREED, never the
    parameters of the close that made a CLOSED report (that is a repeat); an update
    changes the details."""

    operation: str  # acknowledge | close | cancel | update | get
    by: str
    status: str
    expected: str
    source: str

    @property
    def id(self) -> str:
        return f"{self.operation} by the {self.by} while {self.status}: {self.expected}"


ACK_SRC = (
    'acknowledgeInfractionReport: "pelo participante contraparte"; idempotent "e esteja '
    'ainda com status ACKNOWLEDGED"'
)
CLOSE_SRC = (
    'closeInfractionReport: "deve ser fechada pelo participante contraparte ... o status deve '
    'ser ACKNOWLEDGED"'
)
CANCEL_SRC = (
    'cancelInfractionReport: "Só pode ser realizada pelo participante que criou a '
    'notificação"; manual §10.1: "a qualquer tempo, inclusive após ela já ter sido analisada"'
)
UPDATE_SRC = (
    'updateInfractionReport: "somente quando a notificação estiver nos estados OPEN ou '
    'ACKNOWLEDGED"; manual §10.1: by the PSP that opened it'
)
STATUS_SRC = f"{ERRORS}: {OP_INVALID} (status does not allow the operation)"
ROLE_SRC = "[inferred: Forbidden, 403 among the operation's answers]"
GET_SRC = "getInfractionReport [inferred: 404 for a report the caller is no party to (no 403)]"

REPORT_CALLS = [
    ReportCall("acknowledge", COUNTERPARTY, OPEN, ACCEPTED, ACK_SRC),
    ReportCall("acknowledge", COUNTERPARTY, ACKNOWLEDGED, ACCEPTED, ACK_SRC),
    ReportCall("acknowledge", COUNTERPARTY, CLOSED, OP_INVALID, f"{ACK_SRC}; {STATUS_SRC}"),
    ReportCall("acknowledge", COUNTERPARTY, CANCELLED, OP_INVALID, f"{ACK_SRC}; {STATUS_SRC}"),
    ReportCall("acknowledge", REPORTER, OPEN, "Forbidden", f"{ACK_SRC} {ROLE_SRC}"),
    ReportCall("acknowledge", STRANGER, OPEN, "NotFound", GET_SRC),
    ReportCall("close", COUNTERPARTY, OPEN, OP_INVALID, f"{CLOSE_SRC}; {STATUS_SRC}"),
    ReportCall("close", COUNTERPARTY, ACKNOWLEDGED, ACCEPTED, CLOSE_SRC),
    ReportCall("close", COUNTERPARTY, CLOSED, OP_INVALID, f"{CLOSE_SRC}; {STATUS_SRC}"),
    ReportCall("close", COUNTERPARTY, CANCELLED, OP_INVALID, f"{CLOSE_SRC}; {STATUS_SRC}"),
    ReportCall("close", REPORTER, ACKNOWLEDGED, "Forbidden", f"{CLOSE_SRC} {ROLE_SRC}"),
    ReportCall("close", STRANGER, ACKNOWLEDGED, "NotFound", GET_SRC),
    ReportCall("cancel", REPORTER, OPEN, ACCEPTED, CANCEL_SRC),
    ReportCall("cancel", REPORTER, ACKNOWLEDGED, ACCEPTED, CANCEL_SRC),
    ReportCall("cancel", REPORTER, CLOSED, ACCEPTED, CANCEL_SRC),
    ReportCall("cancel", REPORTER, CANCELLED, ACCEPTED, f"{CANCEL_SRC}; Idempotência"),
    ReportCall("cancel", COUNTERPARTY, OPEN, "Forbidden", f"{CANCEL_SRC} {ROLE_SRC}"),
    ReportCall("cancel", STRANGER, OPEN, "NotFound", GET_SRC),
    ReportCall("update", REPORTER, OPEN, ACCEPTED, UPDATE_SRC),
    ReportCall("update", REPORTER, ACKNOWLEDGED, ACCEPTED, UPDATE_SRC),
    ReportCall("update", REPORTER, CLOSED, OP_INVALID, f"{UPDATE_SRC}; {STATUS_SRC}"),
    ReportCall("update", REPORTER, CANCELLED, OP_INVALID, f"{UPDATE_SRC}; {STATUS_SRC}"),
    ReportCall("update", COUNTERPARTY, OPEN, "Forbidden", f"{UPDATE_SRC} {ROLE_SRC}"),
    ReportCall("update", STRANGER, OPEN, "NotFound", GET_SRC),
    ReportCall("get", REPORTER, OPEN, ACCEPTED, "getInfractionReport"),
    ReportCall("get", COUNTERPARTY, CLOSED, ACCEPTED, "getInfractionReport"),
    ReportCall("get", STRANGER, OPEN, "NotFound", GET_SRC),
]

ERROR_TABLE = [
    ("InfractionReportInvalid", 400),
    ("InfractionReportOperationInvalid", 400),
    ("InfractionReportTransactionNotFound", 400),
    ("InfractionReportTransactionNotSettled", 400),
    (BEING_PROCESSED, 400),
    (PROCESSED, 400),
    ("InfractionReportPeriodExpired", 400),
]
"""The error table's "Notificação de infração" rows: type and HTTP status."""
