"""Settings, one cached struct per concern, read from the environment.

Every field names the environment variable it comes from; nothing else in the
code reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import functools
import os

import msgspec


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


class DatabaseSettings(msgspec.Struct, frozen=True):
    url: str
    """DATABASE_URL: libpq URL of the PostgreSQL that holds all state."""
    pool_min: int
    """DB_POOL_MIN: connections kept open per process."""
    pool_max: int
    """DB_POOL_MAX: upper bound of connections per process (a worker process runs 8
    actor threads and, during a claims poll, 16 acknowledgement calls)."""


class RedisSettings(msgspec.Struct, frozen=True):
    url: str
    """REDIS_URL: Redis used by Dramatiq (work due now) and event streams."""


class BridgeSettings(msgspec.Struct, frozen=True):
    address: str
    """BRIDGE_ADDRESS: host:port of the gRPC bridge (or the simulator)."""
    participant: str
    """PARTICIPANT_ISPB: our ISPB, 8 digits, sent as pi-requesting-participant."""
    timeout_s: float
    """BRIDGE_TIMEOUT_S: deadline of every call, in seconds."""
    ca_file: str | None
    """BRIDGE_CA_FILE: PEM CA bundle; with cert and key, enables mTLS."""
    cert_file: str | None
    """BRIDGE_CERT_FILE: PEM client certificate for mTLS."""
    key_file: str | None
    """BRIDGE_KEY_FILE: PEM private key for mTLS."""
    breaker_fail_max: int
    """BRIDGE_BREAKER_FAIL_MAX: consecutive transport failures that open the breaker."""
    breaker_reset_s: float
    """BRIDGE_BREAKER_RESET_S: seconds the breaker stays open before a trial call."""


class ClockSettings(msgspec.Struct, frozen=True):
    offset_file: str | None
    """CLOCK_OFFSET_FILE: dev/test only; a file holding seconds to add to real time,
    shared by every process so acceptance tests move time without sleeping."""


DEV_API_KEY_PEPPER = "dict-connect-dev-pepper"
"""API_KEY_PEPPER's default: known to everyone, so accepted only in development."""


class ApiSettings(msgspec.Struct, frozen=True):
    api_key_pepper: str
    """API_KEY_PEPPER: server secret mixed into stored API key hashes. Required outside
    development: ``dict-connect api`` refuses to start with the default (or an empty one)
    unless DICT_CONNECT_ENV is ``dev``."""
    environment: str
    """DICT_CONNECT_ENV: ``dev`` in development (``dict-connect dev`` sets it for its
    processes; the acceptance tests set it for theirs); unset, or anything else, means
    production, where the API needs its own API_KEY_PEPPER."""
    log_level: str
    """LOG_LEVEL: DEBUG, INFO, WARNING (structured JSON logs either way; every process)."""

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"


class SyncSettings(msgspec.Struct, frozen=True):
    daily_at: str
    """SYNC_DAILY_AT: HH:MM, local time of SYNC_TIMEZONE, when every key type is verified."""
    timezone: str
    """SYNC_TIMEZONE: IANA zone of SYNC_DAILY_AT (America/Sao_Paulo)."""
    catch_up_after_h: float
    """SYNC_CATCH_UP_AFTER_H: a key type whose last OK verification is older than this is
    verified at once (the DICT's limit is 36 h between verifications)."""
    retry_gap_min: float
    """SYNC_RETRY_GAP_MIN: a catch-up run starts no sooner than this after the key type's
    previous run started (a failing run is not retried every minute: CID files are 40/day)."""
    approval_threshold: int
    """SYNC_APPROVAL_THRESHOLD: more divergences than this wait for an operator's approval."""
    events_window_h: float
    """SYNC_EVENTS_WINDOW_H: after a NOK, read the DICT's CID events since the last OK
    verification when it is at most this old; otherwise (or with no OK yet) its CID file."""
    events_max_pages: int
    """SYNC_EVENTS_MAX_PAGES: a window with more pages of events (200 each) than this
    switches to the CID file (the events bucket refills 20 pages a minute)."""
    file_timeout_s: float
    """SYNC_FILE_TIMEOUT_S: a CID file not AVAILABLE this long after it was requested
    fails the run."""
    rechecks: int
    """SYNC_RECHECKS: a NOK after the repair from the CID file is verified again this many
    times before the run fails (a key moving at the instant of a verification)."""
    recheck_after_s: float
    """SYNC_RECHECK_AFTER_S: how long after such a NOK it is verified again."""
    step_budget_s: float
    """SYNC_STEP_BUDGET_S: an actor run of a sync run stops after about this long and
    continues in a new message (a worker busy 60 s in one message gets it redelivered)."""


