"""The simulator is a separate program: of the connector it uses only the contract.

It may import the bridge contract (the generated ``app.bridge.dict_bridge_pb2*`` and
``app.bridge.status``, the problem <-> gRPC status mapping both sides share) and the
pure ``app.domain``; nothing else of ``app``. The connector, in turn, reaches the
simulator only from the dev tooling (``app.cli``, ``app.dev``), lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = ("app.bridge.dict_bridge_pb2", "app.bridge.dict_bridge_pb2_grpc", "app.bridge.status")
"""Modules of ``app`` the simulator may import, besides ``app.domain``."""


def _imports(path: Path) -> set[str]:
    """Every module a file imports (``from a import b`` counts ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _allowed(module: str) -> bool:
    if module == "app.domain" or module.startswith("app.domain."):
        return True
    return any(module == name or module.startswith(name + ".") for name in ALLOWED)


def test_the_simulator_imports_only_the_contract_and_the_domain() -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "simulator").rglob("*.py"))
        for module in _imports(path)
        if (module == "app" or module.startswith("app."))
        and module not in {"app.bridge", "app.domain"}  # `from app.bridge import <stub>`
        and not _allowed(module)
    }
    assert not wrong, sorted(wrong)


def test_the_connector_reaches_the_simulator_only_from_the_dev_tooling() -> None:
    users = {
        str(path.relative_to(ROOT))
        for folder in ("app", "statemachines", "actors")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if any(m == "simulator" or m.startswith("simulator.") for m in _imports(path))
    }
    assert users <= {"app/cli.py", "app/dev.py"}, sorted(users)
