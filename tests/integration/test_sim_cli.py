"""``dict-connect sim``: driving the simulated DICT as the other participant.

The commands run in process (``app.cli.main``) against a simulator in a thread, as a
user runs them against the one ``dict-connect dev`` starts. No database or Redis.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.cli import main
from app.dev import child_env, prepare_clock_file
from app.domain import problems
from app.domain.fixtures import make_cpf
from simulator.admin_client import AdminClient
from simulator.ctl import duration
from simulator.server import SimulatorHandle

OURS, OTHER = "12345678", "87654321"
DAY = 86_400
OUR_KEY = "+5561988880000"
THEIR_KEY = "+5561977770000"
MARIA = make_cpf(1)


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    path = tmp_path / "clock-offset"
    path.write_text("0\n")
    return path


class Sim:
    """``dict-connect sim ...`` in process: exit status, stdout, stderr."""

    def __init__(self, address: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.address, self.capsys = address, capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        try:
            code = main(["sim", *argv, "--simulator", self.address])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def ok(self, *argv: str) -> str:
        code, out, err = self(*argv)
        assert code == 0, err
        assert not err
        return out

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "--json"))


@pytest.fixture
def run(sim: SimulatorHandle, capsys: pytest.CaptureFixture[str]) -> Sim:
    return Sim(sim.address, capsys)


def our_key(ours: DictClient, key: str = OUR_KEY) -> None:
    """A phone key of ours, registered the way our worker registers it."""
    account = pb.Account(participant=OURS, branch="1", account_number="123456")
    account.account_type = "CACC"
    account.opening_date.FromJsonString("2020-03-01T03:00:00Z")
    owner = pb.Owner(type="NATURAL_PERSON", tax_id_number=MARIA, name="Maria da Silva")
    entry = pb.Entry(key_type="PHONE", key=key, account=account, owner=owner)
    ours.create_entry(
        pb.CreateEntryRequest(entry=entry, reason="USER_REQUESTED", request_id=str(uuid.uuid4()))
    )


def open_on_our_key(run: Sim, claim_type: str = "OWNERSHIP") -> str:
    tax_id = make_cpf(2) if claim_type == "OWNERSHIP" else MARIA
    claim = run.json(
        *("claim", "open", "--key", OUR_KEY, "--type", claim_type),
        *("--tax-id", tax_id, "--name", "Joana Pereira"),
    )
    assert claim["status"] == "OPEN" and claim["claimer_account"]["participant"] == OTHER
    return str(claim["id"])


def status(run: Sim, claim_id: str) -> str:
    return str(run.json("claim", "show", claim_id)["status"])


# --- entries -------------------------------------------------------------------------


def test_entry_put_registers_a_key_at_the_other_psp_with_short_defaults(
    run: Sim, admin: AdminClient
) -> None:
    out = run.ok("entry", "put", "--key", THEIR_KEY, "--tax-id", MARIA, "--name", "Maria da Silva")
    assert f"{OTHER} registered PHONE {THEIR_KEY}" in out
    assert f"NATURAL_PERSON {MARIA} Maria da Silva" in out
    assert f"{OTHER} branch 1 account 4242 CACC" in out
    assert admin.get_vsync(OTHER, "PHONE").count == 1
    assert admin.get_vsync(OURS, "PHONE").count == 0
    request_id = out.split("RequestId ")[1].split(")")[0]
    assert admin.get_call_counts(request_id).entries_created == 1
    calls = run.ok("calls", "--request-id", request_id)
    assert "CreateEntry" in calls and "entries created with it: 1" in calls


def test_the_other_psps_key_can_then_be_claimed_by_our_customer(run: Sim, ours: DictClient) -> None:
    run.ok("entry", "put", "--key", THEIR_KEY, "--tax-id", MARIA, "--name", "Maria da Silva")
    account = pb.Account(participant=OURS, branch="1", account_number="123456")
    account.account_type = "CACC"
    account.opening_date.FromJsonString("2020-03-01T03:00:00Z")
    owner = pb.Owner(type="NATURAL_PERSON", tax_id_number=MARIA, name="Maria da Silva")
    claim = ours.create_claim(
        pb.CreateClaimRequest(
            type="PORTABILITY",
            key=THEIR_KEY,
            key_type="PHONE",
            claimer_account=account,
            claimer=owner,
        )
    ).claim
    listed = run.ok("claim", "list")
    assert claim.id in listed and "OPEN" in listed and "PORTABILITY" in listed
    assert run.json("claim", "list", "--role", "claimer") == []
    # the other PSP, as donor, acknowledges and confirms; our side completes
    assert "now WAITING_RESOLUTION" in run.ok("claim", "acknowledge", claim.id)
    out = run.ok("claim", "confirm", claim.id)
    assert "now CONFIRMED" in out and "confirmed with USER_REQUESTED" in out
    ours.complete_claim(
        pb.CompleteClaimRequest(claim_id=claim.id, participant=OURS, request_id=str(uuid.uuid4()))
    )
    assert status(run, claim.id) == "COMPLETED"


def test_entry_delete_removes_the_other_psps_key(run: Sim, admin: AdminClient) -> None:
    run.ok("entry", "put", "--key", THEIR_KEY, "--tax-id", MARIA, "--name", "Maria da Silva")
    assert f"{OTHER} deleted {THEIR_KEY}" in run.ok("entry", "delete", "--key", THEIR_KEY)
    assert admin.get_vsync(OTHER, "PHONE").count == 0


# --- claims on our keys --------------------------------------------------------------


def test_the_other_psp_claims_our_key_and_sees_its_status_change(
    run: Sim, ours: DictClient
) -> None:
    our_key(ours)
    claim_id = open_on_our_key(run)
    shown = run.ok("claim", "show", claim_id)
    assert f"claim {claim_id}  OWNERSHIP  OPEN" in shown
    assert f"donor      {OURS}" in shown
    assert "resolution period ends" in shown and "completion period ends" in shown
    # as our stack does (here by hand, --as us): acknowledge, then confirm when allowed
    out = run.ok("claim", "acknowledge", claim_id, "--as", OURS)
    assert f"{OURS} acknowledged claim {claim_id}: now WAITING_RESOLUTION" in out
    assert status(run, claim_id) == "WAITING_RESOLUTION"
    listed = run.ok("claim", "list", "--status", "WAITING_RESOLUTION")
    assert claim_id in listed and f"donor {OURS}  claimer {OTHER}" in listed


def test_an_illegal_call_prints_the_dict_problem_and_exits_1(run: Sim, ours: DictClient) -> None:
    our_key(ours)
    claim_id = open_on_our_key(run)
    run.ok("claim", "acknowledge", claim_id, "--as", OURS)
    code, out, err = run(
        "claim", "confirm", claim_id, "--as", OURS, "--reason", "DEFAULT_OPERATION"
    )
    assert code == 1 and not out
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("dict-connect sim: ClaimResolutionPeriodNotEnded: ")
    assert "DEFAULT_OPERATION only after ResolutionPeriodEnd" in err
    code, _, err = run("claim", "acknowledge", claim_id)  # the claimer is not the donor
    assert code == 1 and err.startswith("dict-connect sim: Forbidden: ")
    code, _, err = run("claim", "show", str(uuid.uuid4()))
    assert code == 1 and err.startswith("dict-connect sim: NotFound: ")


def test_an_ownership_claim_through_its_periods(
    run: Sim, ours: DictClient, clock_file: Path
) -> None:
    our_key(ours)
    claim_id = open_on_our_key(run)
    run.ok("claim", "acknowledge", claim_id, "--as", OURS)
    run.ok("advance", "7d", "--clock-file", str(clock_file))
    out = run.ok("claim", "confirm", claim_id, "--as", OURS, "--reason", "DEFAULT_OPERATION")
    assert "now CONFIRMED" in out and "confirmed with DEFAULT_OPERATION" in out
    code, _, err = run("claim", "complete", claim_id)
    assert code == 1 and "ClaimCompletionPeriodNotEnded" in err
    run.ok("advance", "7d", "--clock-file", str(clock_file))
    claim = run.json("claim", "complete", claim_id)
    assert claim["status"] == "COMPLETED" and uuid.UUID(claim["request_id"])


def test_the_claimer_cancels(run: Sim, ours: DictClient) -> None:
    our_key(ours)
    claim_id = open_on_our_key(run, "PORTABILITY")
    out = run.ok("claim", "cancel", claim_id, "--reason", "USER_REQUESTED")
    assert "now CANCELLED" in out and "cancelled by CLAIMER with USER_REQUESTED" in out
    assert status(run, claim_id) == "CANCELLED"


# --- the SPI's transactions ------------------------------------------------------------

PAYMENT = f"E{OURS}202612031200abcdefghijk"


def _report(transaction_id: str) -> pb.CreateInfractionReportRequest:
    return pb.CreateInfractionReportRequest(
        participant=OURS,
        transaction_id=transaction_id,
        reason="REFUND_REQUEST",
        situation_type="SCAM",
        contact_information=pb.ContactInformation(
            email="med@banco.example", phone="+5561900000000"
        ),
    )


def test_add_transaction_lets_our_bank_report_a_payment_of_its_customer(
    run: Sim, ours: DictClient, admin: AdminClient
) -> None:
    """The homologation's MED step needs a report of ours to open: the DICT refuses one on
    a transaction the SPI never settled, and the dev simulator learns them from this."""
    with pytest.raises(problems.InfractionReportTransactionNotFound):
        ours.create_infraction_report(_report(PAYMENT))
    out = run.ok("add-transaction", PAYMENT)
    assert out.startswith(f"transaction {PAYMENT}: {OURS} paid {OTHER} 100.00, settled ")
    report = ours.create_infraction_report(_report(PAYMENT)).report
    assert (report.status, report.counterparty_participant) == ("OPEN", OTHER)
    (tx,) = admin.list_transactions()
    assert (tx.payer_participant, tx.payee_participant, tx.amount) == (OURS, OTHER, "100.00")


def test_add_transaction_takes_the_parties_amount_and_settlement(run: Sim) -> None:
    theirs = f"E{OTHER}202612031200abcdefghijk"
    shown = run.json(
        "add-transaction", theirs, "--payer", OTHER, "--payee", OURS, "--amount", "250.5",
        "--settled-at", "2026-12-01T12:00:00Z", "--pix-automatico",
    )  # fmt: skip
    assert (shown["payer_participant"], shown["payee_participant"]) == (OTHER, OURS)
    assert (shown["amount"], shown["settled_at"]) == ("250.50", "2026-12-01T12:00:00Z")
    assert shown["pix_automatico"] is True
    code, _, err = run("add-transaction", theirs, "--payer", OTHER, "--payee", OURS)
    assert code == 1 and err.startswith("dict-connect sim: BadRequest: ")  # recorded otherwise
    code, _, err = run("add-transaction", "E123")
    assert code == 1 and "end_to_end_id: pattern" in err


# --- infraction reports and refund requests, as the other PSP -------------------------

THEIR_PAYMENT = f"E{OTHER}202612031200abcdefghijk"
RETURN = f"D{OTHER}20261203150000000000001"
"""The pacs.004 that returned the funds: its RtrId (32 characters)."""


def _dict_id(line: str, noun: str) -> str:
    """The DICT's id in a command's line (``... infraction report ID ...``, ``refund ID``)."""
    return line.split(f"{noun} ", 1)[1].split()[0].rstrip(":")


def _tokens(client: DictClient, policy: str) -> int:
    request = pb.GetBucketStateRequest(participant=client.participant, policy=policy)
    return client.get_bucket_state(request).policy.available_tokens


def test_report_open_reports_us_on_their_payment_as_any_call_of_theirs(
    run: Sim, ours: DictClient, theirs: DictClient
) -> None:
    """Homologation step 6 as counterparty: the other PSP reports a payment of theirs to
    ours. A real CreateInfractionReport as 87654321: its bucket pays, ours does not."""
    run.ok("add-transaction", THEIR_PAYMENT, "--payer", OTHER, "--payee", OURS)
    write = "INFRACTION_REPORTS_WRITE"
    theirs_before, ours_before = _tokens(theirs, write), _tokens(ours, write)
    out = run.ok("report", "open", THEIR_PAYMENT)
    assert out.count("\n") == 1
    assert out.startswith(f"{OTHER} reported {OURS}: infraction report ")
    assert out.endswith(f" REFUND_REQUEST SCAM OPEN (transaction {THEIR_PAYMENT})\n")
    assert _tokens(theirs, write) < theirs_before and _tokens(ours, write) == ours_before
    got = ours.get_infraction_report(pb.GetInfractionReportRequest(id=_dict_id(out, "report")))
    report = got.report
    assert (report.reporter_participant, report.counterparty_participant) == (OTHER, OURS)
    contact = report.contact_information
    assert (contact.email, contact.phone) == ("med@outro.example", "+5511977776666")
    assert "CreateInfractionReport" in run.ok("calls")


def test_report_open_takes_the_reports_fields_and_cancel_withdraws_it(run: Sim) -> None:
    run.ok("add-transaction", THEIR_PAYMENT, "--payer", OTHER, "--payee", OURS)
    shown = run.json(
        "report", "open", THEIR_PAYMENT, "--situation", "OTHER", "--details", "golpe do PIX",
        "--email", "fraude@outro.example", "--phone", "+5511955554444",
    )  # fmt: skip
    assert (shown["situation_type"], shown["report_details"]) == ("OTHER", "golpe do PIX")
    assert shown["contact_information"] == {
        "email": "fraude@outro.example",
        "phone": "+5511955554444",
    }
    out = run.ok("report", "cancel", shown["id"])
    assert out == (
        f"{OTHER} cancelled infraction report {shown['id']}: now CANCELLED "
        f"(transaction {THEIR_PAYMENT})\n"
    )


def test_the_other_psp_acknowledges_and_closes_our_report_and_we_cancel_it(
    run: Sim, ours: DictClient
) -> None:
    """Homologation step 6 as reporter: the counterparty's part, then our cancel."""
    run.ok("add-transaction", PAYMENT)
    dict_id = ours.create_infraction_report(_report(PAYMENT)).report.id
    out = run.ok("report", "acknowledge", dict_id)
    assert out == (
        f"{OTHER} acknowledged infraction report {dict_id}: now ACKNOWLEDGED "
        f"(transaction {PAYMENT})\n"
    )
    out = run.ok(
        "report", "close", dict_id, "--result", "AGREED", "--fraud-type", "SCAMMER_ACCOUNT"
    )
    assert out.startswith(f"{OTHER} closed infraction report {dict_id}: now CLOSED ")
    assert f"(transaction {PAYMENT}, AGREED, fraud marker " in out
    report = ours.get_infraction_report(pb.GetInfractionReportRequest(id=dict_id)).report
    assert (report.status, report.analysis_result) == ("CLOSED", "AGREED")
    assert report.fraud_marker_id
    out = run.ok("report", "cancel", dict_id, "--as", OURS)
    assert out.startswith(f"{OURS} cancelled infraction report {dict_id}: now CANCELLED ")


