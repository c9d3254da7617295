"""The DICT's buckets of ours against the in-process world (the simulator in a thread,
its ListBucketStates answering our participant's buckets; the poll run as the scheduler
would run it), with helpers that spend a bucket and read what the poll stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app import db
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain.cid import EMPTY_VSYNC
from tests.integration.bridge.builders import OURS
from tests.integration.claims.conftest import World, world  # noqa: F401

SPENT = "SYNC_VERIFICATIONS_WRITE"
"""The bucket the tests spend: 50 tokens, refilling 10 a minute (DICT.md section 4)."""


@pytest.fixture
def ours(world: World) -> Iterator[DictClient]:  # noqa: F811 - the fixture imported above
    """Calls as our participant, straight to the simulator (no limiter of ours)."""
    with DictClient(world.sim.address, OURS, timeout_s=10) as client:
        yield client


def spend(client: DictClient, tokens: int) -> None:
    """Take ``tokens`` from SYNC_VERIFICATIONS_WRITE, one CreateSyncVerification each."""
    for _ in range(tokens):
        client.create_sync_verification(
            pb.CreateSyncVerificationRequest(
                participant=OURS, key_type="EVP", participant_sync_verifier=EMPTY_VSYNC
            )
        )


def poll() -> list[Any]:
    from actors.rate_limits import poll as read_buckets

    return read_buckets()


def events(topic: str) -> list[dict[str, Any]]:
    with db.pool().connection() as conn:
        return [
            r["args"]["payload"]
            for r in conn.execute(
                "SELECT args FROM outbox WHERE kind = 'event' AND args->>'topic' = %s ORDER BY id",
                (topic,),
            )
        ]


def readings(policy: str) -> list[dict[str, Any]]:
    with db.pool().connection() as conn:
        return conn.execute(
            "SELECT * FROM rate_limit_readings WHERE policy = %s ORDER BY read_at", (policy,)
        ).fetchall()


def policy_row(name: str) -> dict[str, Any]:
    with db.pool().connection() as conn:
        row = conn.execute("SELECT * FROM rate_limit_policies WHERE name = %s", (name,)).fetchone()
    assert row is not None, name
    return row
