"""The claim machine's tables: catching up with the DICT, and what each role owes.

Pure: no database, no DICT. The scenarios that run these tables against the
simulator are in tests/integration/claims."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.repo.claims import ClaimRow
from statemachines.claim import (
    CATCH_UP,
    DICT_STATUS,
    IN_FLIGHT,
    SPEC,
    STABLE,
    TERMINAL,
    catch_up,
    duties,
    periods,
)

DICT_STATUSES = ("OPEN", "WAITING_RESOLUTION", "CONFIRMED", "COMPLETED", "CANCELLED")
OPEN_STATUSES = (*STABLE, *IN_FLIGHT)
RESOLUTION_END = datetime(2020, 1, 17, 10, tzinfo=UTC)  # the spec's example claim


def _walk(status: str, triggers: tuple[str, ...]) -> str:
    """Where ``triggers`` take a claim in ``status``, by the declaration's edges."""
    edges = {(t, a): b for t, a, b in SPEC.edges()}
    for trigger in triggers:
        assert (trigger, status) in edges, f"{trigger!r} is not declared from {status}"
        status = edges[(trigger, status)]
    return status


@pytest.mark.parametrize("dict_status", DICT_STATUSES)
@pytest.mark.parametrize("status", SPEC.states)
def test_every_catch_up_is_a_declared_path_that_lands_on_the_dicts_status(
    status: str, dict_status: str
) -> None:
    triggers = catch_up(status, dict_status)
    if not triggers:
        return
    assert DICT_STATUS[_walk(status, triggers)] == dict_status


@pytest.mark.parametrize("dict_status", ["COMPLETED", "CANCELLED"])
@pytest.mark.parametrize("status", OPEN_STATUSES)
def test_a_final_dict_status_is_reached_from_anywhere_even_with_a_call_in_flight(
    status: str, dict_status: str
) -> None:
    assert catch_up(status, dict_status), f"{status} would never reach {dict_status}"


@pytest.mark.parametrize("dict_status", ["OPEN", "WAITING_RESOLUTION"])
@pytest.mark.parametrize("status", IN_FLIGHT)
def test_a_status_seen_while_our_call_is_in_flight_waits_for_the_call(
    status: str, dict_status: str
) -> None:
    assert catch_up(status, dict_status) == ()


def test_a_claim_never_goes_backwards() -> None:
    assert catch_up("waiting_resolution", "OPEN") == ()
    assert catch_up("confirmed", "WAITING_RESOLUTION") == ()
    assert catch_up("completed", "CONFIRMED") == ()


def test_two_different_endings_are_an_anomaly() -> None:
    assert catch_up("completed", "CANCELLED") is None
    assert catch_up("cancelled", "COMPLETED") is None


def test_the_table_names_only_known_statuses() -> None:
    assert set(CATCH_UP) <= set(SPEC.states)
    assert all(set(row) <= set(DICT_STATUSES) for row in CATCH_UP.values())
    assert set(TERMINAL) <= set(SPEC.states)


def _row(
    claim_type: str,
    role: str,
    completion_end: datetime | None = None,
    resolution_end: datetime | None = RESOLUTION_END,
) -> ClaimRow:
    return ClaimRow(
        id=uuid.uuid4(),
        role=role,
        type=claim_type,
        key="+5561988880000",
        key_type="PHONE",
        status="open",
        claimer_participant="87654321",
        claimer_account_number="1",
        claimer_account_type="CACC",
        claimer_opening_date=RESOLUTION_END,
        claimer_type="NATURAL_PERSON",
        claimer_tax_id="52998224725",
        claimer_name="Ana",
        completion_request_id=uuid.uuid4(),
        inserted_at=RESOLUTION_END,
        updated_at=RESOLUTION_END,
        resolution_period_end=resolution_end,
        completion_period_end=completion_end,
    )


def test_periods_come_from_the_dicts_resolution_period_end_alone() -> None:
    found = periods(_row("OWNERSHIP", "CLAIMER"))
    assert found is not None
    assert found.resolution_end == RESOLUTION_END
    assert found.completion_end == RESOLUTION_END + timedelta(days=7)
    assert found.day30_limit == RESOLUTION_END + timedelta(days=23)
    assert periods(_row("PORTABILITY", "DONOR", resolution_end=None)) is None


def test_a_completion_end_brought_forward_by_the_dict_is_kept() -> None:
    early = RESOLUTION_END - timedelta(days=2)
    found = periods(_row("OWNERSHIP", "CLAIMER", early))
    assert found is not None and found.completion_end == early


@pytest.mark.parametrize(
    ("claim_type", "role", "owed"),
    [
        ("PORTABILITY", "DONOR", [("ResolutionPeriodEnd", "cancel", "DEFAULT_OPERATION", 0)]),
        ("PORTABILITY", "CLAIMER", []),
        ("OWNERSHIP", "DONOR", [("ResolutionPeriodEnd", "confirm", "DEFAULT_OPERATION", 0)]),
        (
            "OWNERSHIP",
            "CLAIMER",
            [
                ("CompletionPeriodEnd", "complete", None, 7),
                ("Day30Limit", "cancel", "DEFAULT_OPERATION", 23),
            ],
        ),
    ],
)
def test_what_each_role_owes_and_when(claim_type: str, role: str, owed: list) -> None:
    found = [
        (d.name, str(d.action), d.reason and str(d.reason), (d.at - RESOLUTION_END).days)
        for d in duties(_row(claim_type, role))
    ]
    assert found == owed


def test_dict_fields_derive_creation_and_day_30_from_the_resolution_period_end() -> None:
    from actors.claims import dict_fields

    c = pb.Claim(id="c1", type="OWNERSHIP", status="OPEN", donor_participant="12345678")
    c.resolution_period_end.FromDatetime(RESOLUTION_END)
    c.last_modified.FromDatetime(RESOLUTION_END - timedelta(days=7))
    fields = dict_fields(c)
    assert fields["created_at"] == datetime(2020, 1, 10, 10, tzinfo=UTC)  # the spec's example
    assert fields["day30_limit"] == RESOLUTION_END + timedelta(days=23)
    assert fields["resolution_period_end"] == RESOLUTION_END
    assert fields["completion_period_end"] is None  # not sent: not stored as if it were
