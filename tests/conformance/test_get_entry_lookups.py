"""GetEntry's answer beyond the entry, against the spec: the statistics, only when asked
(IncludeStatistics; manual §18; OpenAPI v2.6.1 PersonStatistics, KeyStatistics and
WindowedValue), the Cache-Control max-age (manual §12: a LEGAL_PERSON's key up to 180 s),
and the payment credit of the anti-scan buckets (DICT.md §4 "getEntry counting"; OpenAPI
"Regras de contagem": the payment order gives +1 to a person payer's bucket, +2 to a
company's, +1 to the participant's). The simulator has no SPI: SimulatorAdmin's
SettlePayment says when the pacs.008 of a looked-up E2E id was sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from app.domain.fixtures import make_cnpj
from simulator import ctl
from simulator.admin_client import AdminClient
from simulator.server import SimulatorHandle
from tests.integration.bridge.builders import (
    OTHER,
    OURS,
    company,
    create,
    e2e_id,
    entry,
    lookup,
    person,
    rid,
)

pytestmark = pytest.mark.conformance

MISSING = "+5511999999999"  # a key nobody holds: a lookup of it costs a payer 20
PERSON_PAYER = "52998224725"  # PI-PayerId of a person: 100 tokens
COMPANY_PAYER = make_cnpj(7)  # of a company: 1,000 tokens
SMALL = "11223344"  # a category H participant: its ENTRIES_READ_PARTICIPANT_ANTISCAN holds 50
CONTACT = pb.ContactInformation(email="fraude@banco.example", phone="+5511900000000")
FRAUD_FIELDS = (
    "application_frauds",
    "mule_accounts",
    "scammer_accounts",
    "other_frauds",
    "unknown_frauds",
    "total_fraud_transaction_amount",
    "distinct_fraud_reporters",
)


def ask(
    client: DictClient,
    key: str,
    *,
    payer: str = PERSON_PAYER,
    e2e: str | None = None,
    statistics: bool = False,
) -> pb.GetEntryResponse:
    request = pb.GetEntryRequest(
        key=key,
        payer_id=payer,
        end_to_end_id=e2e or e2e_id(client.participant),
        include_statistics=statistics,
    )
    return client.get_entry(request)


def held(client: DictClient, e: pb.Entry) -> str:
    return client.create_entry(create(e)).entry.entry.key


def windowed(value: pb.WindowedValue) -> tuple[int, int, int]:
    return value.d90, value.m12, value.m60


def mark(client: DictClient, tax_id: str, fraud_type: str, key: str = "") -> pb.FraudMarker:
    request = pb.CreateFraudMarkerRequest(
        participant=client.participant,
        tax_id_number=tax_id,
        key=key,
        fraud_type=fraud_type,
        request_id=rid(),
    )
    return client.create_fraud_marker(request).marker


def at(admin: AdminClient, when: str) -> None:
    admin.set_clock(datetime.fromisoformat(when).replace(tzinfo=UTC))


# --- statistics ---------------------------------------------------------------------------


def test_statistics_come_only_when_asked_for(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    key = held(ours, entry("PHONE", 1))

    plain = ask(theirs, key)
    assert not plain.HasField("owner_statistics") and not plain.HasField("key_statistics")

    asked = ask(theirs, key, statistics=True)
    now = admin.get_clock().now.seconds
    owner, of_key = asked.owner_statistics, asked.key_statistics
    for stats in (owner, of_key):  # every block, as the OpenAPI example shows them
        blocks = (stats.spi, stats.fraud_markers, stats.infraction_reports, stats.entries)
        assert all(abs(b.watermark.seconds - now) <= 5 for b in blocks)
        assert stats.spi.HasField("settlements") and windowed(stats.spi.settlements) == (0, 0, 0)
        assert {f.name for f, _ in stats.fraud_markers.ListFields()} >= set(FRAUD_FIELDS)
        assert all(windowed(getattr(stats.fraud_markers, f)) == (0, 0, 0) for f in FRAUD_FIELDS)
        reports = stats.infraction_reports
        assert (reports.open_reports, reports.open_reports_distinct_reporters) == (0, 0)
        assert windowed(reports.rejected_reports) == (0, 0, 0)
    assert owner.entries.registered_accounts == 1
    assert of_key.entries.distinct_accounts == 1
    assert asked.entry == plain.entry


def test_a_fraud_marker_counts_by_type_in_the_last_90_days_and_past_whole_months(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """Manual §18: d90 is the last 90 days; m12 and m60 leave out the current month."""
    at(admin, "2026-03-16T15:00:00")
    key = held(ours, entry("PHONE", 1))
    tax_id = person(1).tax_id_number
    mark(ours, tax_id, "MULE_ACCOUNT", key)
    mark(theirs, tax_id, "SCAMMER_ACCOUNT")  # the person only: no key named

    stats = ask(theirs, key, statistics=True)
    owner, of_key = stats.owner_statistics.fraud_markers, stats.key_statistics.fraud_markers
    assert windowed(owner.mule_accounts) == (1, 0, 0)
    assert windowed(owner.scammer_accounts) == (1, 0, 0)
    assert windowed(owner.distinct_fraud_reporters) == (2, 0, 0)
    assert windowed(owner.application_frauds) == windowed(owner.other_frauds) == (0, 0, 0)
    assert windowed(of_key.mule_accounts) == (1, 0, 0)
    assert windowed(of_key.scammer_accounts) == (0, 0, 0)
    assert windowed(of_key.distinct_fraud_reporters) == (1, 0, 0)

    at(admin, "2026-04-01T03:00:00")  # April has begun in Brasília: March is a past month
    later = ask(theirs, key, statistics=True).owner_statistics.fraud_markers
    assert windowed(later.mule_accounts) == (1, 1, 1)

    at(admin, "2026-06-20T12:00:00")  # more than 90 days after the marker
    later = ask(theirs, key, statistics=True).owner_statistics.fraud_markers
    assert windowed(later.mule_accounts) == (0, 1, 1)
    assert windowed(later.distinct_fraud_reporters) == (0, 2, 2)


def test_a_cancelled_marker_and_a_marker_of_someone_else_count_nowhere(
    ours: DictClient, theirs: DictClient
) -> None:
    key = held(ours, entry("PHONE", 1))
    cancelled = mark(ours, person(1).tax_id_number, "OTHER", key)
    ours.cancel_fraud_marker(pb.CancelFraudMarkerRequest(id=cancelled.id, participant=OURS))
    mark(ours, person(2).tax_id_number, "OTHER", key)  # the key, but not its owner

    stats = ask(theirs, key, statistics=True)
    for markers in (stats.owner_statistics.fraud_markers, stats.key_statistics.fraud_markers):
        assert windowed(markers.other_frauds) == (0, 0, 0)
        assert windowed(markers.distinct_fraud_reporters) == (0, 0, 0)


def test_registered_accounts_are_the_owner_s_accounts_holding_keys_now(
    ours: DictClient, theirs: DictClient
) -> None:
    owner = person(1)
    key = held(ours, entry("PHONE", 1, owner=owner, number="1001"))
    held(ours, entry("CPF", 1, owner=owner, number="1001"))
    email = held(ours, entry("EMAIL", 2, owner=owner, number="2002"))
    held(ours, entry("PHONE", 3))  # someone else's

    stats = ask(theirs, key, statistics=True)
    assert stats.owner_statistics.entries.registered_accounts == 2
    assert stats.key_statistics.entries.distinct_accounts == 1
    ours.delete_entry(pb.DeleteEntryRequest(key=email, participant=OURS, reason="USER_REQUESTED"))
    stats = ask(theirs, key, payer="11144477735", statistics=True)
    assert stats.owner_statistics.entries.registered_accounts == 1


def report(
    client: DictClient, admin: AdminClient, transaction_id: str, counterparty: str
) -> pb.InfractionReport:
    """``client``'s customer paid ``counterparty``'s (the SPI settled it), then reports it."""
    admin.add_transaction(transaction_id, client.participant, counterparty, "100.00")
    request = pb.CreateInfractionReportRequest(
        participant=client.participant,
        transaction_id=transaction_id,
        reason="REFUND_REQUEST",
        situation_type="SCAM",
        contact_information=CONTACT,
    )
    return client.create_infraction_report(request).report


def close(client: DictClient, report_id: str, result: str, fraud_type: str = "") -> str:
    client.acknowledge_infraction_report(
        pb.AcknowledgeInfractionReportRequest(id=report_id, participant=client.participant)
    )
    request = pb.CloseInfractionReportRequest(
        id=report_id,
        participant=client.participant,
        analysis_result=result,
        analysis_details="analysed",
        fraud_type=fraud_type,
    )
    return client.close_infraction_report(request).report.fraud_marker_id


def test_a_refund_request_counts_for_the_key_its_transaction_looked_up(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """A report names a transaction, not a key: the simulator ties it to the key the
    reporter looked up with that E2E id (the DICT knows it from the SPI) [inferred]."""
    key = held(ours, entry("PHONE", 1))
    paid, rejected = e2e_id(OTHER, 1), e2e_id(OTHER, 2)
    ask(theirs, key, e2e=paid)
    ask(theirs, key, e2e=rejected)
    agreed = report(theirs, admin, paid, OURS)
    disagreed = report(theirs, admin, rejected, OURS)
    report(theirs, admin, e2e_id(OTHER, 3), OURS)  # never looked up: tied to no one

    stats = ask(theirs, key, e2e=e2e_id(OTHER, 9), statistics=True)
    for reports in (
        stats.owner_statistics.infraction_reports,
        stats.key_statistics.infraction_reports,
    ):
        assert (reports.open_reports, reports.open_reports_distinct_reporters) == (2, 1)

    marker_id = close(ours, agreed.id, "AGREED", "SCAMMER_ACCOUNT")
    close(ours, disagreed.id, "DISAGREED")
    marker = theirs.get_fraud_marker(pb.GetFraudMarkerRequest(id=marker_id)).marker
    assert (marker.tax_id_number, marker.key) == (person(1).tax_id_number, key)  # the payee

    stats = ask(theirs, key, e2e=e2e_id(OTHER, 10), statistics=True)
    for of in (stats.owner_statistics, stats.key_statistics):
        assert of.infraction_reports.open_reports == 0
        assert windowed(of.infraction_reports.rejected_reports) == (1, 0, 0)
        assert windowed(of.fraud_markers.scammer_accounts) == (1, 0, 0)


# --- Cache-Control ------------------------------------------------------------------------


def test_a_legal_person_s_key_may_be_cached_for_180_seconds_a_natural_person_s_not(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    cnpj = held(ours, entry("CNPJ", 1))
    company_phone = held(ours, entry("PHONE", 2, owner=company(2)))
    person_phone = held(ours, entry("PHONE", 3))

    assert ask(theirs, cnpj).cache_max_age_seconds == 180
    assert ask(theirs, company_phone, statistics=True).cache_max_age_seconds == 180
    assert ask(theirs, person_phone).cache_max_age_seconds == 0

    admin.set_config(legal_person_cache_max_age_seconds=60)
    assert ask(theirs, cnpj).cache_max_age_seconds == 60
    assert (
        admin.set_config(legal_person_cache_max_age_seconds=600).legal_person_cache_max_age_seconds
        == 180
    )


# --- payment credits ----------------------------------------------------------------------


def drain(client: DictClient, payer: str, e2e: str, misses: int) -> None:
    """Spend a payer's whole bucket on misses (20 tokens each), all with one E2E id."""
    for _ in range(misses):
        with pytest.raises(problems.NotFound):
            ask(client, MISSING, payer=payer, e2e=e2e)


