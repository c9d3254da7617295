"""The simulator in-process on a free port, driven over gRPC through the real clients.

As ``tests/integration/bridge/conftest.py``: one server per session (creating gRPC
servers repeatedly leaks threads), the DICT reset for each test that asks for it: two
category-A participants, no entries, real time. No database or Redis is needed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.bridge.client import DictClient
from app.bridge.simulator.admin_client import AdminClient
from app.bridge.simulator.server import SimulatorHandle, start_in_thread
from tests.integration.bridge.builders import OTHER, OURS


@pytest.fixture(scope="session")
def _server() -> Iterator[SimulatorHandle]:
    handle = start_in_thread(0, participants=[(OURS, "A"), (OTHER, "A")])
    yield handle
    handle.stop(0)


@pytest.fixture
def sim(_server: SimulatorHandle) -> SimulatorHandle:
    """The running simulator, reset."""
    _server.simulator.reset()
    return _server


@pytest.fixture
def admin(sim: SimulatorHandle) -> Iterator[AdminClient]:
    with AdminClient(sim.address) as client:
        yield client


@pytest.fixture
def ours(sim: SimulatorHandle) -> Iterator[DictClient]:
    """Calls as our participant (the donor of the claims, the holder of the keys)."""
    with DictClient(sim.address, OURS, timeout_s=10) as client:
        yield client


@pytest.fixture
def theirs(sim: SimulatorHandle) -> Iterator[DictClient]:
    """Calls as the other participant (the claimer, the payer's PSP of lookups)."""
    with DictClient(sim.address, OTHER, timeout_s=10) as client:
        yield client
