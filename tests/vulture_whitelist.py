"""What vulture may take for dead code but is not (``make lint`` passes this file).

Each name is used from outside the code vulture reads: the DICT's vocabulary kept whole
(a problem type or an account type the DICT may answer with), fields of structs that
are serialised rather than read, and parameters a protocol imposes.
"""

# ruff: noqa
from app.api import auth, claims, entries, sync
from app.domain import infractions, keys, problems, refunds
from app import events
from app.lookups import answers
from simulator import claim_rules, pools

# The DICT's vocabulary: types it may answer with, kept whole (DICT.md §1, §6).
problems.Gone, problems.RequestSignatureInvalid, problems.TaxIdNumberBlocked
problems.EntryBlocked, problems.EntryWithFraudRelatedRestriction
problems.InfractionReportTransactionNotFound, problems.FraudMarkerOperationInvalid
keys.AccountType.CACC, keys.AccountType.SVGS, keys.AccountType.SLRY, keys.AccountType.TRAN
keys.PHONE_PATTERN_V1_8_0  # v1.8.0's pattern, for a deployment that must follow it
infractions.Reason.REFUND_REQUEST, infractions.SituationType.SCAM
infractions.SituationType.ACCOUNT_TAKEOVER, infractions.SituationType.COERCION
infractions.SituationType.FRAUDULENT_ACCESS, infractions.FraudType.APPLICATION_FRAUD
infractions.FraudType.MULE_ACCOUNT, infractions.FraudType.SCAMMER_ACCOUNT
refunds.AnalysisResult.TOTALLY_ACCEPTED, refunds.RejectionReason.NO_BALANCE

# Fields serialised to JSON (API answers, events), never read back in Python.
claims.ClaimPage.next_cursor, entries.EntryPage.next_cursor
events.DeadlineMissed.due_at, events.DeadlineMissed.acted_at
events.SyncDiverged.awaiting_approval, events.SyncReconciled.resolved
events.SyncReconciled.unresolved, sync.Started.already_open
events.RateLimitLevel.previous_level, events.RateLimitLevel.percent
claim_rules.Periods.day30
answers.FraudMarkerStatistics.unknown_frauds, answers.LookupAnswer.book_transfer
answers.FraudMarkerStatistics.total_fraud_transaction_amount
answers.LookupStatistics.entries_watermark, answers.SuspiciousPayer.flagged_at
auth.required_scope  # set on the guard function, read by the OpenAPI document

# Dramatiq's middleware hook for a skipped message, called by name.
from actors import middleware

middleware.TracingMiddleware.after_skip_message

# http.server calls its handler's methods by name.
from app import probes

probes._Handler.do_GET, probes._Handler.log_message

# Parameters a protocol imposes: __exit__'s, a signal handler's, pybreaker's listener's.
exc_type, tb, signum, frame, cb  # noqa: F821
pools.experimental_thread_pool  # grpc.server()'s option, set by keyword

# psycopg's Transaction attribute, set to end app.db.Held's transaction with a rollback.
from app import db

db.Held()._transaction.force_rollback
