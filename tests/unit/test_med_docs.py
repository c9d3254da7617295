"""docs/med.md keeps up with the code: every rule the MED routes check, every value they
take, every MED event topic, the setting and the ``dict-connect sim`` commands it names."""

from __future__ import annotations

import argparse
import re
from enum import StrEnum
from pathlib import Path

import pytest
import yaml

from app import events
from app.domain import infractions, refunds
from simulator.ctl import parser

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "med.md").read_text()
CHECKERS = [
    ROOT / "app" / "domain" / f"{name}.py" for name in ("infractions", "refunds", "fraud_markers")
] + [ROOT / "app" / "api" / f"{name}.py" for name in ("infractions", "refunds", "fraud_markers")]


def _rules() -> set[str]:
    """The rule names the checks give (``Violation(field, "rule", …)``, ``("field",
    "rule", …)`` tuples of a ``ValidationFailed``)."""
    found: set[str] = set()
    for path in CHECKERS:
        text = path.read_text()
        found |= set(re.findall(r'Violation\(\s*[^,()]+,\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'ValidationFailed\(\s*\[\(\s*"[^"]+",\s*"([a-z_]+)"', text))
    return found


def test_every_rule_the_routes_check_is_documented() -> None:
    rules = _rules()
    assert {"agreed_report_required", "window_expired", "another_participant"} <= rules
    missing = sorted(r for r in rules if f"`{r}`" not in DOC)
    assert not missing, f"docs/med.md does not name the rules {missing}"


@pytest.mark.parametrize(
    "kind",
    [
        infractions.Reason,
        infractions.SituationType,
        infractions.AnalysisResult,
        infractions.FraudType,
        refunds.Reason,
        refunds.AnalysisResult,
        refunds.RejectionReason,
    ],
    ids=lambda k: f"{k.__module__.rsplit('.', 1)[1]}.{k.__name__}",
)
def test_every_value_the_routes_take_is_documented(kind: type[StrEnum]) -> None:
    missing = [m.value for m in kind if f"`{m.value}`" not in DOC]
    assert not missing, f"docs/med.md does not name {kind.__name__} {missing}"


def test_every_med_event_is_documented() -> None:
    med = [
        t for t in events.TOPICS if t.split(".")[0] in ("infractions", "refunds", "fraud_markers")
    ]
    assert len(med) >= 15
    missing = [t for t in med if f"`{t}`" not in DOC]
    assert not missing, f"docs/med.md does not name the events {missing}"


def test_the_refund_analysis_setting_is_wired_and_documented() -> None:
    values = yaml.safe_load((ROOT / "charts" / "dict-connect" / "values.yaml").read_text())
    assert values["med"]["refundAnalysisHours"] == 24
    helpers = (ROOT / "charts" / "dict-connect" / "templates" / "_helpers.tpl").read_text()
    wired = r"- name: REFUND_ANALYSIS_HOURS\n\s+value: \{\{ \.Values\.med\.refundAnalysisHours \|"
    assert re.search(wired, helpers)
    chart_readme = (ROOT / "charts" / "dict-connect" / "README.md").read_text()
    assert "`med.refundAnalysisHours` | 24 |" in chart_readme
    assert "`REFUND_ANALYSIS_HOURS` | 24 | `med.refundAnalysisHours` |" in DOC
    assert "REFUND_ANALYSIS_HOURS" in (ROOT / "README.md").read_text()


def _subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in p._actions if isinstance(a, argparse._SubParsersAction)), {})


def test_the_sim_commands_it_names_exist() -> None:
    commands = _subcommands(parser())
    named = set(re.findall(r"dict-connect sim ([a-z][a-z-]+)", DOC))
    assert {"add-transaction", "virtual-payer-refunds", "report", "refund"} <= named
    assert named <= set(commands), named - set(commands)
    assert "docs/med.md" in (ROOT / "README.md").read_text()


def test_the_report_and_refund_commands_it_names_exist() -> None:
    """Homologation steps 6 and 7 play the other PSP with ``sim report|refund COMMAND``."""
    commands = _subcommands(parser())
    named = set(re.findall(r"(?:dict-connect )?sim (report|refund) ([a-z]+)", DOC))
    assert {("report", "open"), ("report", "acknowledge"), ("report", "close")} <= named
    assert {("refund", "open"), ("refund", "close"), ("refund", "cancel")} <= named
    missing = {(g, c) for g, c in named if c not in _subcommands(commands[g])}
    assert not missing, missing
    assert "from app.bridge" not in DOC, "the other PSP's side is `dict-connect sim`, no Python"
