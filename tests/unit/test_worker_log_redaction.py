"""Dramatiq logs a message with all its arguments; our logs never carry them.

Dramatiq's worker logs ``"Failed to process message %s ..."`` with the message,
whose ``str()`` lists every argument, and each actor logs its arguments at DEBUG.
These run real Dramatiq code (a ``Worker`` on a ``StubBroker``) through the filter
and formatter every process uses.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries

from app.logging import DRAMATIQ_ACTOR_ARGS, JsonFormatter, RedactingFilter

TAX_ID, NAME, PHONE = "52998224725", "Maria da Silva", "+5561988880000"


@pytest.fixture
def logged() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """``logged()``: every record logged anywhere so far, as the JSON lines we write."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter("worker"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    stub = StubBroker(middleware=[Retries(max_retries=0)])
    yield stub
    stub.close()


def test_a_failed_message_is_logged_without_its_arguments(broker, logged) -> None:
    @dramatiq.actor(broker=broker, actor_name="register_entry", queue_name="dict")
    def register_entry(entry_id: str, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the bridge fell over")

    message = register_entry.message_with_options(
        args=("e-1", NAME), kwargs={"owner": {"tax_id": TAX_ID, "name": NAME}, "key": PHONE}
    )
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        broker.enqueue(message)
        broker.join("dict", timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()

    lines = logged()
    text = "\n".join(json.dumps(line) for line in lines)
    assert TAX_ID not in text and NAME not in text and PHONE not in text
    failed = [line for line in lines if line["msg"].startswith("Failed to process message")]
    assert [line["msg"] for line in failed] == [
        "Failed to process message register_entry(<4 args>) with unhandled exception."
    ]
    assert failed[0]["message_id"] == message.message_id  # whole: it is an id field
    assert "RuntimeError: the bridge fell over" in failed[0]["exc"]
    received = [line["msg"] for line in lines if line["msg"].startswith("Received args=")]
    assert received == ["Received args=<2 args> kwargs=<2 args>."]  # the actor's DEBUG line


def test_the_actor_line_matched_is_the_one_dramatiq_writes() -> None:
    import inspect

    assert DRAMATIQ_ACTOR_ARGS in inspect.getsource(dramatiq.Actor.__call__)


def test_other_arguments_are_formatted_as_usual(logged) -> None:
    logging.getLogger("dramatiq.worker").info("Retrying message %r in %d milliseconds.", "m-1", 10)

    assert logged()[-1]["msg"] == "Retrying message 'm-1' in 10 milliseconds."


def test_a_message_logged_as_the_message_itself_is_withheld_too(logged) -> None:
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="dict", actor_name="update_entry", args=(NAME,), kwargs={}, options={}
    )
    logging.getLogger("actors.test").info(message)

    line = logged()[-1]
    assert (line["msg"], line["message_id"]) == ("update_entry(<1 arg>)", message.message_id)
