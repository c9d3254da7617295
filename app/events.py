"""Events for the core banking system: every topic and its payload, declared once.

An event is written to the outbox in the transaction of the change it reports
(``outbox.event(topic, payload)``); publication (``actors/spine.py``) logs it in
PostgreSQL under its id (``event_log``, read back with ``GET /v1/events?after=<id>``) and
appends it to the Redis streams ``dict-connect.events`` (every event) and
``dict-connect.events.<topic>``. ``docs/events.md`` is generated from this module
(``python -m app.events --write``) and a test keeps it current.
"""

from __future__ import annotations

import itertools
import sys
import types
import typing
from pathlib import Path
from typing import Any

import msgspec

from app import settings


class EntryEvent(msgspec.Struct, kw_only=True, frozen=True):
    """A key of ours changed in the DICT (or the DICT refused a change)."""

    entry_id: str
    """Our id of the entry (``GET /v1/entries/{entry_id}``)."""
    key_type: str
    """CPF, CNPJ, PHONE, EMAIL or EVP."""
    key: str | None
    """The Pix key (None for an EVP key the DICT has not generated yet)."""
    status: str
    """The entry's status after the change (sql/schema.sql, entries.status)."""
    problem_type: str | None = None
    """The DICT's problem type, on a refusal (e.g. ``EntryKeyOwnedByDifferentPerson``)."""


class ClaimEvent(msgspec.Struct, kw_only=True, frozen=True):
    """A claim on one of our keys (as donor) or for our customer (as claimer) moved."""

    claim_id: str
    """Our id of the claim (``GET /v1/claims/{claim_id}``)."""
    dict_id: str | None
    """The DICT's claim id (None until the DICT accepted our CreateClaim)."""
    role: str
    """DONOR or CLAIMER: our role in the claim."""
    type: str
    """PORTABILITY or OWNERSHIP."""
    key: str
    key_type: str
    status: str
    """The claim's status after the change (sql/schema.sql, claims.status)."""


class ClaimAnomaly(msgspec.Struct, kw_only=True, frozen=True):
    """The DICT reports a claim status our record cannot reach, or the poll could not
    apply what the DICT said (docs/runbooks/claims.md, "Anomalies")."""

    claim_id: str
    dict_id: str | None
    status: str
    """Our status, left where it is."""
    dict_status: str | None
    """What the DICT says."""
    anomaly: str
    """Why they cannot be reconciled automatically."""


class DeadlineMissed(msgspec.Struct, kw_only=True, frozen=True):
    """A legal deadline of a claim was acted on more than 5 minutes late."""

    claim_id: str
    deadline: str
    """ResolutionPeriodEnd, CompletionPeriodEnd or Day30Limit."""
    due_at: str
    """When the action was due (ISO 8601)."""
    acted_at: str
    """When it was taken (ISO 8601)."""


class EntryReconciled(msgspec.Struct, kw_only=True, frozen=True):
    """A sync run moved one of our keys to the DICT's state (docs/reconciliation.md)."""

    entry_id: str
    key_type: str
    key: str | None
    status: str
    """The entry's status after the change: active (inserted, updated) or deleted."""
    action: str
    """inserted (only the DICT had it), updated (ours now holds the DICT's data) or
    removed (only we had it)."""
    run_id: int
    """The sync run (``GET /v1/sync-runs/{run_id}``)."""


class SyncVerified(msgspec.Struct, kw_only=True, frozen=True):
    """The DICT answered OK to a key type's VSync: our base and its agree."""

    run_id: int
    key_type: str
    vsync: str
    """The VSync both sides hold (64 hex digits)."""
    verification_id: int
    """The DICT's id of the verification."""
    repaired: int
    """Divergences this run repaired before the OK (0 when the first answer was OK)."""