class LookupSettings(msgspec.Struct, frozen=True):
    category: str
    """PARTICIPANT_CATEGORY: our rate-limit category (A–H) as the BCB assigned it; sizes
    the participant's anti-scan bucket our lookups are limited by (DICT.md §4)."""
    timeout_s: float
    """LOOKUP_TIMEOUT_S: deadline of a lookup's call to the DICT; past it the client
    gets a 503 with Retry-After (a payment waits on this answer)."""
    payment_window_s: float
    """LOOKUP_PAYMENT_WINDOW_S: how long after a lookup its payment may still be
    reported (POST /v1/lookups/{end_to_end_id}/paid) to give its tokens back."""
    own_check_timeout_s: float
    """LOOKUP_OWN_CHECK_TIMEOUT_S: while the Redis index of our keys is being rebuilt,
    how long a lookup may ask PostgreSQL whether the key is ours before going on."""
    payer_min_lookups: int
    """LOOKUP_PAYER_MIN_LOOKUPS: lookups a payer makes in a day before the share of
    misses is judged (over 20 % is suspicious, MO8 §13.2)."""


class MedSettings(msgspec.Struct, frozen=True):
    refund_analysis_hours: float
    """REFUND_ANALYSIS_HOURS: how long after the DICT created a refund request against
    us our analysis is due. The DICT states no figure (the manual says the funds go back
    "imediatamente"): this is the bank's policy. A warning fires at 75 % of it."""


class RateLimitReadingSettings(msgspec.Struct, frozen=True):
    poll_s: float
    """RATE_LIMIT_POLL_S: seconds between two readings of the DICT's buckets of ours
    (ListBucketStates, actors/rate_limits.py). The cron ticks every minute, so this is
    rounded up to whole minutes; the DICT's POLICIES_LIST bucket (20, 6 a minute) allows
    one a minute with room to spare."""
    retention_months: int
    """RATE_LIMIT_RETENTION_MONTHS: months the readings are kept (monthly partitions; one
    goes once its whole month is older than this)."""


class HistorySettings(msgspec.Struct, frozen=True):
    retention_months: int
    """HISTORY_RETENTION_MONTHS: months ``state_history`` keeps a change in the live table
    (monthly partitions; one is detached into the schema ``archive`` once its whole month
    is older than this). Default 60: the DICT's texts set no period for a participant's
    records; five years is what PLD/FT law asks of a bank's records (Lei 9.613/1998
    art. 10) and what IN BCB 508/2024 art. 47 asks of the Pix test records."""
    archive_months: int
    """HISTORY_ARCHIVE_MONTHS: months an archived partition is kept after that before it
    is dropped; 0 (the default) keeps the archive for ever: erasing records is the
    bank's decision, not a default."""


class EventSettings(msgspec.Struct, frozen=True):
    retention_days: int
    """EVENT_RETENTION_DAYS: days an event for core banking stays readable through
    ``GET /v1/events`` after it was logged (the maintenance cron removes older ones)."""


class OutboxSettings(msgspec.Struct, frozen=True):
    retention_days: int
    """OUTBOX_RETENTION_DAYS: days a row done or cancelled stays in the outbox before the
    daily maintenance moves it into ``outbox_archive`` (a failed row, a dead letter, stays
    until an operator retries it)."""
    archive_months: int
    """OUTBOX_ARCHIVE_MONTHS: months ``outbox_archive`` keeps a row (monthly partitions,
    each dropped whole once its month ended this long ago). An event's payload is not
    archived: ``event_log`` keeps it EVENT_RETENTION_DAYS."""


