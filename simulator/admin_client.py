"""``AdminClient``: a typed wrapper over the SimulatorAdmin stub, for tests and benches.

Plain arguments in, the service's messages out. A refusal raises the same
``app.domain.problems`` exceptions as ``DictClient`` (e.g. ``BadRequest``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import grpc

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.status import from_rpc_error
from simulator import admin_pb2 as apb
from simulator import admin_pb2_grpc as apb_grpc
from simulator.clock import from_datetime
from simulator.convert import ts

R = TypeVar("R")


class AdminClient:
    def __init__(self, address: str, *, timeout_s: float = 30.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(address)
        self._stub = apb_grpc.SimulatorAdminStub(self._channel)

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: Callable[..., R], request: Any, timeout_s: float | None = None) -> R:
        """One admin call; a refusal raises the DICT problem it carries."""
        try:
            return method(request, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    # clock

    def get_clock(self) -> apb.ClockState:
        return self._call(self._stub.GetClock, apb.GetClockRequest())

    def advance_clock(self, seconds: float) -> apb.ClockState:
        return self._call(self._stub.AdvanceClock, apb.AdvanceClockRequest(seconds=seconds))

    def set_clock(self, now: datetime) -> apb.ClockState:
        return self._call(self._stub.SetClock, apb.SetClockRequest(now=ts(from_datetime(now))))

    # participants, configuration, faults

    def add_participant(self, ispb: str, category: str = "A", name: str = "") -> apb.Participant:
        request = apb.AddParticipantRequest(ispb=ispb, category=category, name=name)
        return self._call(self._stub.AddParticipant, request)

    def set_policy_size(
        self, ispb: str, policy: str, capacity: int, refill_tokens: int, refill_period_sec: int
    ) -> None:
        request = apb.SetPolicySizeRequest(
            ispb=ispb,
            policy=policy,
            capacity=capacity,
            refill_tokens=refill_tokens,
            refill_period_sec=refill_period_sec,
        )
        self._call(self._stub.SetPolicySize, request)

    def list_participants(self) -> list[apb.Participant]:
        return list(
            self._call(self._stub.ListParticipants, apb.ListParticipantsRequest()).participants
        )

    def get_config(self) -> apb.SimulatorConfig:
        return self._call(self._stub.GetConfig, apb.GetConfigRequest())

    def set_config(self, **changes: Any) -> apb.SimulatorConfig:
        """Change some settings, keeping the others (e.g. ``list_lag_seconds=5``)."""
        config = self.get_config()
        for name, value in changes.items():
            setattr(config, name, value)
        return self._call(self._stub.SetConfig, config)

    def set_faults(
        self,
        *,
        latency_ms: float = 0.0,
        unavailable_ratio: float = 0.0,
        drop_ratio: float = 0.0,
        methods: Iterable[str] = (),
        participants: Iterable[str] = (),
    ) -> apb.Faults:
        faults = apb.Faults(
            latency_ms=latency_ms,
            unavailable_ratio=unavailable_ratio,
            drop_ratio=drop_ratio,
            methods=list(methods),
            participants=list(participants),
        )
        return self._call(self._stub.SetFaults, faults)

    def clear_faults(self) -> apb.Faults:
        return self.set_faults()

    # the DICT's side of entries

    def put_entry(self, entry: pb.Entry, request_id: str = "") -> pb.ExtendedEntry:
        return self._call(
            self._stub.PutEntry, apb.PutEntryRequest(entry=entry, request_id=request_id)
        )

    def remove_entry(self, key: str) -> bool:
        return bool(self._call(self._stub.RemoveEntry, apb.RemoveEntryRequest(key=key)).removed)

    def load_entries(
        self,
        participant: str,
        count: int,
        key_type: str = "EVP",
        seed: int = 0,
        *,
        timeout_s: float = 600.0,
    ) -> apb.LoadEntriesResponse:
        request = apb.LoadEntriesRequest(
            participant=participant, key_type=key_type, count=count, seed=seed
        )
        return self._call(self._stub.LoadEntries, request, timeout_s)

    # the SPI's side

    def settle_payment(self, end_to_end_id: str) -> bool:
        """The pacs.008 of ``end_to_end_id`` was sent: True when the lookups made with it
        were credited now (False: no such lookup, or already settled)."""
        request = apb.SettlePaymentRequest(end_to_end_id=end_to_end_id)
        return bool(self._call(self._stub.SettlePayment, request).credited)

    def add_transaction(
        self,
        end_to_end_id: str,
        payer: str,
        payee: str,
        amount: str,
        settled_at: datetime | None = None,
        *,
        pix_automatico: bool = False,
    ) -> apb.Transaction:
        """The SPI settled this transaction (at ``settled_at``; now when None): refund
        requests may name it. ``amount`` is a decimal string, e.g. "100.00"."""
        request = apb.Transaction(
            end_to_end_id=end_to_end_id,
            payer_participant=payer,
            payee_participant=payee,
            amount=amount,
            pix_automatico=pix_automatico,
        )
        if settled_at is not None:
            request.settled_at.CopyFrom(ts(from_datetime(settled_at)))
        return self._call(self._stub.AddTransaction, request)

    def list_transactions(self) -> list[apb.Transaction]:
        request = apb.ListTransactionsRequest()
        return list(self._call(self._stub.ListTransactions, request).transactions)

    # the homologation's virtual payer PSP (99999003)

    def open_virtual_payer_refunds(self, participant: str, amount: str = "") -> list[pb.Refund]:
        """99999003 pays ``participant`` twice and asks for both back: an OPERATIONAL_FLAW
        refund request, then a FRAUD one (after an AGREED report, made as a fixture)."""
        request = apb.OpenVirtualPayerRefundsRequest(participant=participant, amount=amount)
        return list(self._call(self._stub.OpenVirtualPayerRefunds, request).refunds)

    # observation

    def get_call_counts(self, request_id: str = "") -> apb.CallCounts:
        return self._call(self._stub.GetCallCounts, apb.GetCallCountsRequest(request_id=request_id))

    def get_stats(self) -> apb.Stats:
        return self._call(self._stub.GetStats, apb.GetStatsRequest())

    def get_vsync(self, participant: str, key_type: str) -> apb.GetVSyncResponse:
        request = apb.GetVSyncRequest(participant=participant, key_type=key_type)
        return self._call(self._stub.GetVSync, request)

    def reset(self) -> None:
        self._call(self._stub.Reset, apb.ResetRequest())