def test_report_close_disagreeing_with_details(run: Sim, ours: DictClient) -> None:
    run.ok("add-transaction", PAYMENT)
    dict_id = ours.create_infraction_report(_report(PAYMENT)).report.id
    run.ok("report", "acknowledge", dict_id)
    shown = run.json(
        "report", "close", dict_id, "--result", "DISAGREED", "--details", "conta legítima"
    )
    assert (shown["status"], shown["analysis_result"]) == ("CLOSED", "DISAGREED")
    assert shown["analysis_details"] == "conta legítima" and "fraud_marker_id" not in shown


def test_a_refused_report_call_prints_the_dict_problem_and_exits_1(
    run: Sim, ours: DictClient
) -> None:
    code, out, err = run("report", "open", THEIR_PAYMENT)  # the SPI never settled it
    assert code == 1 and not out and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("dict-connect sim: InfractionReportTransactionNotFound: ")
    run.ok("add-transaction", PAYMENT)
    dict_id = ours.create_infraction_report(_report(PAYMENT)).report.id
    code, _, err = run("report", "close", dict_id, "--result", "AGREED")
    assert code == 1 and err.startswith("dict-connect sim: InfractionReportOperationInvalid: ")
    run.ok("report", "acknowledge", dict_id)
    code, out, err = run("report", "close", dict_id, "--result", "AGREED")  # no fraud type
    assert code == 1 and not out and err.count("\n") == 1
    assert err.startswith("dict-connect sim: InfractionReportInvalid: ")
    assert "fraud_type: required_when_agreed" in err
    code, _, err = run("report", "cancel", dict_id)  # only the reporter cancels
    assert code == 1 and err.startswith("dict-connect sim: Forbidden: ")