class SyncDiverged(msgspec.Struct, kw_only=True, frozen=True):
    """A run found divergences between our base and the DICT's."""

    run_id: int
    key_type: str
    divergences: int
    source: str
    """events (the DICT's CID events since the last OK) or file (its CID file)."""
    awaiting_approval: bool
    """More than ``threshold``: an operator approves (POST /v1/sync-runs/{id}/approve)
    or rejects before anything is changed."""
    threshold: int


class SyncReconciled(msgspec.Struct, kw_only=True, frozen=True):
    """A run's divergences were handled; the VSync is verified again next."""

    run_id: int
    key_type: str
    inserted: int
    updated: int
    removed: int
    resolved: int
    """Not divergences any more by the time they were handled."""
    unresolved: int
    """Left for an operator (``GET /v1/sync-runs/{run_id}/divergences?outcome=unresolved``)."""


class SyncFailed(msgspec.Struct, kw_only=True, frozen=True):
    """A run ended without an OK (docs/runbooks/sync.md)."""

    run_id: int
    key_type: str
    status: str
    """failed or rejected."""
    problem: str


class KeyTypeSummary(msgspec.Struct, kw_only=True, frozen=True):
    key_type: str
    last_ok: str | None
    """The last OK verification (ISO 8601), None if never."""
    runs: int
    """Runs finished during the day."""
    ok: int
    divergences: int
    repaired: int


class SyncSummary(msgspec.Struct, kw_only=True, frozen=True):
    """Once a day: each key type's verifications of the previous local day."""

    day: str
    """The local day (SYNC_TIMEZONE) reported, YYYY-MM-DD."""
    key_types: list[KeyTypeSummary]


class InfractionEvent(msgspec.Struct, kw_only=True, frozen=True):
    """An infraction report (MED) moved: one we opened (as reporter) or one opened
    against a transaction of ours (as counterparty)."""

    report_id: str
    """Our id of the report (``GET /v1/infraction-reports/{report_id}``)."""
    dict_id: str | None
    """The DICT's report id (None until the DICT accepted our report)."""
    role: str
    """REPORTER or COUNTERPARTY: our role in the report."""
    status: str
    """The report's status after the change (sql/schema.sql, infraction_reports.status)."""
    transaction_id: str
    """The reported transaction's EndToEndId (RtrId for REFUND_CANCELLED)."""
    reason: str
    """REFUND_REQUEST or REFUND_CANCELLED."""
    situation_type: str
    reporter_participant: str
    counterparty_participant: str
    due_at: str | None
    """When the counterparty's analysis is due (ISO 8601; 7 days after creation)."""
    analysis_result: str | None = None
    """AGREED or DISAGREED, once closed."""
    fraud_marker_id: str | None = None
    """The fraud marker an AGREED close created."""
    problem_type: str | None = None
    """The DICT's problem type, on a refusal (e.g. ``InfractionReportTransactionNotFound``)."""


class InfractionDeadline(msgspec.Struct, kw_only=True, frozen=True):
    """A report we must analyse (as counterparty) is near its 7-day deadline, or past it,
    and is still not closed."""

    report_id: str
    dict_id: str | None
    status: str
    """Our status when the timer fired (anything but closed or cancelled)."""
    due_at: str
    """When the analysis is due (ISO 8601)."""


class FraudMarkerEvent(msgspec.Struct, kw_only=True, frozen=True):
    """A fraud marker moved: one we registered for our customer (origin OURS) or one our
    AGREED close of an infraction report created (origin INFRACTION_REPORT)."""

    marker_id: str
    """Our id of the marker (``GET /v1/fraud-markers/{marker_id}``)."""
    dict_id: str | None
    """The DICT's marker id (None when the DICT refused our marker)."""
    status: str
    """The marker's status after the change (sql/schema.sql, fraud_markers.status)."""
    origin: str
    """OURS or INFRACTION_REPORT."""
    fraud_type: str
    """APPLICATION_FRAUD, MULE_ACCOUNT, SCAMMER_ACCOUNT or OTHER."""
    tax_id_number: str | None
    """The marked customer's CPF or CNPJ (None if the DICT tied the marker to no one)."""
    key: str | None
    """The marked key, if the marker names one."""
    infraction_report_id: str | None = None
    """INFRACTION_REPORT: our id of the report (``GET /v1/infraction-reports/{id}``)."""
    problem_type: str | None = None
    """The DICT's problem type, on a refusal (e.g. ``FraudMarkerInvalid``)."""


