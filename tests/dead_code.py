"""Dead code in the service (``make lint``): vulture over the code, counting a use in the
tests as a use, reporting only the code's own files.

    python -m tests.dead_code
"""

from __future__ import annotations

import sys
from pathlib import Path

from vulture import Vulture

ROOT = Path(__file__).resolve().parents[1]
CODE = ("app", "statemachines", "actors", "simulator")
FRAMEWORK_DECORATORS = [
    "@dramatiq.actor",  # called by name from messages
    "@get",  # Litestar routes
    "@post",
    "@patch",
    "@delete",
    "@property",
    "@classmethod",
    "@functools.cache",
    "@pytest.fixture",
]
FRAMEWORK_NAMES = [
    "after_process_*",  # Dramatiq middleware hooks
    "before_*",
    "collect",  # prometheus collectors
    "authenticate_request",  # Litestar's authentication middleware
    "state_change",  # pybreaker's listener
    "*Controller",  # Litestar controllers, joined by name (app.api.app.RESOURCES)
    "test_*",
    "pytestmark",
    "pytest_plugins",
    "__*__",  # dunders: read by Python and its tools
]


def main() -> int:
    vulture = Vulture(ignore_names=FRAMEWORK_NAMES, ignore_decorators=FRAMEWORK_DECORATORS)
    vulture.scavenge(
        [str(ROOT / d) for d in (*CODE, "tests")],
        exclude=["*_pb2.py", "*_pb2_grpc.py", "*/tests/bench/*"],
    )
    code = tuple(str(ROOT / d) + "/" for d in CODE)
    dead = [
        item
        for item in vulture.get_unused_code(min_confidence=60)
        if str(item.filename).startswith(code)
    ]
    for item in dead:
        print(item.get_report(add_size=False))
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main())