def test_refund_open_asks_us_back_and_cancel_withdraws_it(
    run: Sim, ours: DictClient, theirs: DictClient
) -> None:
    run.ok(
        "add-transaction", THEIR_PAYMENT, "--payer", OTHER, "--payee", OURS, "--amount", "250.00"
    )
    before = _tokens(theirs, "REFUNDS_WRITE")
    out = run.ok(
        "refund", "open", THEIR_PAYMENT, "--amount", "100.00", "--reason", "OPERATIONAL_FLAW",
        "--details", "enviado em duplicidade",
    )  # fmt: skip
    assert out.count("\n") == 1
    assert out.startswith(f"{OTHER} asked {OURS} for 100.00 back: refund ")
    assert out.endswith(f" OPERATIONAL_FLAW OPEN (transaction {THEIR_PAYMENT})\n")
    assert _tokens(theirs, "REFUNDS_WRITE") < before
    dict_id = _dict_id(out, "refund")
    (listed,) = ours.list_refunds(
        pb.ListRefundsRequest(participant=OURS, participant_role="CONTESTED", limit=10)
    ).refunds
    assert (listed.id, listed.status, listed.refund_amount) == (dict_id, "OPEN", "100.00")
    out = run.ok("refund", "cancel", dict_id)
    assert (
        out == f"{OTHER} cancelled refund {dict_id}: now CANCELLED (transaction {THEIR_PAYMENT})\n"
    )