class ProbeSettings(msgspec.Struct, frozen=True):
    """The worker's and the scheduler's own HTTP ports (``app.probes``); the API serves
    the same routes on its HTTP port."""

    host: str
    """PROBE_HOST: the address both ports listen on; empty (the default) is every
    interface, as the kubelet and Prometheus reach the pod's IP; ``dict-connect dev``
    uses 127.0.0.1."""
    health_port: int
    """HEALTH_PORT: ``GET /health`` and ``GET /ready``; default 8081 for the worker,
    8082 for the scheduler; 0 turns them off."""
    metrics_port: int
    """METRICS_PORT: ``GET /metrics``; default 9093 for the worker, 9094 for the
    scheduler; 0 turns it off."""


PROBE_PORTS = {"worker": (8081, 9093), "scheduler": (8082, 9094)}
"""Each process's default (HEALTH_PORT, METRICS_PORT): distinct, so that one host runs
both (``dict-connect dev``)."""


def _opt(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


@functools.cache
def database() -> DatabaseSettings:
    return DatabaseSettings(
        url=_env("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/dict_connect"),
        pool_min=int(_env("DB_POOL_MIN", "1")),
        pool_max=int(_env("DB_POOL_MAX", "20")),
    )


@functools.cache
def redis() -> RedisSettings:
    return RedisSettings(url=_env("REDIS_URL", "redis://127.0.0.1:6379/0"))


@functools.cache
def bridge() -> BridgeSettings:
    return BridgeSettings(
        address=_env("BRIDGE_ADDRESS", "127.0.0.1:15051"),
        participant=_env("PARTICIPANT_ISPB", "12345678"),
        timeout_s=float(_env("BRIDGE_TIMEOUT_S", "5")),
        ca_file=_opt("BRIDGE_CA_FILE"),
        cert_file=_opt("BRIDGE_CERT_FILE"),
        key_file=_opt("BRIDGE_KEY_FILE"),
        breaker_fail_max=int(_env("BRIDGE_BREAKER_FAIL_MAX", "5")),
        breaker_reset_s=float(_env("BRIDGE_BREAKER_RESET_S", "10")),
    )


@functools.cache
def clock() -> ClockSettings:
    return ClockSettings(offset_file=_opt("CLOCK_OFFSET_FILE"))


@functools.cache
def api() -> ApiSettings:
    return ApiSettings(
        api_key_pepper=_env("API_KEY_PEPPER", DEV_API_KEY_PEPPER),
        environment=_env("DICT_CONNECT_ENV", "production").strip().lower(),
        log_level=_env("LOG_LEVEL", "INFO"),
    )


@functools.cache
def sync() -> SyncSettings:
    return SyncSettings(
        daily_at=_env("SYNC_DAILY_AT", "03:00"),
        timezone=_env("SYNC_TIMEZONE", "America/Sao_Paulo"),
        catch_up_after_h=float(_env("SYNC_CATCH_UP_AFTER_H", "24")),
        retry_gap_min=float(_env("SYNC_RETRY_GAP_MIN", "60")),
        approval_threshold=int(_env("SYNC_APPROVAL_THRESHOLD", "100")),
        events_window_h=float(_env("SYNC_EVENTS_WINDOW_H", "6")),
        events_max_pages=int(_env("SYNC_EVENTS_MAX_PAGES", "50")),
        file_timeout_s=float(_env("SYNC_FILE_TIMEOUT_S", "600")),
        rechecks=int(_env("SYNC_RECHECKS", "3")),
        recheck_after_s=float(_env("SYNC_RECHECK_AFTER_S", "60")),
        step_budget_s=float(_env("SYNC_STEP_BUDGET_S", "20")),
    )


@functools.cache
def lookups() -> LookupSettings:
    return LookupSettings(
        category=_env("PARTICIPANT_CATEGORY", "A").strip().upper(),
        timeout_s=float(_env("LOOKUP_TIMEOUT_S", "2")),
        payment_window_s=float(_env("LOOKUP_PAYMENT_WINDOW_S", "1800")),
        own_check_timeout_s=float(_env("LOOKUP_OWN_CHECK_TIMEOUT_S", "0.2")),
        payer_min_lookups=int(_env("LOOKUP_PAYER_MIN_LOOKUPS", "10")),
    )


@functools.cache
def med() -> MedSettings:
    return MedSettings(refund_analysis_hours=float(_env("REFUND_ANALYSIS_HOURS", "24")))


@functools.cache
def probes(process: str) -> ProbeSettings:
    health, metrics = PROBE_PORTS[process]
    return ProbeSettings(
        host=_env("PROBE_HOST", ""),
        health_port=int(_env("HEALTH_PORT", str(health))),
        metrics_port=int(_env("METRICS_PORT", str(metrics))),
    )


def limiter_enabled() -> bool:
    """DICT_LIMITER (on | off, default on): hold the workers' DICT calls to our copy of
    the DICT's buckets (``app.ratelimit``). Off only to measure without it."""
    value = _env("DICT_LIMITER", "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"DICT_LIMITER must be on or off, not {value!r}")
    return value == "on"


@functools.cache
def rate_limit_readings() -> RateLimitReadingSettings:
    poll_s = float(_env("RATE_LIMIT_POLL_S", "60"))
    retention = int(_env("RATE_LIMIT_RETENTION_MONTHS", "13"))
    if poll_s <= 0 or retention < 1:
        raise ValueError("RATE_LIMIT_POLL_S must be > 0 and RATE_LIMIT_RETENTION_MONTHS >= 1")
    return RateLimitReadingSettings(poll_s=poll_s, retention_months=retention)


@functools.cache
def history() -> HistorySettings:
    retention = int(_env("HISTORY_RETENTION_MONTHS", "60"))
    archive = int(_env("HISTORY_ARCHIVE_MONTHS", "0"))
    if retention < 1 or archive < 0:
        raise ValueError("HISTORY_RETENTION_MONTHS must be >= 1 and HISTORY_ARCHIVE_MONTHS >= 0")
    return HistorySettings(retention_months=retention, archive_months=archive)


EVENT_RETENTION_DAYS = 30
"""EVENT_RETENTION_DAYS's default (``docs/events.md`` states it)."""


@functools.cache
def events() -> EventSettings:
    days = int(_env("EVENT_RETENTION_DAYS", str(EVENT_RETENTION_DAYS)))
    if days < 1:
        raise ValueError("EVENT_RETENTION_DAYS must be >= 1")
    return EventSettings(retention_days=days)


OUTBOX_RETENTION_DAYS = 7
"""OUTBOX_RETENTION_DAYS's default."""
OUTBOX_ARCHIVE_MONTHS = 3
"""OUTBOX_ARCHIVE_MONTHS's default: past the 80 days within which an infraction report
may name a transaction."""


@functools.cache
def outbox() -> OutboxSettings:
    days = int(_env("OUTBOX_RETENTION_DAYS", str(OUTBOX_RETENTION_DAYS)))
    months = int(_env("OUTBOX_ARCHIVE_MONTHS", str(OUTBOX_ARCHIVE_MONTHS)))
    if days < 1 or months < 1:
        raise ValueError("OUTBOX_RETENTION_DAYS and OUTBOX_ARCHIVE_MONTHS must be >= 1")
    return OutboxSettings(retention_days=days, archive_months=months)


def reset() -> None:
    """Forget cached settings (tests change the environment)."""
    for fn in (
        database,
        redis,
        bridge,
        clock,
        api,
        sync,
        lookups,
        med,
        rate_limit_readings,
        history,
    ):
        fn.cache_clear()
    probes.cache_clear()  # one cached struct per process name
    events.cache_clear()
    outbox.cache_clear()
