"""SimulatorAdmin: the levers of tests, benchmarks and demos (not part of the DICT).

Admin calls change the simulated DICT directly: the clock, participants,
configuration, faults, divergent entries (PutEntry/RemoveEntry change the DICT
side only, but keep its VSyncs and CID events true), bulk entries, the SPI's settled
transactions (which refund requests name), the homologation's virtual payer, counters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from simulator import admin_pb2 as apb
from simulator import entries, infractions, loader, refunds, transactions
from simulator.buckets import PSP_POLICIES
from simulator.clock import to_datetime
from simulator.config import (
    CATEGORIES,
    FRAUD_REFUND_WINDOW_HOURS,
    LEGAL_PERSON_CACHE_MAX_AGE,
    OPERATIONAL_FLAW_REFUND_WINDOW_DAYS,
    Faults,
    Participant,
    SimConfig,
)
from simulator.convert import amount_text, cents_of, extended_pb, ts, us_of
from simulator.models import Transaction
from simulator.state import Simulator, cid_of

_ISPB = re.compile(r"[0-9]{8}")


def get_clock(sim: Simulator, request: Any) -> apb.ClockState:
    return apb.ClockState(now=ts(sim.now_us()), offset_seconds=sim.clock.offset_seconds)


def advance_clock(sim: Simulator, request: apb.AdvanceClockRequest) -> apb.ClockState:
    sim.clock.advance(request.seconds)
    return get_clock(sim, request)


def set_clock(sim: Simulator, request: apb.SetClockRequest) -> apb.ClockState:
    sim.clock.set(us_of(request.now))
    return get_clock(sim, request)


def add_participant(sim: Simulator, request: apb.AddParticipantRequest) -> apb.Participant:
    category = (request.category or "A").upper()
    if not _ISPB.fullmatch(request.ispb) or category not in CATEGORIES:
        raise problems.BadRequest(
            "ispb must be 8 digits and category one of A..H",
            violations=[("ispb", "pattern"), ("category", "enum")],
        )
    sim.participants[request.ispb] = Participant(request.ispb, category, request.name)
    sim.buckets.forget(request.ispb)  # a new category means new bucket sizes
    return apb.Participant(ispb=request.ispb, category=category, name=request.name)


def set_policy_size(sim: Simulator, request: apb.SetPolicySizeRequest) -> apb.SetPolicySizeResponse:
    """Resize one participant policy (the BCB sizes buckets; tests shrink one to reach
    its limit in seconds). Its bucket starts full at the new size."""
    sim.participant(request.ispb)  # ParticipantInvalid when unknown
    bad = [] if request.policy in PSP_POLICIES else [("policy", "participant_policy")]
    sizes = (request.capacity, request.refill_tokens, request.refill_period_sec)
    bad += [
        (f, "positive")
        for f, v in zip(("capacity", "refill_tokens", "refill_period_sec"), sizes, strict=True)
        if v <= 0
    ]
    if bad:
        raise problems.BadRequest("the policy size is invalid", violations=bad)
    sim.buckets.resize(request.ispb, request.policy, sizes)
    return apb.SetPolicySizeResponse()


def list_participants(sim: Simulator, request: Any) -> apb.ListParticipantsResponse:
    return apb.ListParticipantsResponse(
        participants=[
            apb.Participant(ispb=p.ispb, category=p.category, name=p.name)
            for p in sorted(sim.participants.values(), key=lambda p: p.ispb)
        ]
    )


def get_config(sim: Simulator, request: Any) -> apb.SimulatorConfig:
    c = sim.config
    return apb.SimulatorConfig(
        list_lag_seconds=c.list_lag_seconds,
        cid_file_processing_seconds=c.cid_file_processing_seconds,
        rate_limits_enabled=c.rate_limits_enabled,
        key_limits_enabled=c.key_limits_enabled,
        corrupt_cid_files=c.corrupt_cid_files,
        legal_person_cache_max_age_seconds=c.legal_person_cache_max_age_seconds,
        fraud_refund_window_hours=c.fraud_refund_window_hours,
        operational_flaw_refund_window_days=c.operational_flaw_refund_window_days,
    )


def set_config(sim: Simulator, request: apb.SimulatorConfig) -> apb.SimulatorConfig:
    """Replaces the whole configuration (proto3 scalars have no "unset")."""
    sim.config = SimConfig(
        list_lag_seconds=max(0.0, request.list_lag_seconds),
        cid_file_processing_seconds=max(0.0, request.cid_file_processing_seconds),
        rate_limits_enabled=request.rate_limits_enabled,
        key_limits_enabled=request.key_limits_enabled,
        corrupt_cid_files=request.corrupt_cid_files,
        legal_person_cache_max_age_seconds=min(
            LEGAL_PERSON_CACHE_MAX_AGE, max(0, request.legal_person_cache_max_age_seconds)
        ),  # the DICT never allows more than 180 s (manual §12)
        # 0 is proto3's "unset": a caller that does not know these keeps the spec's windows.
        fraud_refund_window_hours=_positive_or(
            request.fraud_refund_window_hours, FRAUD_REFUND_WINDOW_HOURS
        ),
        operational_flaw_refund_window_days=_positive_or(
            request.operational_flaw_refund_window_days, OPERATIONAL_FLAW_REFUND_WINDOW_DAYS
        ),
    )
    return get_config(sim, request)


def _positive_or(value: float, default: float) -> float:
    return value if value > 0 else default


def set_faults(sim: Simulator, request: apb.Faults) -> apb.Faults:
    sim.faults = Faults(
        latency_ms=max(0.0, request.latency_ms),
        unavailable_ratio=min(1.0, max(0.0, request.unavailable_ratio)),
        drop_ratio=min(1.0, max(0.0, request.drop_ratio)),
        methods=frozenset(request.methods),
        participants=frozenset(request.participants),
    )
    return request


def put_entry(sim: Simulator, request: apb.PutEntryRequest) -> pb.ExtendedEntry:
    """Make this the key's entry on the DICT side, replacing any other (no rules
    about owners, claims or limits: this is how tests create divergences).

    The CID events and VSyncs follow as the DICT's own operations would make them
    (DICT.md §3). Replacing the entry of the same owner at the same participant is an
    update: without a ``request_id`` the creating RequestId is kept (the new CID is
    keyed by it, and GetEntryByCid answers it), so are the creation and ownership
    dates, and identical data changes nothing (no events). Anything else is a delete
    and a create: REMOVED from the old holder, ADDED to the new one."""
    now = sim.now_us()
    record = entries.new_record(request.entry, request.request_id or None, now, put=True)
    old = sim.state.store.get(record.key)
    if old is not None and (old.participant, old.tax_id) == (record.participant, record.tax_id):
        if not request.request_id:
            record.request_id = old.request_id
        if record.request_id == old.request_id:
            record.created_us, record.owned_us = old.created_us, old.owned_us
            record.cid = cid_of(record)
            if record == old:
                return extended_pb(old)
    sim.deactivate(record.key, now)
    sim.activate(record, now)
    return extended_pb(record)


def remove_entry(sim: Simulator, request: apb.RemoveEntryRequest) -> apb.RemoveEntryResponse:
    return apb.RemoveEntryResponse(removed=sim.deactivate(request.key, sim.now_us()) is not None)


def load_entries(sim: Simulator, request: apb.LoadEntriesRequest) -> apb.LoadEntriesResponse:
    """Generate ``count`` valid entries fast (see ``loader``); holds the lock per chunk."""
    seconds = loader.load(sim, request.participant, request.key_type, request.count, request.seed)
    return apb.LoadEntriesResponse(loaded=request.count, seconds=seconds)


def settle_payment(sim: Simulator, request: apb.SettlePaymentRequest) -> apb.SettlePaymentResponse:
    """What the SPI does when a pacs.008 is sent: credit the buckets the lookups made with
    its EndToEndId drew on, once (``lookups``); the simulator moves no money."""
    lookups = sim.state.lookups.settle(request.end_to_end_id)
    for lookup in lookups:
        sim.buckets.credit(lookup)
    return apb.SettlePaymentResponse(credited=bool(lookups))


def add_transaction(sim: Simulator, request: apb.Transaction) -> apb.Transaction:
    """Record a transaction the SPI settled (``transactions``). A repeat answers the first;
    the same E2E id with other data is a BadRequest."""
    bad = []
    if not transactions.TRANSACTION_ID.fullmatch(request.end_to_end_id):
        bad.append(("end_to_end_id", "pattern"))
    for name in ("payer_participant", "payee_participant"):
        if not _ISPB.fullmatch(getattr(request, name)):
            bad.append((name, "pattern"))
    if request.payer_participant == request.payee_participant:
        bad.append(("payee_participant", "another_participant"))  # the SPI moves money between PSPs
    cents = cents_of(request.amount)
    if not cents:
        bad.append(("amount", "positive_amount"))
    if bad or cents is None:
        raise problems.BadRequest("the transaction is invalid", violations=bad)
    given = request.HasField("settled_at")
    tx = Transaction(
        request.end_to_end_id,
        request.payer_participant,
        request.payee_participant,
        cents,
        us_of(request.settled_at) if given else sim.now_us(),
        request.pix_automatico,
    )
    return _transaction_pb(transactions.add(sim, tx, given))


def _transaction_pb(tx: Transaction) -> apb.Transaction:
    return apb.Transaction(
        end_to_end_id=tx.end_to_end_id,
        payer_participant=tx.payer,
        payee_participant=tx.payee,
        amount=amount_text(tx.amount_cents),
        settled_at=ts(tx.settled_us),
        pix_automatico=tx.pix_automatico,
    )


def list_transactions(sim: Simulator, request: Any) -> apb.ListTransactionsResponse:
    return apb.ListTransactionsResponse(
        transactions=[_transaction_pb(tx) for tx in transactions.listed(sim)]
    )


VIRTUAL_PAYER = "99999003"
"""IN BCB 508 (homologation), refund tests iii and iv: "completar a solicitação de devolução
por motivo de falha operacional [e] de fundada suspeita de fraude, criada pelo PSP virtual
pagador 99999003"."""