def test_refund_open_for_fraud_after_their_report_we_agreed_with(run: Sim) -> None:
    """The other PSP's fraud flow against us: its report, our AGREED close (--as us), then
    its FRAUD request, tied to that report."""
    run.ok("add-transaction", THEIR_PAYMENT, "--payer", OTHER, "--payee", OURS)
    report_id = run.json("report", "open", THEIR_PAYMENT)["id"]
    run.ok("report", "acknowledge", report_id, "--as", OURS)
    run.ok(
        "report",
        "close",
        report_id,
        "--as",
        OURS,
        "--result",
        "AGREED",
        "--fraud-type",
        "MULE_ACCOUNT",
    )
    shown = run.json("refund", "open", THEIR_PAYMENT, "--amount", "100.00", "--reason", "FRAUD")
    assert (shown["refund_reason"], shown["status"]) == ("FRAUD", "OPEN")
    assert shown["infraction_report_id"] == report_id


@pytest.mark.parametrize(
    ("argv", "tail"),
    [
        (
            ("--result", "TOTALLY_ACCEPTED", "--refund-transaction-id", RETURN),
            f"TOTALLY_ACCEPTED, refund transaction {RETURN})",
        ),
        (
            (
                "--result",
                "PARTIALLY_ACCEPTED",
                "--refund-transaction-id",
                RETURN,
                "--refunded-amount",
                "40.00",
                "--details",
                "saldo parcial",
            ),
            f"PARTIALLY_ACCEPTED, refund transaction {RETURN})",
        ),
        (("--result", "REJECTED", "--rejection-reason", "NO_BALANCE"), "REJECTED NO_BALANCE)"),
    ],
    ids=["totally", "partially", "rejected"],
)
def test_the_other_psp_closes_our_refund_request(
    run: Sim, ours: DictClient, argv: tuple[str, ...], tail: str
) -> None:
    """Homologation step 7, our requests: the contested PSP's part."""
    run.ok("add-transaction", PAYMENT)
    refund = ours.create_refund(
        pb.CreateRefundRequest(
            participant=OURS, transaction_id=PAYMENT, refund_reason="OPERATIONAL_FLAW",
            refund_amount="100.00", refund_details="enviado em duplicidade",
        )
    ).refund  # fmt: skip
    out = run.ok("refund", "close", refund.id, *argv)
    assert out == f"{OTHER} closed refund {refund.id}: now CLOSED (transaction {PAYMENT}, {tail}\n"
    got = ours.get_refund(pb.GetRefundRequest(refund_id=refund.id)).refund
    assert (got.status, got.analysis_result) == ("CLOSED", argv[1])


