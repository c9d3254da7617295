"""Coverage floors for the modules that carry claims through their legal deadlines.

``make test`` runs the suite under coverage, then this: a claim module whose tests
below the acceptance level cover less than its floor fails the build (the acceptance
scenarios run the worker in other processes and are not counted).

    python -m tests.coverage_floor
"""

from __future__ import annotations

import sys

import coverage

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