class RefundEvent(msgspec.Struct, kw_only=True, frozen=True):
    """A refund request (MED) moved: one we made as the payer's PSP (REQUESTING) or one
    made against a transaction our customer received (CONTESTED)."""

    refund_id: str
    """Our id of the request (``GET /v1/refunds/{refund_id}``)."""
    dict_id: str | None
    """The DICT's RefundId (None until the DICT accepted our request)."""
    role: str
    """REQUESTING or CONTESTED: our role in the request."""
    status: str
    """The request's status after the change (sql/schema.sql, refunds.status)."""
    transaction_id: str
    """The transaction's EndToEndId (RtrId for REFUND_CANCELLED)."""
    refund_reason: str
    """FRAUD, OPERATIONAL_FLAW, REFUND_CANCELLED or PIX_AUTOMATICO."""
    refund_amount: str
    """The amount asked, in reais, as a decimal string ("100.00")."""
    requesting_participant: str
    contested_participant: str | None
    due_at: str | None
    """Contested: when our analysis is due (ISO 8601)."""
    analysis_result: str | None = None
    """TOTALLY_ACCEPTED, PARTIALLY_ACCEPTED or REJECTED, once closed."""
    rejection_reason: str | None = None
    refund_transaction_id: str | None = None
    """The pacs.004 RtrId that returned the funds, once accepted."""
    problem_type: str | None = None
    """The DICT's problem type, on a refusal (e.g. ``RefundPeriodExpired``)."""


class RefundDeadline(msgspec.Struct, kw_only=True, frozen=True):
    """A request against us (as contested) is near the deadline we allow ourselves for
    its analysis, or past it, and is still not closed."""

    refund_id: str
    dict_id: str | None
    status: str
    due_at: str
    """When the analysis is due (ISO 8601)."""


class RateLimitLevel(msgspec.Struct, kw_only=True, frozen=True):
    """One of the DICT's rate-limit buckets of ours changed level: its tokens left fell
    to a threshold of ours (``rate_limits.threshold_crossed``: warning, critical, or back
    from critical to warning) or rose above both again (``rate_limits.recovered``). One
    event per change, however long the bucket stays there (docs/rate_limits.md)."""

    policy: str
    """The DICT's policy, e.g. ``ENTRIES_WRITE`` (``GET /v1/rate-limits/policies/{policy}``)."""
    level: str
    """ok, warning or critical: the level of this reading."""
    previous_level: str
    """The level of the reading before."""
    available: int
    """Tokens the bucket held when read (negative: it is in debt, DICT.md section 4)."""
    capacity: int
    percent: float
    """``available`` as a percentage of ``capacity``, one decimal."""
    warning_pct: float
    """The policy's warning threshold (% of capacity left) the reading was judged by."""
    critical_pct: float
    """The policy's critical threshold."""
    read_at: str
    """When the DICT was read (ISO 8601)."""