def test_a_refused_refund_call_prints_the_dict_problem_and_exits_1(run: Sim) -> None:
    run.ok("add-transaction", THEIR_PAYMENT, "--payer", OTHER, "--payee", OURS)
    code, out, err = run(
        "refund", "open", THEIR_PAYMENT, "--amount", "100.00", "--reason", "OPERATIONAL_FLAW"
    )
    assert code == 1 and not out and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("dict-connect sim: RefundInvalid: ")
    assert "refund_details: required_for_operational_flaw" in err
    code, _, err = run("refund", "open", THEIR_PAYMENT, "--amount", "100.00", "--reason", "FRAUD")
    assert code == 1 and err.startswith("dict-connect sim: RefundInfractionReportNotFound: ")
    code, _, err = run("refund", "close", str(uuid.uuid4()), "--result", "REJECTED")
    assert code == 1 and err.startswith("dict-connect sim: NotFound: ")


# --- the homologation's virtual payer ---------------------------------------------------

VIRTUAL_PAYER = "99999003"


def test_virtual_payer_refunds_asks_us_for_both_reasons_to_close(
    run: Sim, ours: DictClient
) -> None:
    """Homologation step 7: 99999003 asks us back for an operational flaw and a fraud; our
    stack learns both from its refund poll (here: the DICT's list, as contested)."""
    out = run.ok("virtual-payer-refunds", "--participant", OURS, "--amount", "250.00")
    lines = out.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{VIRTUAL_PAYER} asked {OURS} for 250.00 back: ") for line in lines)
    assert " OPERATIONAL_FLAW OPEN " in lines[0] and " FRAUD OPEN " in lines[1]
    listed = ours.list_refunds(
        pb.ListRefundsRequest(participant=OURS, participant_role="CONTESTED", limit=10)
    ).refunds
    assert {r.id for r in listed} == {line.split(" refund ")[1].split()[0] for line in lines}
    assert {r.refund_reason for r in listed} == {"OPERATIONAL_FLAW", "FRAUD"}
    fraud = next(r for r in listed if r.refund_reason == "FRAUD")
    assert fraud.infraction_report_id  # the AGREED report the virtual payer prepared


