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
  ``actor_name(<n args>)``, its id moved to the ``message_id`` field: an actor's
  arguments may hold a key, a tax id or a name, and a name cannot be told from
  other words in free text.
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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from app import settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
"""The current request's id, set by the API's request-id middleware."""

REDACTED = "[redacted]"

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


def scrub(text: str) -> str:
    """Free text with tax ids, e-mails, phones and UUIDs masked."""
    if not _SUSPECT.search(text):
        return text
    text = _UUID.sub(lambda m: mask_key(m.group()), text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    text = _CNPJ_PUNCT.sub("[tax-id]", text)
    text = _CPF_PUNCT.sub("[tax-id]", text)
    return _TAX_ID_RUN.sub("[tax-id]", text)


def redact_value(field: str, value: Any) -> Any:
    """An ``extra`` value made safe to log, judged by its field name first."""
    if value is None or isinstance(value, bool | int | float):
        return value
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


def _withhold_arguments(record: logging.LogRecord) -> None:
    """Actor arguments out of ``record.args``: see the module docstring."""
    message: Any = record.msg
    if _is_message(message):  # logged as the message itself
        record.message_id = message.message_id
        record.msg = f"{message.actor_name}({_arg_count(message.args, message.kwargs)})"
    args = record.args
    if not args:
        return
    if record.msg == DRAMATIQ_ACTOR_ARGS and isinstance(args, tuple) and len(args) == 2:
        record.args = (_Withheld(_arg_count(args[0], ())), _Withheld(_arg_count((), args[1])))
        return
    values = args.values() if isinstance(args, Mapping) else args
    if not any(_is_message(a) for a in values):
        return

    def safe(value: Any) -> Any:
        if not _is_message(value):
            return value
        record.message_id = value.message_id
        return _Withheld(f"{value.actor_name}({_arg_count(value.args, value.kwargs)})")

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
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info))
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
