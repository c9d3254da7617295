"""Logs never carry tax ids, names, contact data or whole keys."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.logging import JsonFormatter, RedactingFilter, mask_key, request_id_var, scrub

EVP = "3f2a9c1e-7b4d-4e8f-9a6b-12c34d56e7f8"


@pytest.fixture
def emit():
    """Log through the real filter and formatter; return the parsed JSON line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter("api"))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    def log(msg, *args, **kwargs):
        stream.seek(0)
        stream.truncate()
        logger.info(msg, *args, **kwargs)
        return json.loads(stream.getvalue())

    yield log
    logger.removeHandler(handler)
    logger.propagate = True


@pytest.mark.parametrize(
    "text",
    [
        "owner 12345678909 registered",
        "owner 123.456.789-09 registered",
        "company 11222333000181 registered",
        "company 11.222.333/0001-81 registered",
    ],
)
def test_cpf_and_cnpj_digit_runs_are_masked(text) -> None:
    assert scrub(text) == text.split()[0] + " [tax-id] registered"


def test_other_numbers_are_left_alone() -> None:
    assert scrub("retry 3 of 5 after 1234567890 ms, ISPB 12345678") == (
        "retry 3 of 5 after 1234567890 ms, ISPB 12345678"
    )


def test_emails_and_phones_are_masked() -> None:
    assert scrub("key joana.silva+pix@example.com.br and +5561988880000") == (
        "key [email] and [phone]"
    )


def test_an_evp_key_keeps_only_its_last_four_characters() -> None:
    masked = scrub(f"evp {EVP} created")

    assert EVP not in masked
    assert masked == f"evp {'*' * 32}e7f8 created"
    assert mask_key("abc") == "***"


def test_a_message_with_args_is_scrubbed_after_formatting(emit) -> None:
    line = emit("entry for %s (%s)", "12345678909", "maria@example.com")

    assert line["msg"] == "entry for [tax-id] ([email])"


def test_extra_fields_are_judged_by_name(emit) -> None:
    line = emit(
        "registered",
        extra={
            "owner_name": "Maria da Silva",
            "tax_id": "12345678909",
            "key": "+5561988880000",
            "entry_id": EVP,
            "owner": {"name": "Maria", "type": "NATURAL_PERSON"},
            "note": "call 12345678909",
            "count": 3,
        },
    )

    assert line["owner_name"] == "[redacted]"
    assert line["tax_id"] == "[redacted]"
    assert line["key"] == "**********0000"
    assert line["entry_id"] == EVP  # ids are kept whole when passed as fields
    assert line["owner"] == "[redacted]"
    assert line["note"] == "call [tax-id]"
    assert line["count"] == 3


def test_nested_fields_are_redacted_by_name(emit) -> None:
    line = emit("payload", extra={"params": {"entry": {"name": "Maria", "key_type": "CPF"}}})

    assert line["params"] == {"entry": {"name": "[redacted]", "key_type": "CPF"}}


def test_tracebacks_are_scrubbed(emit) -> None:
    try:
        raise ValueError("bad tax id 12345678909 for joana@example.com")
    except ValueError:
        stream_line = emit("failed", exc_info=True)

    assert "12345678909" not in stream_line["exc"]
    assert "joana@example.com" not in stream_line["exc"]
    assert "ValueError: bad tax id [tax-id] for [email]" in stream_line["exc"]


def test_a_line_has_the_standard_members_and_the_request_id(emit) -> None:
    token = request_id_var.set("req-1")
    try:
        line = emit("hello")
    finally:
        request_id_var.reset(token)

    assert {"ts", "level", "logger", "msg", "process", "request_id"} <= set(line)
    assert (line["level"], line["logger"], line["process"], line["request_id"]) == (
        "INFO",
        "test.redaction",
        "api",
        "req-1",
    )
    assert line["ts"].endswith("+00:00")