def test_virtual_payer_refunds_defaults_to_us_and_prints_json(run: Sim) -> None:
    shown = run.json("virtual-payer-refunds")
    assert [r["refund_reason"] for r in shown] == ["OPERATIONAL_FLAW", "FRAUD"]
    assert {r["contested_participant"] for r in shown} == {OURS}
    assert {r["requesting_participant"] for r in shown} == {VIRTUAL_PAYER}
    assert {r["refund_amount"] for r in shown} == {"100.00"}
    assert {r["status"] for r in shown} == {"OPEN"}


def test_virtual_payer_refunds_refuses_an_unknown_participant_and_a_bad_amount(run: Sim) -> None:
    code, out, err = run("virtual-payer-refunds", "--participant", "11112222")
    assert code == 1 and not out and err.startswith("dict-connect sim: ParticipantInvalid")
    code, _, err = run("virtual-payer-refunds", "--participant", VIRTUAL_PAYER)
    assert code == 1 and err.startswith("dict-connect sim: BadRequest: ")
    code, _, err = run("virtual-payer-refunds", "--amount", "abc")
    assert code == 1 and "amount: positive_amount" in err and err.count("\n") == 1


# --- clocks ----------------------------------------------------------------------------


def test_advance_moves_the_simulators_clock_and_adds_to_our_clock_file(
    run: Sim, admin: AdminClient, clock_file: Path
) -> None:
    clock_file.write_text("100\n")
    out = run.ok("advance", "7d", "--clock-file", str(clock_file))
    assert out.startswith("moved both clocks by +7d")
    assert float(clock_file.read_text()) == 100 + 7 * DAY
    assert admin.get_clock().offset_seconds == pytest.approx(7 * DAY)
    run.ok("advance", "12h", "--clock-file", str(clock_file))
    assert float(clock_file.read_text()) == 100 + 7 * DAY + 12 * 3600
    assert admin.get_clock().offset_seconds == pytest.approx(7 * DAY + 12 * 3600)
    shown = run.json("clock", "--clock-file", str(clock_file))
    assert shown["ours"]["offset_seconds"] == 100 + 7 * DAY + 12 * 3600
    assert shown["dict"]["offset_seconds"] == pytest.approx(7 * DAY + 12 * 3600)


