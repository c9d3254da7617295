"""Structured JSON logs that never carry tax ids, names, contact data or full keys.

Every process calls ``configure_logging(process_name)`` once: one JSON object per
line on stdout (``ts``, ``level``, ``logger``, ``msg``, ``process``, ``request_id``
and any ``extra`` fields). Redaction runs in a filter on the handler, so it covers
third-party loggers (uvicorn, dramatiq, psycopg) too, not only our own calls.

What is masked, and why this way:

- free text (the message and tracebacks): CPF/CNPJ digit runs (11 or 14 digits,
  plain or punctuated), e-mail addresses, phone numbers (``+`` and 10 to 15 digits),
  and UUIDs. An EVP key is a UUID and is as personal as any other Pix key; free text
  cannot tell it from an entry id, so every UUID keeps only its last 4 characters.
  Put ids you need whole in ``extra`` (``extra={"entry_id": ...}``): fields are
  judged by name, not by shape.
- a Dramatiq message passed as a log argument (Dramatiq logs ``"Failed to process
  message %s"`` with the message, whose ``str()`` holds every argument, and an
  actor logs ``"Received args=%r kwargs=%r."`` at DEBUG) is rendered as
  ``actor_name(<n args>)``, its id moved to the ``message_id`` field and its outbox
  row to ``outbox_id``: an actor's arguments may hold a key, a tax id or a name, and
  a name cannot be told from other words in free text.
- a PostgreSQL error (psycopg), in a traceback, a log argument or an ``extra`` field,
  keeps its message and loses what PostgreSQL quoted from the data: its DETAIL
  (``Failing row contains (…)``, ``Key (key)=(…) already exists``), its CONTEXT
  (``JSON data, line 1: {…}``) and an input value its message ends with (``invalid
  input syntax for type uuid: "…"``) become ``[withheld]``. These are withheld by
  what they are, not by their shape: a legal person's name or a short phone key
  looks like any other text. Text that merely quotes such an error has its DETAIL
  and CONTEXT lines withheld too.
- ``extra`` fields named like personal data (``name``, ``tax_id``, ``owner``,
  ``email``, …) are replaced whole; ``key`` keeps its last 4 characters so support
  can still tell two keys apart. Other string fields are scrubbed as free text,
  except ids (names ending in ``_id`` or equal to ``id``), which stay whole.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg

from app import settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
"""The current request's id, set by the API's request-id middleware."""

REDACTED = "[redacted]"
WITHHELD = "[withheld]"

_SENSITIVE_FIELDS = frozenset(
    {
        "name",
        "names",
        "owner",
        "owner_name",
        "trade_name",
        "owner_trade_name",
        "tax_id",
        "owner_tax_id",
        "tax_id_number",
        "taxidnumber",
        "cpf",
        "cnpj",
        "document",
        "email",
        "phone",
        "account_number",
        "accountnumber",
        "authorization",
        "api_key",
        "password",
        "secret",
        "token",
        "body",
        "data",
        "payload",
    }
)
_KEY_FIELDS = frozenset({"key", "pix_key", "entry_key", "keys"})
_KEEP_VISIBLE = 4

# Order matters: UUIDs and e-mails first, so their digit runs are not read as tax ids.
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d{10,15}(?!\d)")
_CNPJ_PUNCT = re.compile(r"(?<!\d)\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}(?!\d)")
_CPF_PUNCT = re.compile(r"(?<!\d)\d{3}\.\d{3}\.\d{3}-\d{2}(?!\d)")
_TAX_ID_RUN = re.compile(r"(?<!\d)(?:\d{14}|\d{11})(?!\d)")
# Matches wherever any pattern above could: one search spares six in the common case.
_SUSPECT = re.compile(r"@|\d{11}|\+\d{10}|\d{2}\.\d{3}\.\d{3}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-")

# LogRecord attributes that are not ``extra`` fields.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}

DRAMATIQ_ACTOR_ARGS = "Received args=%r kwargs=%r."
"""The DEBUG line ``dramatiq.Actor.__call__`` logs with an actor's arguments."""


