"""State diagrams of every machine, drawn by pytransitions from the declarations.

    python -m statemachines.diagrams --write    # docs/machines.md (``make docs``)

The same ``Spec`` drives the runtime checks (``Spec.fire``), the SQL mirror
(``registry.mirror``) and these diagrams; ``tests/unit/test_machine_docs.py`` fails
when docs/machines.md no longer matches the declarations.
"""

from __future__ import annotations

import sys
from pathlib import Path

from transitions.extensions import GraphMachine

from statemachines.core import Spec
from statemachines.registry import MACHINES

DOC = Path(__file__).resolve().parents[1] / "docs" / "machines.md"


class _Model:
    """What pytransitions draws: a model in the machine's first initial state."""


def mermaid(spec: Spec) -> str:
    """The machine as a Mermaid state diagram (pytransitions' mermaid engine)."""
    machine = GraphMachine(
        model=None,
        states=list(spec.states),
        transitions=[
            {"trigger": t.trigger, "source": list(t.source), "dest": t.dest}
            for t in spec.transitions
        ],
        initial=spec.initial[0],
        auto_transitions=False,
        graph_engine="mermaid",
        title=f"{spec.name} machine",
    )
    model = _Model()
    machine.add_model(model, initial=spec.initial[0])
    return str(model.get_graph().draw(None)).strip()  # type: ignore[attr-defined]


def document() -> str:
    parts = [
        "# State machines",
        "",
        "Generated from `statemachines/*.py` (`python -m statemachines.diagrams --write`);",
        "a test fails when this page and the declarations differ. Each machine's states are",
        "documented in `sql/schema.sql` (`COMMENT ON COLUMN <table>.status`).",
    ]
    for spec in MACHINES.values():
        others = [s for s in spec.initial[1:]]
        parts += ["", f"## {spec.name}", ""]
        if others:
            parts += [f"A row may also start in: {', '.join(others)}.", ""]
        parts += ["```mermaid", mermaid(spec), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    if "--write" in sys.argv:
        DOC.write_text(document())
        print(f"wrote {DOC}")
    else:
        sys.stdout.write(document())