TOPICS: dict[str, type[msgspec.Struct]] = {
    "entries.created": EntryEvent,
    "entries.rejected": EntryEvent,
    "entries.updated": EntryEvent,
    "entries.update_refused": EntryEvent,
    "entries.deleted": EntryEvent,
    "entries.delete_refused": EntryEvent,
    "claims.received": ClaimEvent,
    "claims.rejected": ClaimEvent,
    "claims.acknowledged": ClaimEvent,
    "claims.confirmed": ClaimEvent,
    "claims.completed": ClaimEvent,
    "claims.cancelled": ClaimEvent,
    "claims.anomaly": ClaimAnomaly,
    "claims.deadline_missed": DeadlineMissed,
    "entries.reconciled": EntryReconciled,
    "sync.verified": SyncVerified,
    "sync.diverged": SyncDiverged,
    "sync.reconciled": SyncReconciled,
    "sync.failed": SyncFailed,
    "sync.summary": SyncSummary,
    "infractions.received": InfractionEvent,
    "infractions.rejected": InfractionEvent,
    "infractions.acknowledged": InfractionEvent,
    "infractions.updated": InfractionEvent,
    "infractions.closed": InfractionEvent,
    "infractions.cancelled": InfractionEvent,
    "infractions.deadline_approaching": InfractionDeadline,
    "infractions.deadline_missed": InfractionDeadline,
    "fraud_markers.registered": FraudMarkerEvent,
    "fraud_markers.rejected": FraudMarkerEvent,
    "fraud_markers.cancelled": FraudMarkerEvent,
    "refunds.received": RefundEvent,
    "refunds.rejected": RefundEvent,
    "refunds.closed": RefundEvent,
    "refunds.cancelled": RefundEvent,
    "refunds.deadline_approaching": RefundDeadline,
    "refunds.deadline_missed": RefundDeadline,
    "rate_limits.threshold_crossed": RateLimitLevel,
    "rate_limits.recovered": RateLimitLevel,
}
"""Every topic an event may have, and its payload."""

STREAM = "dict-connect.events"
"""The Redis stream of every event, in id order."""
STREAM_MAXLEN = 100_000
"""Entries a stream keeps (about: Redis trims whole nodes); older ones only the API has."""


def stream_of(topic: str) -> str:
    """The Redis stream of one topic's events."""
    return f"{STREAM}.{topic}"


STREAM_FIELDS: dict[str, str] = {
    "event_id": "The event's id, `id` in `GET /v1/events`. Dedupe by it.",
    "topic": "The topic (table below).",
    "occurred_at": "When the change happened (ISO 8601).",
    "payload": "The topic's payload, as JSON (sections below).",
    "previous_event_id": "`dict-connect.events` only: the id appended just before this one"
    " (0 before the first). If it is not the last id you processed, you missed events.",
}
"""The fields of a stream entry, and what each means (``docs/events.md``)."""


def payload(topic: str, event: msgspec.Struct) -> dict[str, Any]:
    """The event as the JSON object the stream carries; refuses an undeclared topic or
    a payload of the wrong type (a bug)."""
    expected = TOPICS.get(topic)
    if expected is None:
        raise KeyError(f"{topic!r} is not a declared event topic (app.events.TOPICS)")
    if not isinstance(event, expected):
        raise TypeError(f"{topic} carries a {expected.__name__}, not {type(event).__name__}")
    return dict(msgspec.to_builtins(event))


DOC = Path(__file__).resolve().parents[1] / "docs" / "events.md"

PREAMBLE = """\
# Events for the core banking system

Generated from `app/events.py` (`python -m app.events --write`); a test keeps it
current.

PostgreSQL keeps every event: each is written in the transaction of the change it
reports, then published, normally within a second of the commit (within a minute if its
worker died or Redis lost its queue). Publication gives the event its **id**: ids
increase in the order events are published, so a reader that has seen id N never
later finds a new event with an id of N or less (ids may skip numbers). That is why the
id is given by one publisher at a time, after the change committed, and not in the
change's transaction: transactions commit in another order than they take ids, and a
reader would skip an event whose transaction took a smaller id but committed later
(`sql/migrations/0020_event_log.sql`).

Events are kept `EVENT_RETENTION_DAYS` days after publication (default {retention}), then
removed by the daily maintenance (the chart's `events.retentionDays`).

An event is published within a second of its commit (by the worker after its batch),
or within a minute (by the relay). `dict_events_unpublished` and
`dict_events_oldest_unpublished_seconds` show what waits, and `DictEventsNotPublished`
fires when the oldest waits more than 5 minutes (`docs/runbooks/outbox.md`).

Two ways to read them, one id:

- **Pull**, the source of truth: `GET /v1/events?after=<id>&limit=<n>` (scope
  `events:read`; `limit` 1 to 1000, default 100) answers the events after `id` in id
  order, each with `id`, `topic`, `occurred_at` and `payload`, and `next_after`, the id
  to pass next (the last one answered, or `after` itself when nothing is newer). A page
  of `limit` events means more are waiting. `after=0` starts at the oldest event kept;
  an `after` below the last id retention removed is answered 410 `events-pruned` (events
  you never read are gone: resynchronise from the resources, then resume from the `after`
  the problem names).
- **Push**: the Redis stream `{stream}` carries every event in id order, and
  `{stream}.<topic>` each topic's, as before (without `previous_event_id`: a consumer
  of one topic catches up with the API as below, skipping the other topics). Before the
  event log, `event_id` was the outbox row's id; the log's ids start above all of those,
  so deduplication goes on working. An entry's fields:

| field | meaning |
|---|---|"""