def test_advance_finds_the_clock_file_from_the_environment(
    run: Sim, clock_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import settings

    monkeypatch.setenv("CLOCK_OFFSET_FILE", str(clock_file))
    settings.reset()
    try:
        run.ok("advance", "90s")
    finally:
        monkeypatch.delenv("CLOCK_OFFSET_FILE")
        settings.reset()
    assert float(clock_file.read_text()) == 90


def test_advance_without_a_place_for_our_clock_moves_nothing(
    run: Sim, admin: AdminClient, tmp_path: Path
) -> None:
    code, _, err = run("advance", "1d", "--clock-file", str(tmp_path / "nowhere" / "clock"))
    assert code == 1 and "--clock-file" in err and "Traceback" not in err
    assert admin.get_clock().offset_seconds == pytest.approx(0, abs=1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * DAY), ("12h", 43_200), ("30m", 1_800), ("90s", 90), ("1d12h", 1.5 * DAY), ("5", 5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize(
    "argv",
    [
        ("advance", "7x"),
        ("advance", "0s"),
        ("claim", "open", "--key", OUR_KEY, "--type", "THEFT", "--tax-id", MARIA, "--name", "M"),
        ("claim", "confirm", "some-id", "--reason", "BECAUSE"),
        ("claim", "show", "some-id", "--as", "123"),
        ("entry", "put", "--key", THEIR_KEY),
        ("claim",),
        ("add-transaction", PAYMENT, "--payer", "1234"),
        ("add-transaction", PAYMENT, "--settled-at", "yesterday"),
        ("virtual-payer-refunds", "--participant", "1234"),
        ("report", "open", PAYMENT, "--reason", "FRAUD"),
        ("report", "close", "some-id"),
        ("report", "acknowledge", "some-id", "--as", "123"),
        ("refund", "open", PAYMENT, "--amount", "1.00"),
        ("refund", "close", "some-id", "--result", "ACCEPTED"),
        ("refund",),
    ],
)
def test_bad_arguments_exit_2_with_argparses_message(run: Sim, argv: tuple[str, ...]) -> None:
    code, _, err = run(*argv)
    assert code == 2 and "error:" in err


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("entry", "put"),
        ("claim", "open"),
        ("claim", "complete"),
        ("advance",),
        ("calls",),
        ("add-transaction",),
        ("virtual-payer-refunds",),
        ("report",),
        ("report", "open"),
        ("report", "close"),
        ("refund", "open"),
        ("refund", "close"),
        ("refund", "cancel"),
    ],
)
def test_every_command_has_help(run: Sim, argv: tuple[str, ...]) -> None:
    code, out, _ = run(*argv, "--help")
    assert code == 0 and out.startswith("usage: dict-connect sim")


def test_an_absent_simulator_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "clock", "--simulator", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dict-connect sim: BridgeUnavailable: ")
    assert "is the simulator running at 127.0.0.1:1?" in err and err.count("\n") == 1


# --- dict-connect dev ------------------------------------------------------------------


def test_dev_children_share_a_clock_file_in_the_state_dir(tmp_path: Path) -> None:
    env = child_env(
        {"PATH": "/bin"}, state=tmp_path, db_url="postgresql://x", redis_url="redis://x", sim_port=1
    )
    assert env["CLOCK_OFFSET_FILE"] == str(tmp_path / "clock-offset")
    assert env["BRIDGE_ADDRESS"] == "127.0.0.1:1" and env["PATH"] == "/bin"
    assert prepare_clock_file(Path(env["CLOCK_OFFSET_FILE"])) == 0
    assert float((tmp_path / "clock-offset").read_text()) == 0


def test_dev_keeps_a_clock_file_the_environment_names_and_its_offset(tmp_path: Path) -> None:
    mine = tmp_path / "elsewhere" / "offset"
    env = child_env(
        {"CLOCK_OFFSET_FILE": str(mine)}, state=tmp_path, db_url="", redis_url="", sim_port=1
    )
    assert env["CLOCK_OFFSET_FILE"] == str(mine)
    assert prepare_clock_file(mine) == 0
    mine.write_text("604800\n")
    assert prepare_clock_file(mine) == 604_800
