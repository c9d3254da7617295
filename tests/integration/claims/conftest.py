"""Our claim machinery against the simulated DICT, in one process.

A real PostgreSQL and Redis; the simulator in a thread; the actors called as the
worker would call them (``World.run_due`` runs every outbox row that is due, in
order, until nothing is left), the poll as the scheduler would run it. Time is moved
on both sides (``World.pass_time``), or on one side only to make the clocks disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from app import clock, db, outbox, settings
from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.domain.fixtures import make_cpf
from app.repo import claims
from app.repo.claims import ClaimRow
from app.repo.entries import EntryRow
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.integration.bridge.builders import OTHER, OURS, account

DAY = 86_400.0


@dataclass
class World:
    sim: SimulatorHandle
    admin: AdminClient
    theirs: DictClient
    ran: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ time

    def pass_time(self, seconds: float) -> None:
        """Both clocks move: ours (this process) and the DICT's."""
        clock.advance(timedelta(seconds=seconds))
        self.admin.advance_clock(seconds)

    # ------------------------------------------------------------------ the worker

    def run_due(self, *, rounds: int = 50) -> list[str]:
        """Run every due outbox row (events aside) as the worker would, until none is
        left. A transient DICT failure leaves its row for a later call, like a retry."""
        from actors import broker

        ran: list[str] = []
        failed: set[int] = set()
        for _ in range(rounds):
            rows = [r for r in self._due() if r["id"] not in failed]
            if not rows:
                return ran
            for r in rows:
                try:
                    broker.get_actor(r["actor"]).fn(**r["args"])
                except problems.DictProblem as exc:
                    if not exc.retryable:
                        raise
                    failed.add(r["id"])
                    outbox.finish(r["id"], error=exc.type, retrying=True)
                    continue
                outbox.finish(r["id"])
                ran.append(r["actor"])
        self.ran += ran
        raise AssertionError(f"outbox never went quiet: {ran[-10:]}")

    def _due(self) -> list[dict[str, Any]]:
        with db.pool().connection() as conn:
            return conn.execute(
                "SELECT id, actor, args FROM outbox WHERE status IN ('pending', 'dispatched')"
                " AND kind <> 'event' AND deliver_at <= %s ORDER BY deliver_at, id",
                (clock.now(),),
            ).fetchall()

    def poll(self, *, run: bool = True) -> int:
        """One poll as the scheduler sends it, then (``run``) what it left due, the
        acknowledgements of the donor claims it learned among it, as the worker runs it."""
        from actors.polling import poll

        seen = poll()
        if run:
            self.run_due()
        return seen

    # ------------------------------------------------------------------ our side

    def our_key(self, n: int, key_type: str = "PHONE") -> tuple[str, str, str]:
        """A key of ours registered through our own machinery: (entry id, key, owner tax id)."""
        row = self.our_registering_key(n, key_type)
        self.run_due()
        assert self.entry(row.id)["status"] == "active"
        return str(row.id), str(row.key), row.owner_tax_id

    def our_registering_key(self, n: int, key_type: str = "PHONE") -> EntryRow:
        """A key of ours just accepted: registering, its CreateEntry call not made yet."""
        from statemachines import entry

        tax_id = make_cpf(4000 + n)
        key = tax_id if key_type == "CPF" else f"+55219{n:08d}"
        fields = {
            "key": key,
            "key_type": key_type,
            "participant": OURS,
            "branch": "1",
            "account_number": str(20_000 + n),
            "account_type": "CACC",
            "opening_date": datetime(2020, 3, 1, 3, tzinfo=UTC),
            "owner_type": "NATURAL_PERSON",
            "owner_tax_id": tax_id,
            "owner_name": "Maria da Silva",
            "owner_trade_name": None,
        }
        with outbox.statement(actor="test") as s:
            (row,) = entry.create(s, [fields])
        assert not isinstance(row, Exception)
        return row

    def submit(self, claim_type: str, key: str, tax_id: str, key_type: str = "PHONE") -> str:
        """Our customer claims ``key`` (held at the other PSP), as POST /v1/claims does."""
        from statemachines import claim_steps

        with outbox.step(actor="test") as s:
            row = claim_steps.submit(
                s,
                {
                    "type": claim_type,
                    "key": key,
                    "key_type": key_type,
                    "claimer_participant": OURS,
                    "claimer_branch": "1",
                    "claimer_account_number": "777",
                    "claimer_account_type": "CACC",
                    "claimer_opening_date": datetime(2020, 3, 1, 3, tzinfo=UTC),
                    "claimer_type": "NATURAL_PERSON",
                    "claimer_tax_id": tax_id,
                    "claimer_name": "Maria da Silva",
                    "claimer_trade_name": None,
                },
            )
        return str(row.id)

    def our_claim_acknowledged(self, claim_type: str, n: int) -> tuple[str, str]:
        """Our customer claims a key the other PSP holds (the same owner for a
        PORTABILITY, someone else for an OWNERSHIP); the donor acknowledges.
        Returns (our claim id, the DICT's claim id)."""
        holder = make_cpf(5000 + n)
        key = f"+55219200{n:05d}"
        self.they_hold(key, holder)
        claimer = holder if claim_type == "PORTABILITY" else make_cpf(6000 + n)
        claim_id = self.submit(claim_type, key, claimer)
        self.run_due()
        dict_id = self.claim(claim_id)["dict_id"]
        self.they("acknowledge_claim", dict_id)
        return claim_id, dict_id

    def request(self, claim_id: str, operation: str, reason: str | None = None) -> None:
        """Our user decides (as the API's confirm/cancel routes do)."""
        from statemachines import claim_steps

        with outbox.step(actor="test") as s:
            claim_steps.request(s, claim_id, operation, reason)

    def row(self, claim_id: Any) -> ClaimRow:
        """The claim as our code reads it (a typed row)."""
        with db.pool().connection() as conn:
            found = claims.get(conn, claim_id)
        assert found is not None
        return found

    def claim(self, claim_id: str) -> dict[str, Any]:
        with db.pool().connection() as conn:
            row = conn.execute(db.q("claims.get"), {"id": claim_id}).fetchone()
        assert row is not None
        return row

    def ours_for(self, dict_id: str, role: str = "DONOR") -> dict[str, Any]:
        with db.pool().connection() as conn:
            found = claims.by_dict_id(conn, dict_id, role)
        assert found, f"no {role} claim of ours for {dict_id}"
        return msgspec.structs.asdict(found[0])

    def entry(self, entry_id: Any) -> dict[str, Any]:
        with db.pool().connection() as conn:
            row = conn.execute(db.q("entries.get"), {"id": entry_id}).fetchone()
        assert row is not None
        return row

    def history(self, claim_id: Any) -> list[tuple[str, str]]:
        with db.pool().connection() as conn:
            return [
                (h["trigger"], h["to_status"])
                for h in conn.execute(
                    db.q("spine.history"), {"machine": "claim", "subject_id": str(claim_id)}
                )
            ]

    def events(self, topic: str) -> list[dict[str, Any]]:
        with db.pool().connection() as conn:
            return [
                r["args"]["payload"]
                for r in conn.execute(
                    "SELECT args FROM outbox WHERE kind = 'event' AND args->>'topic' = %s"
                    " ORDER BY id",
                    (topic,),
                )
            ]

    def scheduled(self, claim_id: Any) -> list[dict[str, Any]]:
        with db.pool().connection() as conn:
            return conn.execute(
                db.q("claims.next_actions"), {"subject": f"claim:{claim_id}"}
            ).fetchall()

    # ------------------------------------------------------------------ the other PSP

    def they_claim(
        self, key: str, claim_type: str, tax_id: str, key_type: str = "PHONE"
    ) -> pb.Claim:
        return self.theirs.create_claim(
            pb.CreateClaimRequest(
                type=claim_type,
                key=key,
                key_type=key_type,
                claimer_account=account(OTHER, "9001"),
                claimer=pb.Owner(type="NATURAL_PERSON", tax_id_number=tax_id, name="Joana Pereira"),
            )
        ).claim

    def they_hold(self, key: str, tax_id: str) -> None:
        self.theirs.create_entry(
            pb.CreateEntryRequest(
                entry=pb.Entry(
                    key_type="PHONE",
                    key=key,
                    account=account(OTHER, "4242"),
                    owner=pb.Owner(type="NATURAL_PERSON", tax_id_number=tax_id, name="Carlos Lima"),
                ),
                reason="USER_REQUESTED",
                request_id=str(uuid.uuid4()),
            )
        )

    def they(self, call: str, dict_id: str, **fields: Any) -> pb.Claim:
        """The other PSP acknowledges / confirms / cancels / completes a claim."""
        request = {
            "acknowledge_claim": pb.AcknowledgeClaimRequest,
            "confirm_claim": pb.ConfirmClaimRequest,
            "cancel_claim": pb.CancelClaimRequest,
            "complete_claim": pb.CompleteClaimRequest,
        }[call]
        msg = request(claim_id=dict_id, participant=OTHER, **fields)
        return getattr(self.theirs, call)(msg).claim  # type: ignore[no-any-return]

    def dict_claim(self, dict_id: str) -> pb.Claim:
        with DictClient(self.sim.address, OURS) as ours:
            return ours.get_claim(pb.GetClaimRequest(claim_id=dict_id)).claim


@pytest.fixture
def world(
    sim_server: SimulatorHandle,
    database_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    from actors.entries import client
    from app import queue

    sim_server.simulator.reset()
    monkeypatch.setenv("BRIDGE_ADDRESS", sim_server.address)
    monkeypatch.setenv("PARTICIPANT_ISPB", OURS)
    monkeypatch.setenv("BRIDGE_BREAKER_RESET_S", "0.1")
    settings.reset()
    client.cache_clear()
    queue.broker.cache_clear()
    with (
        AdminClient(sim_server.address) as admin,
        DictClient(sim_server.address, OTHER) as theirs,
    ):
        start = datetime.now(UTC).replace(microsecond=0)
        admin.set_clock(start)
        with clock.freeze(start):
            yield World(sim_server, admin, theirs)
    client.cache_clear()
    queue.broker.cache_clear()