def test_a_payment_gives_a_person_payer_one_lookup_back_once(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    key = held(ours, entry("PHONE", 1))
    paid = e2e_id(OTHER, 1)
    drain(theirs, PERSON_PAYER, paid, 5)  # 5 lookups with the same E2E id: 100 tokens
    refused = e2e_id(OTHER, 2)
    with pytest.raises(problems.RateLimited):
        ask(theirs, key, e2e=refused)

    assert admin.settle_payment(paid)  # +1, however many lookups carried the id
    assert ask(theirs, key, e2e=e2e_id(OTHER, 3)).entry.entry.key == key
    with pytest.raises(problems.RateLimited):
        ask(theirs, key, e2e=e2e_id(OTHER, 4))

    assert not admin.settle_payment(paid)  # once
    assert not admin.settle_payment(refused)  # a refused lookup drew on nothing
    with pytest.raises(problems.RateLimited):
        ask(theirs, key, e2e=e2e_id(OTHER, 5))


def test_a_payment_gives_a_company_payer_two_lookups_back(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    key = held(ours, entry("PHONE", 1))
    paid = e2e_id(OTHER, 1)
    drain(theirs, COMPANY_PAYER, paid, 50)  # 1,000 tokens
    with pytest.raises(problems.RateLimited):
        ask(theirs, key, payer=COMPANY_PAYER, e2e=e2e_id(OTHER, 2))

    assert admin.settle_payment(paid)
    for n in (3, 4):
        assert ask(theirs, key, payer=COMPANY_PAYER, e2e=e2e_id(OTHER, n)).entry.entry.key == key
    with pytest.raises(problems.RateLimited):
        ask(theirs, key, payer=COMPANY_PAYER, e2e=e2e_id(OTHER, 5))


def participant_tokens(client: DictClient) -> int:
    request = pb.GetBucketStateRequest(
        participant=client.participant, policy="ENTRIES_READ_PARTICIPANT_ANTISCAN"
    )
    return client.get_bucket_state(request).policy.available_tokens


def test_a_payment_gives_the_participant_one_lookup_back(
    sim: SimulatorHandle, ours: DictClient, admin: AdminClient
) -> None:
    admin.add_participant(SMALL, "H")  # 50 tokens, 2 a minute
    key = held(ours, entry("PHONE", 1))
    with DictClient(sim.address, SMALL) as small:
        for n in range(50):  # each payer its own bucket: only the participant's drains
            small.get_entry(lookup(key, SMALL, payer=n))
        with pytest.raises(problems.RateLimited):
            small.get_entry(lookup(key, SMALL, payer=50))
        assert participant_tokens(small) == 0

        assert admin.settle_payment(e2e_id(SMALL, 0))
        assert participant_tokens(small) == 1
        small.get_entry(lookup(key, SMALL, payer=51))
        with pytest.raises(problems.RateLimited):
            small.get_entry(lookup(key, SMALL, payer=52))


def test_every_participant_that_looked_up_with_the_e2e_id_is_credited(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    """Manual §13.1: with a payment initiator both the initiator's bucket and the payer's
    PSP's are credited, when each looked up with the E2E id the initiator generated."""
    paid = e2e_id(OTHER, 1)
    for client in (ours, theirs):
        drain(client, PERSON_PAYER, paid, 5)
        with pytest.raises(problems.RateLimited):
            ask(client, MISSING, e2e=paid)

    assert admin.settle_payment(paid)
    for client in (ours, theirs):
        drain(client, PERSON_PAYER, e2e_id(OTHER, 2), 1)  # admitted: a miss, not a 429
        with pytest.raises(problems.RateLimited):
            ask(client, MISSING, e2e=e2e_id(OTHER, 3))


def test_an_unknown_forgotten_or_reset_e2e_id_credits_nothing(
    sim: SimulatorHandle, theirs: DictClient, admin: AdminClient
) -> None:
    assert not admin.settle_payment(e2e_id(OTHER, 1))  # never looked up

    sim.simulator.state.lookups.capacity = 2  # the simulator keeps the latest E2E ids only
    for n in (1, 2, 3):
        drain(theirs, PERSON_PAYER, e2e_id(OTHER, n), 1)
    assert not admin.settle_payment(e2e_id(OTHER, 1))  # the oldest, forgotten
    assert admin.settle_payment(e2e_id(OTHER, 3))

    admin.reset()
    assert not admin.settle_payment(e2e_id(OTHER, 2))


def test_the_sim_command_settles_a_payment(
    sim: SimulatorHandle, theirs: DictClient, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = e2e_id(OTHER, 1)
    drain(theirs, PERSON_PAYER, paid, 1)
    for credited in (True, False):
        assert ctl.main(["settle", paid, "--simulator", sim.address, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"end_to_end_id": paid, "credited": credited}
