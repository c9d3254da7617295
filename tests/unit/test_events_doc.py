"""docs/events.md lists every topic and payload, generated from app/events.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import events, outbox

ROOT = Path(__file__).resolve().parents[2]


def test_the_events_page_is_current() -> None:
    assert events.DOC.read_text() == events.document(), (
        "docs/events.md is stale: run `python -m app.events --write`"
    )


def test_every_topic_the_code_publishes_is_declared() -> None:
    code = "\n".join(
        p.read_text() for d in ("app", "statemachines", "actors") for p in (ROOT / d).rglob("*.py")
    )
    published = set(re.findall(r"""(?:event|_event)\(\s*["']([a-z_]+\.[a-z_]+)["']""", code))
    assert published and published <= set(events.TOPICS)
    assert set(events.TOPICS) <= published | {"entries.deleted"}


def test_an_event_of_an_undeclared_topic_or_shape_is_refused() -> None:
    claim = events.ClaimEvent(
        claim_id="c",
        dict_id=None,
        role="DONOR",
        type="OWNERSHIP",
        key="k",
        key_type="PHONE",
        status="open",
    )
    assert outbox.event("claims.received", claim).args["payload"]["role"] == "DONOR"
    with pytest.raises(KeyError):
        outbox.event("claims.teleported", claim)
    with pytest.raises(TypeError):
        outbox.event("entries.created", claim)
