"""``AdminClient``: a typed wrapper over the SimulatorAdmin stub, for tests and benches.

Plain arguments in, the service's messages out. A refusal raises the same
``app.domain.problems`` exceptions as ``DictClient`` (e.g. ``BadRequest``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc

from app.bridge import dict_bridge_pb2 as pb
from app.bridge import simulator_admin_pb2 as apb
from app.bridge import simulator_admin_pb2_grpc as apb_grpc
from app.bridge.simulator.clock import from_datetime
from app.bridge.simulator.convert import ts
from app.bridge.status import from_rpc_error


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

    def _call(self, name: str, request: Any, timeout_s: float | None = None) -> Any:
        try:
            return getattr(self._stub, name)(request, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    # clock

    def get_clock(self) -> apb.ClockState:
        return self._call("GetClock", apb.GetClockRequest())

    def advance_clock(self, seconds: float) -> apb.ClockState:
        return self._call("AdvanceClock", apb.AdvanceClockRequest(seconds=seconds))

    def set_clock(self, now: datetime) -> apb.ClockState:
        return self._call("SetClock", apb.SetClockRequest(now=ts(from_datetime(now))))

    # participants, configuration, faults

    def add_participant(self, ispb: str, category: str = "A", name: str = "") -> apb.Participant:
        request = apb.AddParticipantRequest(ispb=ispb, category=category, name=name)
        return self._call("AddParticipant", request)

    def list_participants(self) -> list[apb.Participant]:
        return list(self._call("ListParticipants", apb.ListParticipantsRequest()).participants)

    def get_config(self) -> apb.SimulatorConfig:
        return self._call("GetConfig", apb.GetConfigRequest())

    def set_config(self, **changes: Any) -> apb.SimulatorConfig:
        """Change some settings, keeping the others (e.g. ``list_lag_seconds=5``)."""
        config = self.get_config()
        for name, value in changes.items():
            setattr(config, name, value)
        return self._call("SetConfig", config)

    def set_faults(
        self,
        *,
        latency_ms: float = 0.0,
        unavailable_ratio: float = 0.0,
        drop_ratio: float = 0.0,
        methods: Iterable[str] = (),
    ) -> apb.Faults:
        faults = apb.Faults(
            latency_ms=latency_ms,
            unavailable_ratio=unavailable_ratio,
            drop_ratio=drop_ratio,
            methods=list(methods),
        )
        return self._call("SetFaults", faults)

    def clear_faults(self) -> apb.Faults:
        return self.set_faults()

    # the DICT's side of entries

    def put_entry(self, entry: pb.Entry, request_id: str = "") -> pb.ExtendedEntry:
        return self._call("PutEntry", apb.PutEntryRequest(entry=entry, request_id=request_id))

    def remove_entry(self, key: str) -> bool:
        return bool(self._call("RemoveEntry", apb.RemoveEntryRequest(key=key)).removed)

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
        return self._call("LoadEntries", request, timeout_s)

    # observation

    def get_call_counts(self, request_id: str = "") -> apb.CallCounts:
        return self._call("GetCallCounts", apb.GetCallCountsRequest(request_id=request_id))

    def get_stats(self) -> apb.Stats:
        return self._call("GetStats", apb.GetStatsRequest())

    def get_vsync(self, participant: str, key_type: str) -> apb.GetVSyncResponse:
        request = apb.GetVSyncRequest(participant=participant, key_type=key_type)
        return self._call("GetVSync", request)

    def reset(self) -> None:
        self._call("Reset", apb.ResetRequest())