CONSUMER = """\
What a consumer does, to miss nothing:

1. Read `{stream}` with a consumer group (`XREADGROUP`), process each entry, then
   remember its `event_id` durably as your last id and acknowledge it (`XACK`).
2. Skip an entry whose `event_id` is not above your last id: it was delivered again
   (a retried push, a restored database). Deduplicate by `event_id`.
3. If an entry's `previous_event_id` is not your last id, you missed events: page through
   `GET /v1/events?after=<your last id>` up to this entry, then go on with the stream.
4. Whenever you (re)connect, when your consumer group is gone (`NOGROUP`: Redis lost its
   data; create it again with `XGROUP CREATE {stream} <group> $ MKSTREAM`), or after
   any error reading the stream, catch up the same way, following `next_after` until a
   page is not full, before reading the stream again.

Redis may lose entries (a restart without persistence, a flush, a stream trimmed past
{maxlen:,} entries): the events are not lost, only their push. Treat an event as the state
it reports (entry X is active), not as a counter: after a restore from a backup, an event
may come again under a new id (`docs/runbooks/restore.md`)."""


def _fields(struct: type[msgspec.Struct]) -> list[str]:
    docs = _field_docs(struct)
    rows = []
    for field in msgspec.structs.fields(struct):
        rows.append(f"| `{field.name}` | {_type(field.type)} | {docs.get(field.name, '')} |")
    return rows


def _type(tp: Any) -> str:
    if isinstance(tp, types.UnionType):
        return " or ".join(_type(t) for t in tp.__args__)
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return f"list of {_type(item)}"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    return {str: "string", int: "integer", float: "number", type(None): "null"}.get(tp, str(tp))


def _field_docs(struct: type[msgspec.Struct]) -> dict[str, str]:
    """The docstrings under each field (read from the source, as Sphinx does)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(struct))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            value = getattr(after, "value", None)
            if isinstance(after, ast.Expr) and isinstance(value, ast.Constant):
                docs[node.target.id] = " ".join(str(value.value).split()).replace("``", "`")
    return docs


def document() -> str:
    lines = [
        *PREAMBLE.format(stream=STREAM, retention=settings.EVENT_RETENTION_DAYS).splitlines(),
        *[f"| `{name}` | {meaning} |" for name, meaning in STREAM_FIELDS.items()],
        "",
        *CONSUMER.format(stream=STREAM, maxlen=STREAM_MAXLEN).splitlines(),
        "",
        "| topic | payload |",
        "|---|---|",
        *[f"| `{t}` | [{s.__name__}](#{s.__name__.lower()}) |" for t, s in TOPICS.items()],
    ]
    nested: list[type[msgspec.Struct]] = [KeyTypeSummary]
    for struct in dict.fromkeys([*TOPICS.values(), *nested]):
        lines += ["", f"## {struct.__name__}", "", " ".join((struct.__doc__ or "").split()), ""]
        lines += ["| field | type | meaning |", "|---|---|---|", *_fields(struct)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--write" in sys.argv:
        DOC.write_text(document())
        print(f"wrote {DOC}")
    else:
        sys.stdout.write(document())
