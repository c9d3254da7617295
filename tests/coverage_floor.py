"""The build's coverage gates: the whole code base, and the claim modules.

``make test`` runs the suite under coverage (``[tool.coverage]`` in pyproject.toml:
app, statemachines, actors and the simulator, generated gRPC code left out), then
this: the build fails when the total is under ``TOTAL_FLOOR``, or when a module that
carries claims through their legal deadlines is under its own floor. The acceptance
scenarios run the api and the workers in other processes and are not counted, so
these are floors of what the in-process tests alone cover.

    python -m tests.coverage_floor
"""

from __future__ import annotations

import io
import sys

import coverage

TOTAL_FLOOR = 85.0

FLOORS = {
    "statemachines/claim.py": 85.0,
    "statemachines/claim_steps.py": 85.0,
    "actors/claims.py": 85.0,
    "actors/claim_deadlines.py": 85.0,
    "actors/polling.py": 85.0,
}


def main() -> int:
    cov = coverage.Coverage()
    cov.load()
    failed = []
    total = cov.report(file=io.StringIO())
    verdict = "ok" if total >= TOTAL_FLOOR else "BELOW"
    print(f"coverage total: {total:.1f}% (floor {TOTAL_FLOOR:.0f}%) {verdict}")
    if total < TOTAL_FLOOR:
        failed.append("total")
    for path, floor in FLOORS.items():
        _, statements, _, missing, _ = cov.analysis2(path)
        covered = 100.0 * (len(statements) - len(missing)) / max(1, len(statements))
        verdict = "ok" if covered >= floor else "BELOW"
        print(f"coverage {path}: {covered:.1f}% (floor {floor:.0f}%) {verdict}")
        if covered < floor:
            failed.append(path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
