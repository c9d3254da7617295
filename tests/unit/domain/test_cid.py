"""CIDs and VSyncs against the official vectors (DICT.md §3) and their algebra."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import uuid

import pytest

from app.domain.cid import (
    EMPTY_VSYNC,
    VSync,
    compute_cid,
    compute_cid_bytes,
    compute_vsync,
    xor_hex,
)

REQUEST_ID = "01020304-0506-0708-090a-0b0c0d0e0f10"  # bytes 1..16
OFFICIAL = (
    "PHONE",
    "+5511987654321",
    "11122233300",
    "João Silva",
    None,
    "12345678",
    "00001",
    "0007654321",
    "CACC",
)
OFFICIAL_CID = "28c06eb41c4dc9c3ae114831efcac7446c8747777fca8b145ecd31ff8480ae88"
CIDS = (
    OFFICIAL_CID,
    "4d4abb9168114e349672b934d16ed201a919cb49e28b7f66a240e62c92ee007f",
    "fce514f84f37934bc8aa0f861e4f7392273d71b9d18e8209d21e4192a7842058",
)
OFFICIAL_VSYNC = "996fc1dd3b6b14bcf0c9fe8320eb66d7e2a3fd874ccf767b2e939641b1ea8eaf"


def test_the_official_cid_vector() -> None:
    assert compute_cid(REQUEST_ID, *OFFICIAL) == OFFICIAL_CID


def test_the_raw_cid_is_32_bytes_of_the_same_value() -> None:
    raw = compute_cid_bytes(REQUEST_ID, *OFFICIAL)
    assert raw == bytes.fromhex(OFFICIAL_CID)


@pytest.mark.parametrize(
    "request_id",
    [
        uuid.UUID(REQUEST_ID),
        bytes(range(1, 17)),
        REQUEST_ID.upper(),
        "{" + REQUEST_ID + "}",
        "urn:uuid:" + REQUEST_ID,
        REQUEST_ID.replace("-", ""),
    ],
)
def test_every_spelling_of_the_request_id_gives_the_same_cid(request_id) -> None:
    assert compute_cid(request_id, *OFFICIAL) == OFFICIAL_CID


@pytest.mark.parametrize("request_id", ["not-a-uuid", "0102", REQUEST_ID[:-1] + "g", b"\x01" * 15])
def test_a_bad_request_id_is_refused(request_id) -> None:
    with pytest.raises(ValueError):
        compute_cid(request_id, *OFFICIAL)


def test_a_missing_attribute_is_written_empty() -> None:
    """TradeName None and "" hash alike; so does a missing branch, with no padding."""
    key = uuid.UUID(REQUEST_ID).bytes
    message = "PHONE&+5511987654321&11122233300&João Silva&&12345678&&0007654321&CACC"
    expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    attrs = list(OFFICIAL)
    attrs[6] = None
    assert compute_cid(REQUEST_ID, *attrs) == expected
    attrs[6] = ""
    assert compute_cid(REQUEST_ID, *attrs) == expected


def test_values_are_used_exactly_as_registered() -> None:
    attrs = list(OFFICIAL)
    attrs[6] = "1"  # branch 1, not 00001
    assert compute_cid(REQUEST_ID, *attrs) != OFFICIAL_CID


@pytest.mark.parametrize("position", range(len(OFFICIAL)))
def test_every_attribute_changes_the_cid(position) -> None:
    attrs = list(OFFICIAL)
    attrs[position] = (attrs[position] or "") + "x"
    assert compute_cid(REQUEST_ID, *attrs) != OFFICIAL_CID


def test_the_request_id_keys_the_cid() -> None:
    assert compute_cid(str(uuid.UUID(int=1)), *OFFICIAL) != OFFICIAL_CID


def test_the_official_vsync_vector() -> None:
    assert compute_vsync(CIDS) == OFFICIAL_VSYNC


def test_a_vsync_ignores_order() -> None:
    for order in itertools.permutations(CIDS):
        assert compute_vsync(order) == OFFICIAL_VSYNC


def test_the_empty_vsync_is_64_zeros_not_the_sha256_of_nothing() -> None:
    assert compute_vsync([]) == EMPTY_VSYNC == "0" * 64
    assert VSync().hex == EMPTY_VSYNC
    assert hashlib.sha256(b"").hexdigest() != EMPTY_VSYNC


def test_a_vsync_accepts_raw_and_upper_case_cids() -> None:
    assert compute_vsync([bytes.fromhex(c) for c in CIDS]) == OFFICIAL_VSYNC
    assert compute_vsync([c.upper() for c in CIDS]) == OFFICIAL_VSYNC


@pytest.mark.parametrize(
    "cid",
    [
        "0x" + OFFICIAL_CID[2:],  # int(s, 16) would take it
        "-" + OFFICIAL_CID[1:],
        "_".join([OFFICIAL_CID[:32], OFFICIAL_CID[33:]]),
        OFFICIAL_CID[:-1],
        OFFICIAL_CID + "0",
        "g" * 64,
        " " + OFFICIAL_CID[1:],
        bytes(31),
    ],
)
def test_anything_but_a_cid_is_refused(cid) -> None:
    with pytest.raises(ValueError):
        compute_vsync([cid])
    with pytest.raises(ValueError):
        VSync().add(cid)


def test_adding_and_removing_are_single_xors() -> None:
    vsync = VSync()
    for cid in CIDS:
        vsync.add(cid)
    assert vsync.hex == OFFICIAL_VSYNC
    vsync.remove(CIDS[1])
    assert vsync.hex == compute_vsync([CIDS[0], CIDS[2]])
    vsync.remove(CIDS[0])
    vsync.remove(CIDS[2])
    assert vsync.hex == EMPTY_VSYNC


def test_an_update_removes_the_old_cid_and_adds_the_new() -> None:
    vsync = VSync(OFFICIAL_VSYNC)
    attrs = list(OFFICIAL)
    attrs[6] = "0042"
    new_cid = compute_cid(REQUEST_ID, *attrs)
    vsync.remove(OFFICIAL_CID)
    vsync.add(new_cid)
    assert vsync.hex == compute_vsync([new_cid, CIDS[1], CIDS[2]])


def test_a_vsync_keeps_its_leading_zeros() -> None:
    small = "00" * 31 + "0f"
    vsync = VSync(small)
    assert vsync.hex == small and len(vsync.hex) == 64
    vsync.add(CIDS[0])
    vsync.remove(CIDS[0])
    assert vsync.hex == small
    assert compute_vsync([small]) == small


def test_vsyncs_compare_by_value() -> None:
    assert VSync(OFFICIAL_VSYNC) == VSync(OFFICIAL_VSYNC.upper())
    assert VSync(OFFICIAL_VSYNC) != VSync()
    assert repr(VSync()) == f"VSync('{EMPTY_VSYNC}')"


def test_xor_hex() -> None:
    assert xor_hex(CIDS[0], CIDS[0]) == EMPTY_VSYNC
    assert xor_hex(CIDS[0], EMPTY_VSYNC) == CIDS[0]
    assert xor_hex(xor_hex(CIDS[0], CIDS[1]), CIDS[2]) == OFFICIAL_VSYNC
