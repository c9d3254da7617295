"""docs/rate_limits.md keeps up with the code: every rule the routes check, every event
topic and gauge, and the two settings, wired through the chart and named in the READMEs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from app import events

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "rate_limits.md").read_text()
SETTINGS = {
    "RATE_LIMIT_POLL_S": ("pollSeconds", 60),
    "RATE_LIMIT_RETENTION_MONTHS": ("retentionMonths", 13),
}


def test_every_rule_the_routes_check_is_documented() -> None:
    found: set[str] = set()
    for path in (
        ROOT / "app" / "domain" / "bucket_levels.py",
        ROOT / "app" / "api" / "rate_limits.py",
    ):
        text = path.read_text()
        found |= set(re.findall(r'Violation\(\s*[^,()]+,\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'\(\s*(?:field|"[a-z_]+"),\s*"([a-z_]+)",', text))
    assert {"range", "below_warning", "above_critical", "after_from", "timezone"} <= found
    missing = sorted(r for r in found if f"`{r}`" not in DOC)
    assert not missing, f"docs/rate_limits.md does not name the rules {missing}"


def test_every_event_and_gauge_is_documented() -> None:
    topics = [t for t in events.TOPICS if t.startswith("rate_limits.")]
    assert topics == ["rate_limits.threshold_crossed", "rate_limits.recovered"]
    outbox = (ROOT / "app" / "outbox.py").read_text()
    gauges = set(re.findall(r'"(dict_rate_limit_[a-z_]+)"', outbox))
    assert len(gauges) == 5
    missing = [n for n in [*topics, *sorted(gauges)] if f"`{n}`" not in DOC]
    assert not missing, f"docs/rate_limits.md does not name {missing}"


@pytest.mark.parametrize("variable", sorted(SETTINGS))
def test_the_settings_are_wired_and_documented(variable: str) -> None:
    name, default = SETTINGS[variable]
    values = yaml.safe_load((ROOT / "charts" / "dict-connect" / "values.yaml").read_text())
    assert values["rateLimits"][name] == default
    helpers = (ROOT / "charts" / "dict-connect" / "templates" / "_helpers.tpl").read_text()
    assert re.search(
        rf"- name: {variable}\n\s+value: \{{\{{ \.Values\.rateLimits\.{name} \|", helpers
    )
    assert (
        f"`rateLimits.{name}` | {default} |"
        in (ROOT / "charts" / "dict-connect" / "README.md").read_text()
    )
    assert f"`{variable}` | {default} | `rateLimits.{name}` |" in DOC
    assert variable in (ROOT / "README.md").read_text()


def test_the_readme_links_the_page() -> None:
    assert "`docs/rate_limits.md`" in (ROOT / "README.md").read_text()