_VIRTUAL_DETAILS = {
    refunds.OPERATIONAL_FLAW: "Homologação: transação em duplicidade (PSP virtual pagador).",
    refunds.FRAUD: "Homologação: fundada suspeita de fraude (PSP virtual pagador).",
}


def open_virtual_payer_refunds(
    sim: Simulator, request: apb.OpenVirtualPayerRefundsRequest
) -> apb.OpenVirtualPayerRefundsResponse:
    """Play the homologation's virtual payer PSP 99999003: it pays the participant twice
    (transactions it registers itself) and, as the payer's PSP, asks for each payment back,
    first for an operational flaw, then for fraud. The requests are made by the DICT's own
    rules (``refunds.create_refund``), without drawing on any bucket. 99999003 becomes a
    participant (category A) if it is not one."""
    if not _ISPB.fullmatch(request.participant) or request.participant == VIRTUAL_PAYER:
        raise problems.BadRequest(
            "participant must be 8 digits, other than the virtual payer",
            violations=[("participant", "pattern")],
        )
    contested = sim.participant(request.participant)  # ParticipantInvalid when unknown
    cents = cents_of(request.amount or "100.00")
    if not cents:
        raise problems.BadRequest("amount is invalid", violations=[("amount", "positive_amount")])
    payer = sim.participants.setdefault(
        VIRTUAL_PAYER, Participant(VIRTUAL_PAYER, "A", "PSP virtual pagador (homologação)")
    )
    opened = []
    for reason in (refunds.OPERATIONAL_FLAW, refunds.FRAUD):
        e2e = f"E{VIRTUAL_PAYER}{to_datetime(sim.now_us()):%Y%m%d%H%M}{sim.next_id():011d}"
        tx = Transaction(e2e, VIRTUAL_PAYER, contested.ispb, cents, sim.now_us())
        transactions.add(sim, tx, settled_given=True)
        if reason == refunds.FRAUD:
            _agreed_report_fixture(sim, payer, contested, e2e)
        create = pb.CreateRefundRequest(
            participant=VIRTUAL_PAYER,
            transaction_id=e2e,
            refund_reason=reason,
            refund_amount=amount_text(cents),
            refund_details=_VIRTUAL_DETAILS[reason],
        )
        opened.append(refunds.create_refund(sim, payer, create).refund)
    return apb.OpenVirtualPayerRefundsResponse(refunds=opened)


