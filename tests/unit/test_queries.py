"""Every named query in sql/queries is loaded once, and used somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from app import db

ROOT = Path(__file__).resolve().parents[2]


def _sources() -> str:
    return "\n".join(
        p.read_text()
        for folder in ("app", "statemachines", "actors", "tests")
        for p in (ROOT / folder).rglob("*.py")
    )


def test_every_query_is_used() -> None:
    code = _sources()
    used = set(re.findall(r"""q\(\s*["']([\w.]+)["']""", code))
    used |= set(re.findall(r"""["']([a-z_]+\.[a-z_]+)["']""", code)) & set(db.queries())
    from statemachines import registry  # core.fire: each machine's lock and set_status

    for spec in registry.MACHINES.values():
        used |= {f"{spec.table}.lock", f"{spec.table}.set_status"}
    unused = sorted(set(db.queries()) - used)
    assert unused == []


def test_every_reference_names_a_query() -> None:
    refs = set(re.findall(r"""\bq\(\s*["']([\w.]+)["']""", _sources()))
    assert sorted(refs - set(db.queries())) == []
