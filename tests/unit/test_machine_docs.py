"""docs/machines.md is drawn from the machine declarations and kept current."""

from __future__ import annotations

from statemachines import diagrams
from statemachines.registry import MACHINES


def test_the_state_diagrams_match_the_declarations() -> None:
    assert diagrams.DOC.read_text() == diagrams.document(), (
        "docs/machines.md is stale: run `python -m statemachines.diagrams --write`"
    )


def test_every_transition_is_drawn() -> None:
    for spec in MACHINES.values():
        drawn = set()
        for line in diagrams.mermaid(spec).splitlines():
            edge, _, labels = line.strip().partition(": ")
            source, arrow, dest = edge.partition(" --> ")
            if arrow and source != "[*]":
                drawn |= {(t, source, dest) for t in labels.split(" | ")}
        assert drawn == spec.edges(), spec.name
