"""Every effect goes to the queue its actor declares, and names an actor that exists."""

from __future__ import annotations

import re
from pathlib import Path

from app import outbox
from app.events import ClaimAnomaly

ROOT = Path(__file__).resolve().parents[2]
SENT_BY_CRONS = {
    "relay",
    "maintenance",
    "poll_claims_tick",
    "poll_claims",
    "sync_schedule",
    "lookup_index",
    "poll_infractions",
    "poll_refunds",
    "poll_rate_limits",
}
"""Actors the scheduler (or the poll tick) sends directly: no outbox row names them."""


def _effect_actors() -> set[str]:
    """Actor names given to outbox.task / outbox.timer anywhere in the code."""
    code = "\n".join(
        p.read_text() for d in ("app", "statemachines", "actors") for p in (ROOT / d).rglob("*.py")
    )
    found = set(re.findall(r"""outbox\.(?:task|timer)\(\s*["'](\w+)["']""", code))
    found |= set(re.findall(r"""_timer\(\s*["'](\w+)["']""", code))
    found |= set(
        re.findall(
            r"""VALUES \('(\w+)'""",
            (ROOT / "sql").joinpath("migrations").joinpath("0001_spine.sql").read_text(),
        )
    )
    return found


def test_each_actor_listens_on_the_queue_its_effects_go_to() -> None:
    from actors import broker

    declared = {name: broker.get_actor(name).queue_name for name in broker.get_declared_actors()}
    assert {a: declared[a] for a in outbox.QUEUES} == outbox.QUEUES
    assert set(declared) == set(outbox.QUEUES) | SENT_BY_CRONS


def test_every_actor_an_effect_names_exists() -> None:
    assert _effect_actors() <= set(outbox.QUEUES)
    assert {"register_entry", "claim_deadline", "fire_trigger"} <= _effect_actors()


def test_an_effect_carries_its_actors_queue() -> None:
    assert outbox.task("confirm_claim", claim_id="c").queue == "dict"
    anomaly = ClaimAnomaly(claim_id="c", dict_id=None, status="open", dict_status=None, anomaly="")
    assert outbox.event("claims.anomaly", anomaly).queue == "events"


def test_the_worker_command_offers_every_queue_and_passes_the_choice_on() -> None:
    from actors import broker
    from app import cli

    declared = {broker.get_actor(a).queue_name for a in broker.get_declared_actors()}
    assert set(cli.WORKER_QUEUES) == declared
    args = cli.parser().parse_args(["worker", "--threads", "4", "--queues", "dict", "events"])
    assert cli.worker_options(args)[-3:] == ["--queues", "dict", "events"]
    every = cli.parser().parse_args(["worker"])
    assert "--queues" not in cli.worker_options(every)