def _agreed_report_fixture(
    sim: Simulator, payer: Participant, contested: Participant, e2e: str
) -> None:
    """FIXTURE, not a DICT flow: the infraction report a fraud refund must follow (manual
    §17.2), created already CLOSED as AGREED. The homologation prepares it on the BCB's
    side; here the participant's acknowledge and close are made on its behalf, by the same
    operations its calls would run (so the AGREED close registers its fraud marker too)."""
    report = infractions.create_report(
        sim,
        payer,
        pb.CreateInfractionReportRequest(
            participant=VIRTUAL_PAYER,
            transaction_id=e2e,
            reason="REFUND_REQUEST",
            situation_type="SCAM",
            contact_information=pb.ContactInformation(
                email="homologacao@psp-virtual.example", phone="+5561999990003"
            ),
        ),
    ).report
    ispb = contested.ispb
    infractions.acknowledge_report(
        sim, contested, pb.AcknowledgeInfractionReportRequest(id=report.id, participant=ispb)
    )
    infractions.close_report(
        sim,
        contested,
        pb.CloseInfractionReportRequest(
            id=report.id,
            participant=ispb,
            analysis_result="AGREED",
            analysis_details="Fixture of the simulator's virtual payer (homologation).",
            fraud_type="SCAMMER_ACCOUNT",
        ),
    )


