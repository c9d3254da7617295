"""Synchronisation (DICT.md §3): sync verifications, CID files, CID events, entries by CID."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from simulator.common import key_type, limit, own, visible_until_us
from simulator.config import Participant
from simulator.convert import extended_pb, optional_us, ts, uuid_text
from simulator.entries import open_claim_us
from simulator.models import CidFile
from simulator.state import Simulator

_HEX64 = re.compile(r"[0-9a-f]{64}")
LINES_PER_CHUNK = 1024  # 66,560 bytes per streamed chunk


def create_sync_verification(
    sim: Simulator, caller: Participant, req: pb.CreateSyncVerificationRequest
) -> pb.SyncVerification:
    own(caller, req.participant)
    kt = key_type(req.key_type)
    if not _HEX64.fullmatch(req.participant_sync_verifier):
        raise problems.BadRequest(
            "the sync verifier is 64 lowercase hex digits",
            violations=[("participant_sync_verifier", "pattern")],
        )
    ours = sim.state.ledger.vsync(caller.ispb, kt)
    result = "OK" if ours == req.participant_sync_verifier else "NOK"
    return pb.SyncVerification(id=sim.next_id(), result=result, key_type=kt)


def _file_chunks(cids: bytes) -> Iterator[bytes]:
    """The file's bytes: one CID in hex and "\\n" per line, LINES_PER_CHUNK lines at a time."""
    step = 32 * LINES_PER_CHUNK
    for start in range(0, len(cids), step):
        hexed = cids[start : start + step].hex()
        lines = [hexed[k : k + 64] for k in range(0, len(hexed), 64)]
        yield ("\n".join(lines) + "\n").encode()


def create_cid_set_file(
    sim: Simulator, caller: Participant, req: pb.CreateCidSetFileRequest
) -> pb.CidSetFile:
    """Snapshots the participant's CIDs now; the file becomes AVAILABLE later."""
    own(caller, req.participant)
    kt = key_type(req.key_type)
    cids = b"".join(sim.state.store.cids(caller.ispb, kt))
    digest = hashlib.sha256()
    for chunk in _file_chunks(cids):
        digest.update(chunk)
    now = sim.now_us()
    file = CidFile(
        sim.next_id(),
        caller.ispb,
        kt,
        now,
        cids,
        len(cids) // 32 * 65,
        digest.hexdigest(),
        ready_us=now + _processing_us(sim),
    )
    sim.state.files[file.id] = file
    _forget_old_files(sim, caller.ispb, kt)
    return pb.CidSetFile(
        id=file.id,
        status="REQUESTED",
        key_type=kt,
        participant=caller.ispb,
        request_time=ts(file.requested_us),
    )


KEPT_FILES = 2
"""CID files kept per participant and key type (a 10-million-CID file holds 320 MB here);
an older one answers NotFound, as an expired file would."""


def _forget_old_files(sim: Simulator, participant: str, kt: str) -> None:
    mine = [
        f.id for f in sim.state.files.values() if (f.participant, f.key_type) == (participant, kt)
    ]
    for old in sorted(mine)[:-KEPT_FILES]:
        del sim.state.files[old]


def _file(sim: Simulator, caller: Participant, file_id: int) -> CidFile:
    file = sim.state.files.get(file_id)
    if file is None or file.participant != caller.ispb:
        raise problems.NotFound(f"no CID file {file_id} for this participant")
    return file


def _processing_us(sim: Simulator) -> int:
    return round(sim.config.cid_file_processing_seconds * 1_000_000)


def _ready_us(sim: Simulator, file: CidFile) -> int:
    """When the file is AVAILABLE: fixed when it was requested, so that changing
    ``cid_file_processing_seconds`` later never takes an AVAILABLE file back to PROCESSING."""
    return file.ready_us or file.requested_us + _processing_us(sim)


def get_cid_set_file(
    sim: Simulator, caller: Participant, req: pb.GetCidSetFileRequest
) -> pb.CidSetFile:
    """Status from the clock: REQUESTED at the instant of the request, PROCESSING
    until the ``cid_file_processing_seconds`` in force at the request have passed,
    AVAILABLE after (DICT.md §3: REQUESTED → PROCESSING → AVAILABLE)."""
    file = _file(sim, caller, req.id)
    now, ready = sim.now_us(), _ready_us(sim, file)
    out = pb.CidSetFile(
        id=file.id,
        key_type=file.key_type,
        participant=file.participant,
        request_time=ts(file.requested_us),
    )
    if now >= ready:
        out.status = "AVAILABLE"
        out.creation_time.CopyFrom(ts(ready))
        out.bytes, out.sha256 = file.size, file.sha256
        out.url = f"sim://cid-files/{file.id}"
    else:
        out.status = "PROCESSING" if now > file.requested_us else "REQUESTED"
    return out


def _corrupted(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The same chunks with the first hex digit of the first line changed: the file keeps
    its size and its shape (a well-formed CID per line) but no longer matches its Sha256,
    as a transfer corrupted on the way would. An empty file has nothing to alter."""
    first = next(chunks, None)
    if first is None:
        return
    yield (b"1" if first[:1] == b"0" else b"0") + first[1:]
    yield from chunks


def download_cid_set_file(
    sim: Simulator, caller: Participant, req: pb.DownloadCidSetFileRequest
) -> Iterator[pb.CidSetFileChunk]:
    """The file's bytes in chunks; with ``corrupt_cid_files`` (read when the download
    starts) they differ from the Sha256 GetCidSetFile announces (see ``_corrupted``)."""
    file = _file(sim, caller, req.id)
    if sim.now_us() < _ready_us(sim, file):
        raise problems.BadRequest(f"CID file {file.id} is not AVAILABLE yet")
    chunks = _file_chunks(file.cids)
    if sim.config.corrupt_cid_files:
        chunks = _corrupted(chunks)
    return (pb.CidSetFileChunk(data=chunk) for chunk in chunks)


def list_cid_set_events(
    sim: Simulator, caller: Participant, req: pb.ListCidSetEventsRequest
) -> pb.ListCidSetEventsResponse:
    own(caller, req.participant)
    kt = key_type(req.key_type)
    visible = visible_until_us(sim)
    end = optional_us(req, "end_time")
    end = visible if end is None else min(end, visible)
    start = optional_us(req, "start_time") or 0
    page = sim.state.ledger.events(caller.ispb, kt, start, end, limit(req.limit, 100, 200))
    return pb.ListCidSetEventsResponse(
        events=[pb.CidSetEvent(type=t, cid=c, timestamp=ts(at)) for at, t, c in page.events],
        has_more_elements=page.has_more,
        sync_verifier_start=page.vsync_start,
        sync_verifier_end=page.vsync_end,
    )


def get_entry_by_cid(
    sim: Simulator, caller: Participant, req: pb.GetEntryByCidRequest
) -> pb.GetEntryByCidResponse:
    if not _HEX64.fullmatch(req.cid):
        raise problems.BadRequest(
            "a CID is 64 lowercase hex digits", violations=[("cid", "pattern")]
        )
    record = sim.state.store.by_cid(caller.ispb, bytes.fromhex(req.cid))
    if record is None:
        raise problems.NotFound("no active entry of this participant has this CID")
    return pb.GetEntryByCidResponse(
        entry=extended_pb(record, open_claim_us(sim, record.key)),
        request_id=uuid_text(record.request_id),
        cid=req.cid,
    )
