"""Every alert leads an operator to a runbook section that says what to do.

The chart's alert rules (``charts/dict-connect/templates/prometheusrule.yaml``) each
carry a ``runbook_url`` built by ``dict-connect.runbookUrl`` from a page of
``docs/runbooks/`` and an anchor. These tests read the files: each link reaches a
heading of an existing page, the section under it has its symptoms, diagnosis,
actions and confirmation and names the alert, the index (``docs/runbooks/README.md``)
lists every alert with the same section and severity, and every alert a runbook
names exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "dict-connect" / "templates" / "prometheusrule.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks"
PARTS = ("Symptoms", "Diagnosis", "Actions", "Confirm")
"""What each alert's section says, each as a bold lead-in (``**Symptoms.**``)."""

_ALERT = re.compile(r"^ +- alert: (\w+)\n", re.MULTILINE)
_LINK = re.compile(r'include "dict-connect.runbookUrl" \(list \. "([^"#]+)#([^"]+)"\)')
_SEVERITY = re.compile(r"^ +severity: (\w+)$", re.MULTILINE)
_HEADING = re.compile(r"^(#+) (.+)$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def rules() -> dict[str, str]:
    """Each alert rule's text, by alert name, in the file's order."""
    text = RULES.read_text()
    found = list(_ALERT.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return {m[1]: text[m.end() : end] for m, end in zip(found, ends, strict=True)}


def anchor(heading: str) -> str:
    """A Markdown heading's anchor as GitHub makes it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def section(page: str, name: str) -> str | None:
    """The text under the heading of ``page`` whose anchor is ``name``, up to the next
    heading of the same or a higher level; None when no heading has that anchor."""
    text = (RUNBOOKS / page).read_text()
    prose = _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m[0]), text)  # no "# comment" in code
    headings = list(_HEADING.finditer(prose))
    for i, h in enumerate(headings):
        if anchor(h[2]) == name:
            later = [g for g in headings[i + 1 :] if len(g[1]) <= len(h[1])]
            return text[h.end() : later[0].start() if later else len(text)]
    return None


def links() -> dict[str, tuple[str, str]]:
    """Each alert's runbook page and anchor (an alert without one is left out)."""
    return {alert: (m[1], m[2]) for alert, body in rules().items() if (m := _LINK.search(body))}


def test_there_are_alerts_to_check() -> None:
    assert len(rules()) >= 34
    assert {"DictOutboxDeadLetters", "DictWorkerDown", "DictSchedulerDown"} <= set(rules())


@pytest.mark.parametrize("alert", sorted(rules()))
def test_the_alert_links_a_section_of_an_existing_runbook(alert: str) -> None:
    assert alert in links(), f"{alert} has no runbook_url (dict-connect.runbookUrl)"
    page, name = links()[alert]
    assert (RUNBOOKS / page).is_file(), f"{alert} links {page}, which does not exist"
    assert section(page, name) is not None, f"{alert}: {page} has no heading #{name}"


@pytest.mark.parametrize("alert", sorted(links()))
def test_the_section_says_symptoms_diagnosis_actions_and_confirm(alert: str) -> None:
    page, name = links()[alert]
    text = section(page, name) or ""
    missing = [p for p in PARTS if not re.search(rf"\*\*{p}\b", text)]
    assert not missing, f"{page}#{name} ({alert}) lacks {missing}"
    assert f"`{alert}`" in text, f"{page}#{name} does not name {alert}"


def test_the_index_lists_every_alert_with_its_section_and_severity() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    rows = re.findall(
        r"^\| `(Dict\w+)` \| (\w+) \| \[[^]]*\]\(([\w.]+)#([\w-]+)\) \|$", index, re.M
    )
    listed = {alert: (severity, page, name) for alert, severity, page, name in rows}
    expected = {
        alert: (_SEVERITY.findall(body)[0], *links()[alert]) for alert, body in rules().items()
    }
    assert listed == expected


def test_every_link_of_the_index_reaches_a_page_and_heading() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    targets = re.findall(r"\]\(([\w.]+\.md)(?:#([\w-]+))?\)", index)
    assert len(targets) > len(rules())
    for page, name in targets:
        assert (RUNBOOKS / page).is_file(), page
        assert not name or section(page, name) is not None, f"{page} has no #{name}"


def test_alerts_named_by_the_runbooks_exist() -> None:
    alerts = set(rules())
    for runbook in sorted(RUNBOOKS.glob("*.md")):
        for name in re.findall(r"`(Dict[A-Z][A-Za-z]+)`", runbook.read_text()):
            assert name in alerts, f"{runbook.name} names alert {name}, which the chart lacks"


def test_every_med_alert_links_its_runbook_section() -> None:
    text = RULES.read_text()
    group = text.split("- name: dict-connect.med\n")[1].split("\n    - name: ")[0]
    alerts = _ALERT.findall(group)
    assert alerts == [
        "DictMedAnalysisDueSoon",
        "DictMedAnalysisOverdue",
        "DictMedPollStalled",
        "DictMedPollFailures",
        "DictMedRequestRejected",
    ]
    assert all(links()[alert] == ("med.md", alert.lower()) for alert in alerts)


def test_every_rate_limit_alert_links_its_runbook_section() -> None:
    text = RULES.read_text()
    group = text.split("- name: dict-connect.rate_limits\n")[1].split("\n    - name: ")[0]
    alerts = _ALERT.findall(group)
    assert alerts == ["DictRateLimitWarning", "DictRateLimitCritical", "DictRateLimitReadingsStale"]
    assert all(links()[alert][0] == "rate_limits.md" for alert in alerts)
