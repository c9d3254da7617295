"""Refund requests on the simulated DICT: the SPI's transactions they name (admin
AddTransaction), the homologation's virtual payer 99999003, the windows as settings, the
list's lag, the buckets drawn and the state kept across a restart. The DICT's rules
themselves are ``tests/conformance/test_refunds.py``."""

from __future__ import annotations

import pickle
from datetime import timedelta
from pathlib import Path

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from simulator import persistence
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from simulator.state import DictState, Simulator
from tests.conformance.refund_driver import (
    close,
    create,
    listing,
    now,
    opened,
    pay,
    report,
    transaction_id,
)
from tests.integration.bridge.builders import OTHER, OURS

VIRTUAL_PAYER = "99999003"


def test_transactions_are_recorded_once_and_listed_by_settlement(admin: AdminClient) -> None:
    later = admin.add_transaction(transaction_id(2), OURS, OTHER, "7", now(admin))
    first = admin.add_transaction(
        transaction_id(1), OTHER, OURS, "10.5", now(admin) - timedelta(days=1)
    )
    assert (first.amount, later.amount) == ("10.50", "7.00")  # as the DICT writes amounts
    assert admin.add_transaction(transaction_id(1), OTHER, OURS, "10.50") == first  # a repeat
    with pytest.raises(problems.BadRequest):  # the same id, another transaction
        admin.add_transaction(transaction_id(1), OTHER, OURS, "11.00")
    assert [t.end_to_end_id for t in admin.list_transactions()] == [
        transaction_id(1),
        transaction_id(2),
    ]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("E123", OURS, OTHER, "1.00"), "end_to_end_id"),
        ((transaction_id(), OURS, OURS, "1.00"), "payee_participant"),
        ((transaction_id(), "1234", OTHER, "1.00"), "payer_participant"),
        ((transaction_id(), OURS, OTHER, "0.00"), "amount"),
        ((transaction_id(), OURS, OTHER, "1.234"), "amount"),
    ],
)
def test_a_transaction_needs_valid_fields(
    admin: AdminClient, args: tuple[str, str, str, str], field: str
) -> None:
    with pytest.raises(problems.BadRequest) as caught:
        admin.add_transaction(*args)
    assert field in {f for f, _ in caught.value.violations}


def test_the_virtual_payer_opens_one_request_per_reason_for_the_participant_to_close(
    ours: DictClient, admin: AdminClient
) -> None:
    """IN BCB 508, refund tests iii and iv: complete the requests of both reasons that the
    virtual payer PSP 99999003 opened."""
    flaw, fraud = admin.open_virtual_payer_refunds(OURS, "250.00")
    assert [(r.refund_reason, r.status) for r in (flaw, fraud)] == [
        ("OPERATIONAL_FLAW", "OPEN"),
        ("FRAUD", "OPEN"),
    ]
    for r in (flaw, fraud):
        assert (r.requesting_participant, r.contested_participant) == (VIRTUAL_PAYER, OURS)
        assert r.refund_amount == "250.00"
    assert flaw.refund_details and not flaw.infraction_report_id
    request = pb.GetInfractionReportRequest(id=fraud.infraction_report_id)
    agreed = ours.get_infraction_report(request).report
    assert (agreed.status, agreed.analysis_result) == ("CLOSED", "AGREED")
    assert (agreed.transaction_id, agreed.reporter_participant) == (
        fraud.transaction_id,
        VIRTUAL_PAYER,
    )
    paid = {t.end_to_end_id: t for t in admin.list_transactions()}
    for r in (flaw, fraud):
        tx = paid[r.transaction_id]
        assert (tx.payer_participant, tx.payee_participant, tx.amount) == (
            VIRTUAL_PAYER,
            OURS,
            "250.00",
        )
    assert VIRTUAL_PAYER in {p.ispb for p in admin.list_participants()}

    waiting = listing(ours, "CONTESTED", status=["OPEN"]).refunds
    assert [r.id for r in waiting] == [flaw.id, fraud.id]
    closed_flaw = close(ours, flaw)  # ours is the contested PSP here
    closed_fraud = close(ours, fraud, "REJECTED", rejection="NO_BALANCE")
    assert (closed_flaw.status, closed_fraud.status) == ("CLOSED", "CLOSED")
    assert listing(ours, "CONTESTED", status=["OPEN"]).refunds == []


def test_the_virtual_payer_pays_anew_each_time(admin: AdminClient) -> None:
    first = admin.open_virtual_payer_refunds(OTHER)
    again = admin.open_virtual_payer_refunds(OTHER)
    assert first[0].refund_amount == "100.00"  # the default amount
    ids = {r.transaction_id for r in first + again}
    assert len(ids) == 4 and all(len(i) == 32 and i.startswith("E99999003") for i in ids)


