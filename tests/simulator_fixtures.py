"""The DICT simulator in-process on a free port, driven through the real clients.

One server for the whole session (creating gRPC servers repeatedly leaks threads);
each test that asks for ``sim`` gets the DICT reset to its starting state: two
category-A participants (ours and another PSP), no entries, real time. No database
or Redis is needed. Registered for every test by ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.bridge.client import DictClient
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle, start_in_thread

OURS = "12345678"
OTHER = "87654321"


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimulatorHandle]:
    handle = start_in_thread(0, participants=[(OURS, "A"), (OTHER, "A")])
    yield handle
    handle.stop(0)


@pytest.fixture
def sim(sim_server: SimulatorHandle) -> SimulatorHandle:
    """The running simulator, reset."""
    sim_server.simulator.reset()
    return sim_server


@pytest.fixture
def admin(sim: SimulatorHandle) -> Iterator[AdminClient]:
    with AdminClient(sim.address) as client:
        yield client


@pytest.fixture
def ours(sim: SimulatorHandle) -> Iterator[DictClient]:
    """Calls as our participant (the holder of our keys, the donor of their claims)."""
    with DictClient(sim.address, OURS, timeout_s=10) as client:
        yield client


@pytest.fixture
def theirs(sim: SimulatorHandle) -> Iterator[DictClient]:
    """Calls as the other participant (the claimer of our keys, the payer's PSP of lookups)."""
    with DictClient(sim.address, OTHER, timeout_s=10) as client:
        yield client