def get_call_counts(sim: Simulator, request: apb.GetCallCountsRequest) -> apb.CallCounts:
    by_method, created, total = sim.state.counters.for_request(request.request_id)
    refused = {} if request.request_id else dict(sim.state.counters.refused)
    return apb.CallCounts(
        by_method=by_method, entries_created=created, total=total, refused=refused
    )


def get_stats(sim: Simulator, request: Any) -> apb.Stats:
    return apb.Stats(
        entries=len(sim.state.store), claims=len(sim.state.claims), rss_bytes=rss_bytes()
    )


def get_vsync(sim: Simulator, request: apb.GetVSyncRequest) -> apb.GetVSyncResponse:
    ledger = sim.state.ledger
    return apb.GetVSyncResponse(
        vsync=ledger.vsync(request.participant, request.key_type),
        count=ledger.count(request.participant, request.key_type),
    )


def reset(sim: Simulator, request: Any) -> apb.ResetResponse:
    sim.reset()
    return apb.ResetResponse()


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS in /proc/self/status)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# Operations that hold the lock themselves (long-running, chunked).
SELF_LOCKING = frozenset({"LoadEntries"})

ROUTES: dict[str, Callable[[Simulator, Any], Any]] = {
    "GetClock": get_clock,
    "AdvanceClock": advance_clock,
    "SetClock": set_clock,
    "AddParticipant": add_participant,
    "ListParticipants": list_participants,
    "SetPolicySize": set_policy_size,
    "GetConfig": get_config,
    "SetConfig": set_config,
    "SetFaults": set_faults,
    "PutEntry": put_entry,
    "RemoveEntry": remove_entry,
    "LoadEntries": load_entries,
    "SettlePayment": settle_payment,
    "AddTransaction": add_transaction,
    "ListTransactions": list_transactions,
    "OpenVirtualPayerRefunds": open_virtual_payer_refunds,
    "GetCallCounts": get_call_counts,
    "GetStats": get_stats,
    "GetVSync": get_vsync,
    "Reset": reset,
}
