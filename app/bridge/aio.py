"""The bridge client of the API's lookups: the same contract, on the event loop.

Lookups precede payments, so they are answered in the request, not through the
outbox. ``DictClient`` blocks a thread per call; during a DICT outage every waiting
request would hold one. This client awaits instead (``grpc.aio``), so a slow or dead
DICT costs memory for the waiting requests, never threads, and its own breaker fails
them fast once the bridge is known to be down. Same channel options, metadata,
problem mapping and metrics as ``DictClient``.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

from app import settings
from app.bridge import dict_bridge_pb2 as pb
from app.bridge import dict_bridge_pb2_grpc as pb_grpc
from app.bridge import metrics
from app.bridge.breaker import TransportBreaker
from app.bridge.client import (
    CHANNEL_OPTIONS,
    PARTICIPANT_METADATA,
    _credentials,
    security_and_breaker,
)
from app.bridge.status import from_rpc_error
from app.domain import problems


class AsyncDictClient:
    """GetEntry and CheckKeys, awaited. Raises ``DictProblem`` like ``DictClient``."""

    def __init__(
        self,
        address: str,
        participant: str,
        *,
        timeout_s: float,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        breaker_fail_max: int = 5,
        breaker_reset_s: float = 10.0,
    ) -> None:
        self.timeout_s = timeout_s
        self._metadata = ((PARTICIPANT_METADATA, participant),)
        credentials = _credentials(ca_file, cert_file, key_file)
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)
        self._stub = pb_grpc.DictBridgeStub(self._channel)
        self.breaker = TransportBreaker(breaker_fail_max, breaker_reset_s)

    @classmethod
    def from_settings(cls) -> AsyncDictClient:
        s = settings.bridge()
        return cls(
            s.address,
            s.participant,
            timeout_s=settings.lookups().timeout_s,
            **security_and_breaker(s),
        )

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, rpc_name: str, request: Message) -> Any:
        started = time.perf_counter()
        outcome = "ok"

        async def invoke() -> Any:
            try:
                return await getattr(self._stub, rpc_name)(
                    request, timeout=self.timeout_s, metadata=self._metadata
                )
            except grpc.RpcError as err:
                raise from_rpc_error(err) from err

        try:
            return await self.breaker.acall(invoke)
        except problems.DictProblem as problem:
            outcome = problem.type
            raise
        finally:
            metrics.observe(rpc_name, outcome, time.perf_counter() - started)

    async def get_entry(self, request: pb.GetEntryRequest) -> pb.GetEntryResponse:
        answer: pb.GetEntryResponse = await self._call("GetEntry", request)
        return answer

    async def check_keys(self, request: pb.CheckKeysRequest) -> pb.CheckKeysResponse:
        answer: pb.CheckKeysResponse = await self._call("CheckKeys", request)
        return answer