def mask_key(value: str) -> str:
    """A key with all but its last 4 characters hidden (``…1a2b``)."""
    if len(value) <= _KEEP_VISIBLE:
        return "*" * len(value)
    return "*" * (len(value) - _KEEP_VISIBLE) + value[-_KEEP_VISIBLE:]


# PostgreSQL's quotes of the data: DETAIL and CONTEXT lines, an input value that ends a
# message (`invalid input syntax for type uuid: "…"`, `value "…" is out of range`).
_DB_QUOTE_LINE = re.compile(r"^(DETAIL|CONTEXT):  .*$", re.MULTILINE)
_DB_INPUT = re.compile(r'(?<=: )"[^"\n]*"$|(?<=value )"[^"\n]*"(?= is out of range)', re.MULTILINE)


def scrub(text: str) -> str:
    """Free text with tax ids, e-mails, phones and UUIDs masked, and the lines where
    PostgreSQL quotes the data withheld."""
    if "DETAIL:  " in text or "CONTEXT:  " in text:
        text = _DB_QUOTE_LINE.sub(rf"\1:  {WITHHELD}", text)
    if not _SUSPECT.search(text):
        return text
    text = _UUID.sub(lambda m: mask_key(m.group()), text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    text = _CNPJ_PUNCT.sub("[tax-id]", text)
    text = _CPF_PUNCT.sub("[tax-id]", text)
    return _TAX_ID_RUN.sub("[tax-id]", text)


def database_text(exc: psycopg.Error) -> str:
    """A psycopg error's text without what PostgreSQL quoted from the data: its DETAIL
    and CONTEXT withheld, an input value ending its message withheld."""
    diag = exc.diag
    if diag.message_primary is None:  # not from the server (e.g. a connection failure)
        return str(exc)
    lines = [_DB_INPUT.sub(f'"{WITHHELD}"', diag.message_primary)]
    if diag.message_detail:
        lines.append(f"DETAIL:  {WITHHELD}")
    if diag.message_hint:
        lines.append(f"HINT:  {diag.message_hint}")
    if diag.context:
        lines.append(f"CONTEXT:  {WITHHELD}")
    return "\n".join(lines)


def _database_errors(exc: BaseException | None) -> Iterator[psycopg.Error]:
    """The psycopg errors in an exception's chain (causes, contexts, groups)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, psycopg.Error):
            yield e
        todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]


def _exc_text(exc_info: Any) -> str:
    """A traceback with each psycopg error's text in it made safe (``database_text``)."""
    text = "".join(traceback.format_exception(*exc_info))
    for error in _database_errors(exc_info[1]):
        if str(error):
            text = text.replace(str(error), database_text(error))
    return text


def redact_value(field: str, value: Any) -> Any:
    """An ``extra`` value made safe to log, judged by its field name first."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, psycopg.Error):
        return scrub(database_text(value))
    lowered = field.lower()
    if lowered in _KEY_FIELDS:
        if isinstance(value, list | tuple):
            return [mask_key(str(v)) for v in value]
        return mask_key(str(value)) if value is not None else None
    if lowered in _SENSITIVE_FIELDS:
        return REDACTED if value is not None else None
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(field, v) for v in value]
    if isinstance(value, str):
        return value if lowered == "id" or lowered.endswith("_id") else scrub(value)
    return scrub(str(value))


class _Withheld:
    """Stands in for a log argument whose content must not be written."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _is_message(value: Any) -> bool:
    """A Dramatiq ``Message`` or ``MessageProxy`` (duck-typed: no import of Dramatiq)."""
    return all(
        isinstance(getattr(value, attr, None), kind)
        for attr, kind in (("actor_name", str), ("message_id", str), ("args", tuple | list))
    ) and isinstance(getattr(value, "kwargs", None), Mapping)


def _arg_count(args: Any, kwargs: Any) -> str:
    n = len(args) if isinstance(args, tuple | list) else 0
    n += len(kwargs) if isinstance(kwargs, Mapping) else 0
    return f"<{n} arg{'s' if n != 1 else ''}>"


def _withheld_message(record: logging.LogRecord, message: Any) -> str:
    """``actor_name(<n args>)``; the message's id and outbox row go to fields."""
    record.message_id = message.message_id
    options = getattr(message, "options", None)
    if isinstance(options, Mapping) and options.get("outbox_id") is not None:
        record.outbox_id = options["outbox_id"]
    return f"{message.actor_name}({_arg_count(message.args, message.kwargs)})"


def _withhold_arguments(record: logging.LogRecord) -> None:
    """Actor arguments and database quotes out of ``record.args``: see the module
    docstring."""
    message: Any = record.msg
    if _is_message(message):  # logged as the message itself
        record.msg = _withheld_message(record, message)
    args = record.args
    if not args:
        return
    if record.msg == DRAMATIQ_ACTOR_ARGS and isinstance(args, tuple) and len(args) == 2:
        record.args = (_Withheld(_arg_count(args[0], ())), _Withheld(_arg_count((), args[1])))
        return
    values = args.values() if isinstance(args, Mapping) else args
    if not any(_is_message(a) or isinstance(a, psycopg.Error) for a in values):
        return

    def safe(value: Any) -> Any:
        if isinstance(value, psycopg.Error):
            return _Withheld(database_text(value))
        return _Withheld(_withheld_message(record, value)) if _is_message(value) else value

    if isinstance(args, Mapping):
        record.args = {k: safe(v) for k, v in args.items()}
    else:
        record.args = tuple(safe(a) for a in args)


class RedactingFilter(logging.Filter):
    """Masks personal data in place, before any formatter sees the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        _withhold_arguments(record)
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info:  # formatted here even if another handler did it first
            record.exc_text = _exc_text(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.exc_info = None  # the scrubbed exc_text replaces it
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        fields = vars(record)
        for field in fields.keys() - _RECORD_ATTRS:
            fields[field] = redact_value(field, fields[field])
        return True


_ENCODER = msgspec.json.Encoder(enc_hook=str)  # anything unknown is logged as its str()


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra`` fields become top-level members."""

    def __init__(self, process_name: str) -> None:
        super().__init__()
        self.process_name = process_name

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "process": self.process_name,
        }
        request_id = request_id_var.get()
        if request_id is not None:
            doc["request_id"] = request_id
        fields = vars(record)
        for field in fields.keys() - _RECORD_ATTRS - doc.keys():
            doc[field] = fields[field]
        if record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return _ENCODER.encode(doc).decode()


def configure_logging(
    process_name: str, level: str | int | None = None, *, exclusive: bool = False
) -> logging.Handler:
    """Send every log record to stdout as redacted JSON; safe to call more than once.

    ``level`` defaults to ``LOG_LEVEL``; it is set on the handler as well as on the
    root logger, so a library that lowers the root level (periodiq sets INFO) does
    not let more through. Only the handler installed by an earlier call is replaced,
    so handlers others attached to the root logger (pytest's capture, for one) keep
    working; ``exclusive`` removes those too, for a process whose output is ours
    alone (a Dramatiq worker process, where Dramatiq may have installed its text
    handler first). Python warnings are logged through the same handler.

    "stdout" is ``sys.stdout`` at the time of the call: in a Dramatiq worker process
    that is Dramatiq's pipe to its main process, which writes whole lines for every
    process of the worker (``actors.middleware.LoggingMiddleware``).
    """
    if level is None:
        level = settings.api().log_level.upper()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if exclusive or getattr(existing, "_dict_connect", False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(sys.stdout)
    handler._dict_connect = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter(process_name))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def is_configured() -> bool:
    """Whether ``configure_logging`` already ran in this process."""
    return any(getattr(h, "_dict_connect", False) for h in logging.getLogger().handlers)
