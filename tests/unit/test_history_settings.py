"""HISTORY_RETENTION_MONTHS and HISTORY_ARCHIVE_MONTHS: their defaults, the values
refused, and both wired through the chart and named in the READMEs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from app import settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "HISTORY_RETENTION_MONTHS": ("retentionMonths", 60),
    "HISTORY_ARCHIVE_MONTHS": ("archiveMonths", 0),
}


@pytest.fixture(autouse=True)
def _fresh() -> None:
    settings.reset()


def test_five_years_live_and_the_archive_kept_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    assert settings.history() == settings.HistorySettings(retention_months=60, archive_months=0)


@pytest.mark.parametrize(
    ("retention", "archive"), [("0", "0"), ("60", "-1")], ids=["no retention", "negative archive"]
)
def test_values_that_would_drop_live_history_are_refused(
    monkeypatch: pytest.MonkeyPatch, retention: str, archive: str
) -> None:
    monkeypatch.setenv("HISTORY_RETENTION_MONTHS", retention)
    monkeypatch.setenv("HISTORY_ARCHIVE_MONTHS", archive)
    with pytest.raises(ValueError, match="HISTORY_RETENTION_MONTHS"):
        settings.history()


@pytest.mark.parametrize("variable", sorted(SETTINGS))
def test_the_settings_are_wired_and_documented(variable: str) -> None:
    name, default = SETTINGS[variable]
    chart = ROOT / "charts" / "dict-connect"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["history"][name] == default
    helpers = (chart / "templates" / "_helpers.tpl").read_text()
    assert re.search(rf"- name: {variable}\n\s+value: \{{\{{ \.Values\.history\.{name} \|", helpers)
    assert f"`history.{name}` | {default} |" in (chart / "README.md").read_text()
    assert variable in (ROOT / "README.md").read_text()
    assert variable in (ROOT / "docs" / "architecture.md").read_text()


@pytest.mark.parametrize(
    ("section", "name", "variable", "default"),
    [
        ("events", "retentionDays", "EVENT_RETENTION_DAYS", settings.EVENT_RETENTION_DAYS),
        ("outbox", "retentionDays", "OUTBOX_RETENTION_DAYS", settings.OUTBOX_RETENTION_DAYS),
        ("outbox", "archiveMonths", "OUTBOX_ARCHIVE_MONTHS", settings.OUTBOX_ARCHIVE_MONTHS),
    ],
)
def test_the_events_and_outbox_retentions_are_wired_through_the_chart(
    section: str, name: str, variable: str, default: int
) -> None:
    chart = ROOT / "charts" / "dict-connect"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values[section][name] == default
    helpers = (chart / "templates" / "_helpers.tpl").read_text()
    wired = rf"- name: {variable}\n\s+value: \{{\{{ \.Values\.{section}\.{name} \|"
    assert re.search(wired, helpers)
    assert f"`{section}.{name}` | {default} |" in (chart / "README.md").read_text()
    assert variable in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("variable", ["OUTBOX_RETENTION_DAYS", "OUTBOX_ARCHIVE_MONTHS"])
def test_an_outbox_retention_below_one_is_refused(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "0")
    settings.reset()
    with pytest.raises(ValueError, match=variable):
        settings.outbox()