def test_the_virtual_payer_needs_a_known_participant_other_than_itself(
    admin: AdminClient,
) -> None:
    with pytest.raises(problems.ParticipantInvalid):
        admin.open_virtual_payer_refunds("11112222")
    with pytest.raises(problems.BadRequest):
        admin.open_virtual_payer_refunds(VIRTUAL_PAYER)
    with pytest.raises(problems.BadRequest):
        admin.open_virtual_payer_refunds(OURS, "abc")


def test_the_refund_windows_are_settings_with_the_spec_s_defaults(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    config = admin.get_config()
    assert (config.fraud_refund_window_hours, config.operational_flaw_refund_window_days) == (
        72,
        90,
    )
    admin.set_config(fraud_refund_window_hours=1, operational_flaw_refund_window_days=2)
    fraud_tx, flaw_tx = pay(admin, 1), pay(admin, 2)
    report(ours, theirs, fraud_tx)
    admin.advance_clock(2 * 86_400 + 1)
    with pytest.raises(problems.RefundPeriodExpired):
        ours.create_refund(create(fraud_tx))
    with pytest.raises(problems.RefundPeriodExpired):
        ours.create_refund(create(flaw_tx, "OPERATIONAL_FLAW"))
    restored = admin.set_config(fraud_refund_window_hours=0, operational_flaw_refund_window_days=0)
    assert (restored.fraud_refund_window_hours, restored.operational_flaw_refund_window_days) == (
        72,
        90,
    )  # 0 is proto3's "unset": the spec's windows
    assert ours.create_refund(create(fraud_tx)).refund.status == "OPEN"


def test_the_list_lags_recent_writes(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    admin.set_config(list_lag_seconds=5)
    opened(ours, theirs, admin)
    assert listing(ours, "REQUESTING").refunds == []
    admin.advance_clock(5)
    assert len(listing(ours, "REQUESTING").refunds) == 1


def test_limit_defaults_to_20_and_is_refused_above_200(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    for n in range(22):
        opened(ours, theirs, admin, "OPERATIONAL_FLAW", n=n + 1)
    assert len(listing(theirs, "CONTESTED").refunds) == 20
    page = listing(theirs, "CONTESTED", limit=200)
    assert len(page.refunds) == 22 and not page.has_more_elements
    for bad in (-1, 201):
        with pytest.raises(problems.BadRequest):
            listing(theirs, "CONTESTED", limit=bad)


def _tokens(client: DictClient, policy: str) -> pb.BucketState:
    request = pb.GetBucketStateRequest(participant=client.participant, policy=policy)
    return client.get_bucket_state(request).policy


def test_refund_calls_draw_on_the_refund_policies(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """The policy table (DICT.md §4): REFUNDS_WRITE for create, close and cancel,
    REFUNDS_READ for get, the list's WITH_ROLE / WITHOUT_ROLE as it filters by role."""
    refund = opened(ours, theirs, admin)
    ours.get_refund(pb.GetRefundRequest(refund_id=refund.id))
    listing(ours, "REQUESTING")
    for policy in ("REFUNDS_WRITE", "REFUNDS_READ", "REFUNDS_LIST_WITH_ROLE"):
        state = _tokens(ours, policy)
        assert state.available_tokens < state.capacity, policy
    untouched = _tokens(ours, "REFUNDS_LIST_WITHOUT_ROLE")
    assert untouched.available_tokens == untouched.capacity == 50
    with pytest.raises(problems.BadRequest):  # ParticipantRole is required: still a call
        ours.list_refunds(pb.ListRefundsRequest(participant=OURS))
    assert _tokens(ours, "REFUNDS_LIST_WITHOUT_ROLE").available_tokens < 50
    close(theirs, refund)
    closing = _tokens(theirs, "REFUNDS_WRITE")
    assert closing.available_tokens < closing.capacity


def test_refunds_and_transactions_are_saved_with_the_state(
    sim: SimulatorHandle, ours: DictClient, theirs: DictClient, admin: AdminClient, tmp_path: Path
) -> None:
    refund = opened(ours, theirs, admin)
    persistence.save(sim.simulator, str(tmp_path))
    restarted = Simulator()
    assert persistence.load(restarted, str(tmp_path))
    assert restarted.state.refunds[refund.id].to_pb() == refund
    assert refund.transaction_id in restarted.state.transactions


def test_a_state_saved_before_refunds_loads_without_them(tmp_path: Path) -> None:
    old = DictState()
    del old.refunds, old.transactions  # as a snapshot from before they existed
    snapshot = {"state": old, "offset_seconds": 0.0, "participants": {}, "config": None}
    (tmp_path / persistence.FILE).write_bytes(pickle.dumps(snapshot))
    restarted = Simulator()
    assert persistence.load(restarted, str(tmp_path))
    assert (restarted.state.refunds, restarted.state.transactions) == ({}, {})
