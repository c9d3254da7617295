"""Property-based tests: the validators, and the outbox relay under random schedules.

**Validators** (``app.domain``, ``app.api.inputs``). For generated valid input they
accept (and normalise it to the form the DICT stores, idempotently); for generated
invalid input they refuse with an error naming the field. Where the database is the
other judge it is asked too: every amount accepted is stored by ``numeric(15,2)``
unchanged, and the input guard refuses a date exactly when PostgreSQL's
``timestamptz`` would (an offset of 16 hours or more), and text exactly when PostgreSQL
cannot store it (a NUL).

**The relay** (``app.outbox``). A random schedule of tasks and timers is written through
``step()`` while the clock jumps forward (and stands still through repeated ticks at
one instant); relay passes run; this test plays the worker: it reads what was
enqueued to Redis, runs each message through the worker's ``OutboxMiddleware`` once its
delivery time has come, and on the way loses some messages, delivers some twice, holds
some back, and lets Redis lose everything. Then time runs on until the outbox is quiet,
and every effect must have been handed out and completed exactly once in effect, none
before its ``deliver_at``; a cancelled timer is never handed out after its cancellation
and a completed row never again.

Deterministic (derandomized). Bench size, many more examples::

    FAULTS_SIZE=bench TEST_REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/pytest -q tests/faults/test_properties.py
"""

from __future__ import annotations

import os
import string
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import dramatiq
import msgspec
import psycopg
import pytest
import redis as redis_lib
from dramatiq.broker import MessageProxy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.middleware import OutboxMiddleware  # imports actors/ first: its broker is set
from app import clock, db, outbox, queue
from app.api import inputs
from app.domain import keys, refunds
from app.domain.fixtures import make_cnpj, make_cpf
from app.domain.keys import Account, Owner, ValidationError

SIZE = os.environ.get("FAULTS_SIZE", "ci")
PURE = settings(
    max_examples={"ci": 150, "bench": 5_000}[SIZE], derandomize=True, database=None, deadline=None
)
"""The validators: pure functions, microseconds an example."""
WITH_DB = settings(
    PURE,
    max_examples={"ci": 60, "bench": 2_000}[SIZE],
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # read-only queries
)
RELAY = settings(
    PURE,
    max_examples={"ci": 25, "bench": 500}[SIZE],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""The relay: each example starts from an empty outbox and an empty Redis db."""


def _fields(error: ValidationError) -> set[str]:
    return {v.field for v in error.violations}


def _refused(key_type: str, key: str) -> set[str]:
    with pytest.raises(ValidationError) as refused:
        keys.normalize_key(key_type, key)
    return _fields(refused.value)


# --- keys -------------------------------------------------------------------------


def _textbook_check_digit(digits: str) -> str:
    """Mod 11 as the Receita Federal states it: weights rising from 2 at the right,
    remainder below 2 gives 0, else 11 minus it (for a CNPJ, weights cycle 2 to 9)."""
    cycle = 9 if len(digits) >= 12 else len(digits) + 1
    total = sum(int(d) * (2 + i % (cycle - 1)) for i, d in enumerate(reversed(digits)))
    r = total % 11
    return "0" if r < 2 else str(11 - r)


def _textbook_valid(tax_id: str) -> bool:
    base = tax_id[:-2]
    first = _textbook_check_digit(base)
    return len(set(tax_id)) > 1 and tax_id[-2:] == first + _textbook_check_digit(base + first)


@PURE
@given(st.text(string.digits, min_size=11, max_size=11) | st.integers(0, 10**9).map(make_cpf))
def test_a_cpf_key_is_accepted_exactly_when_its_check_digits_hold(cpf: str) -> None:
    if _textbook_valid(cpf):
        assert keys.normalize_key("CPF", cpf) == cpf
        dotted = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
        assert keys.normalize_key("CPF", f" {dotted} ") == cpf  # as users type it
    else:
        assert _refused("CPF", cpf) == {"key"}


@PURE
@given(st.text(string.digits, min_size=14, max_size=14) | st.integers(0, 10**8).map(make_cnpj))
def test_a_cnpj_key_is_accepted_exactly_when_its_check_digits_hold(cnpj: str) -> None:
    if _textbook_valid(cnpj):
        formatted = f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
        assert keys.normalize_key("CNPJ", formatted) == cnpj
    else:
        assert _refused("CNPJ", cnpj) == {"key"}


@PURE
@given(st.integers(0, 10**9).map(make_cpf), st.data())
def test_a_cpf_with_any_other_check_digits_is_refused(cpf: str, data: st.DataObject) -> None:
    other = data.draw(st.text(string.digits, min_size=2, max_size=2).filter(lambda d: d != cpf[9:]))
    assert _refused("CPF", cpf[:9] + other) == {"key"}


PHONES = st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True)


@PURE
@given(PHONES, st.lists(st.integers(1, 15), max_size=3))
def test_a_phone_key_is_e164_and_loses_the_spaces_it_was_typed_with(
    phone: str, cuts: list[int]
) -> None:
    typed = phone
    for cut in sorted(set(cuts), reverse=True):
        typed = typed[:cut] + " " + typed[cut:]
    assert keys.normalize_key("PHONE", typed) == phone
    assert keys.normalize_key("PHONE", phone) == phone  # idempotent


@PURE
@given(
    st.from_regex(r"[0-9]{2,16}", fullmatch=True)  # no +
    | st.from_regex(r"\+0[0-9]{1,14}", fullmatch=True)  # no country code starts with 0
    | st.from_regex(r"\+[1-9][0-9]{15,20}", fullmatch=True)  # more than 15 digits
    | st.from_regex(r"\+[1-9][0-9]{0,6}[a-z#*][0-9]{1,6}", fullmatch=True)
)
def test_a_phone_key_that_is_not_e164_is_refused(phone: str) -> None:
    assert _refused("PHONE", phone) == {"key"}


_LOCAL = st.text(
    string.ascii_lowercase + string.digits + ".!#$'*+/=?^_`{|}~-", min_size=1, max_size=30
)
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
EMAILS = st.builds(
    lambda local, labels: f"{local}@{'.'.join(labels)}",
    _LOCAL,
    st.lists(_LABEL, min_size=1, max_size=3),
).filter(lambda e: len(e) <= keys.KEY_MAX_LENGTH)


@PURE
@given(EMAILS)
def test_an_email_key_is_accepted_and_stored_in_lowercase(email: str) -> None:
    assert keys.normalize_key("EMAIL", email) == email
    assert keys.normalize_key("EMAIL", f" {email.upper()} ") == email


@PURE
@given(
    EMAILS.map(lambda e: e.replace("@", "&", 1) + "@x.com")  # & is not allowed (v2.6.1)
    | EMAILS.map(lambda e: "%" + e)
    | EMAILS.map(lambda e: e.replace("@", ""))
    | EMAILS.map(lambda e: e + "@" + e)
    | EMAILS.map(lambda e: "a" * (keys.KEY_MAX_LENGTH + 1 - len(e)) + e)  # 78 characters
)
def test_an_email_key_breaking_the_pattern_or_the_length_is_refused(email: str) -> None:
    assert _refused("EMAIL", email) == {"key"}


@PURE
@given(st.uuids())
def test_an_evp_key_is_a_uuid_in_lowercase_and_never_given_at_creation(evp: uuid.UUID) -> None:
    assert keys.normalize_key("EVP", str(evp).upper()) == str(evp)
    assert _refused("EVP", str(evp).replace("-", "")) == {"key"}
    with pytest.raises(ValidationError) as refused:
        keys.validate_entry("EVP", str(evp), ACCOUNT, Owner("NATURAL_PERSON", CPF, "Ana"))
    assert [(v.field, v.rule) for v in refused.value.violations] == [("key", "absent_for_evp")]


@PURE
@given(st.text(max_size=20).filter(lambda t: t not in set(keys.KeyType)))
def test_an_unknown_key_type_is_refused_naming_key_type(key_type: str) -> None:
    with pytest.raises(ValidationError) as refused:
        keys.normalize_key(key_type, "x")
    assert _fields(refused.value) == {"key_type"}


# --- accounts and owners -------------------------------------------------------------

CPF = make_cpf(1)
ACCOUNT = Account("12345678", "1", "123", "CACC", datetime(2020, 3, 1, 3, tzinfo=UTC))
_GOOD = {
    "participant": st.from_regex(r"[0-9]{8}", fullmatch=True),
    "branch": st.none() | st.from_regex(r"[0-9]{1,4}", fullmatch=True),
    "account_number": st.from_regex(r"[0-9]{1,20}", fullmatch=True),
    "account_type": st.sampled_from(list(keys.AccountType)),
    "opening_date": st.datetimes(timezones=st.timezones()),
}
_BAD = {
    "participant": st.from_regex(r"[0-9]{0,7}|[0-9]{9,12}|[0-9]{4}[a-z ][0-9]{3}", fullmatch=True),
    "branch": st.from_regex(r"|[0-9]{5,8}|[0-9]{0,2}[a-z.-][0-9]?", fullmatch=True),
    "account_number": st.from_regex(r"|[0-9]{21,25}|[0-9]{1,5}[-xX ][0-9]{0,3}", fullmatch=True),
    "account_type": st.text(max_size=6).filter(lambda t: t not in set(keys.AccountType)),
    "opening_date": st.none() | st.datetimes(),  # missing, or with no UTC offset
}


@PURE
@given(st.fixed_dictionaries({name: st.booleans() for name in _GOOD}), st.data())
def test_an_account_is_refused_naming_exactly_its_broken_fields(
    broken: dict[str, bool], data: st.DataObject
) -> None:
    values: dict[str, Any] = {
        name: data.draw((_BAD if broken[name] else _GOOD)[name]) for name in _GOOD
    }
    named = {v.field for v in keys.account_violations(Account(**values))}
    assert named == {f"account.{name}" for name, bad in broken.items() if bad}


NAMES = st.from_regex(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ' -]{0,60}", fullmatch=True)


@PURE
@given(st.integers(0, 10**9), NAMES, st.booleans(), st.booleans())
def test_an_owner_is_refused_naming_exactly_its_broken_fields(
    seed: int, name: str, bad_tax_id: bool, bad_name: bool
) -> None:
    tax_id = make_cpf(seed)
    if bad_tax_id:
        tax_id = tax_id[:9] + str((int(tax_id[9]) + 1) % 10) + tax_id[10]
    owner = Owner("NATURAL_PERSON", tax_id, name + ("1" if bad_name else ""))
    named = {v.field for v in keys.owner_violations(owner)}
    expected = {"owner.tax_id"} if bad_tax_id else set()
    assert named == expected | ({"owner.name"} if bad_name else set())


# --- amounts -------------------------------------------------------------------------

CENTS = st.integers(1, int(refunds.AMOUNT_MAX * 100))


@pytest.fixture
def pg(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@WITH_DB
@given(CENTS)
def test_an_accepted_amount_is_stored_by_the_database_unchanged(
    pg: psycopg.Connection[tuple[object, ...]], cents: int
) -> None:
    amount = Decimal(cents).scaleb(-2)
    assert refunds.amount_violations("refund_amount", amount) == []
    assert msgspec.json.decode(msgspec.json.encode(amount), type=Decimal) == amount
    assert pg.execute("SELECT %s::numeric(15,2)", (amount,)).fetchone() == (amount,)


@PURE
@given(
    st.decimals(allow_nan=True, allow_infinity=True).filter(
        lambda d: not d.is_finite() or d <= 0 or d > refunds.AMOUNT_MAX or d != round(d, 2)
    )
)
def test_an_amount_not_positive_or_not_in_cents_is_refused_naming_the_field(
    amount: Decimal,
) -> None:
    violations = refunds.amount_violations("refunded_amount", amount)
    assert [v.field for v in violations] == ["refunded_amount"]


# --- dates and text the database must store ---------------------------------------------

OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1)
INSTANTS = st.datetimes(datetime(1900, 1, 2), datetime(2200, 1, 1))  # noqa: DTZ001 - naive bounds


@WITH_DB
@given(INSTANTS, OFFSETS, st.sampled_from(["T", " ", "t"]))
def test_the_guard_refuses_a_date_exactly_when_timestamptz_would(
    pg: psycopg.Connection[tuple[object, ...]], at: datetime, minutes: int, sep: str
) -> None:
    text = at.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(sep)
    body = msgspec.json.encode({"account": {"opening_date": text}})
    found = inputs.body_errors(body) + inputs.parameter_errors({"from": text}, b"")
    try:
        stored = pg.execute("SELECT %s::text::timestamptz", (text,)).fetchone()
    except psycopg.errors.InvalidTimeZoneDisplacementValue:
        stored = None
    if stored is None:
        assert [(e.field, e.rule) for e in found] == [
            ("account.opening_date", "timezone"),
            ("from", "timezone"),
        ]
    else:
        assert found == []
        assert stored == (datetime.fromisoformat(text),)


@WITH_DB
@given(st.text(max_size=40))
def test_the_guard_refuses_text_exactly_when_postgres_cannot_store_it(
    pg: psycopg.Connection[tuple[object, ...]], text: str
) -> None:
    found = inputs.body_errors(msgspec.json.encode({"owner": {"name": text}}))
    found = [e for e in found if e.rule != "timezone"]  # a date-like text is judged above
    if "\x00" in text:
        assert [(e.field, e.rule) for e in found] == [("owner.name", "no_nul")]
        with pytest.raises(psycopg.DataError):
            pg.execute("SELECT %s::text", (text,))
    else:
        assert found == []
        assert pg.execute("SELECT %s::text", (text,)).fetchone() == (text,)


# --- the relay ---------------------------------------------------------------------------

T0 = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)
"""The frozen clock's start: whole seconds, so every delay is exact in milliseconds."""


@dataclass(frozen=True)
class Write:
    """One step writing these effects: offset 0 a task, others a timer that far away."""

    offsets: list[int]


@dataclass(frozen=True)
class Cancel:
    """One step cancelling a timer written earlier (the n-th, modulo their number)."""

    n: int


@dataclass(frozen=True)
class Jump:
    seconds: int


@dataclass(frozen=True)
class Tick:
    """``relay_tick(now)`` this many times at the same instant."""

    repeats: int


@dataclass(frozen=True)
class Pass:
    """A full relay pass (``relay()``: Redis's losses taken back first)."""


@dataclass(frozen=True)
class Deliver:
    """The worker takes every message due, deciding each one's fate in turn."""

    fates: list[str]


@dataclass(frozen=True)
class Flush:
    """Redis loses every message (restarted empty)."""


_SPECIAL = [-60, 0, 0, 1, 89, 90, 91, 600, 601, 86_400, 7 * 86_400]
WRITES = st.builds(
    Write,
    st.lists(st.sampled_from(_SPECIAL) | st.integers(-120, 3 * 86_400), min_size=1, max_size=4),
)
OPS = st.one_of(
    WRITES,
    st.builds(Cancel, st.integers(0, 20)),
    st.builds(
        Jump, st.sampled_from([0, 1, 60, 89, 90, 600, 601, 86_400]) | st.integers(0, 2 * 86_400)
    ),
    st.builds(Tick, st.integers(1, 3)),
    st.just(Pass()),
    st.builds(
        Deliver,
        st.lists(st.sampled_from(["run", "lose", "twice", "hold"]), min_size=1, max_size=5),
    ),
    st.just(Flush()),
)
SCHEDULES = st.builds(
    lambda first, rest: [first, *rest], WRITES, st.lists(OPS, min_size=5, max_size=30)
)
"""A schedule starts with some work; the rest is drawn from every kind of operation."""


@dataclass
class Sent:
    """A message found in Redis: its outbox row, and when a worker may first run it."""

    message: dramatiq.Message[object]
    outbox_id: int
    available_at: datetime
    runs_left: int = 1


@dataclass
class World:
    """The outbox, Redis (db 15) and a worker played by hand, on a frozen clock."""

    r: redis_lib.Redis
    timers: list[str] = field(default_factory=list)
    written: int = 0
    in_flight: list[Sent] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)  # everything ever enqueued
    applied: Counter[int] = field(default_factory=Counter)  # row → runs that did the work
    completed_at: dict[int, datetime] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    wrong: list[str] = field(default_factory=list)  # handed out after completion or cancel

    def do(self, op: object) -> None:
        match op:
            case Write(offsets):
                self.write(offsets)
            case Cancel(n) if self.timers:
                self.cancel(self.timers[n % len(self.timers)])
            case Jump(seconds):
                clock.advance(timedelta(seconds=seconds))
            case Tick(repeats):
                now = clock.now()
                for _ in range(repeats):
                    outbox.relay_tick(now)
            case Pass():
                outbox.relay()
            case Deliver(fates):
                self.deliver(fates)
            case Flush():
                self.r.flushdb()
                self.in_flight.clear()
        self.drain()

    def write(self, offsets: list[int]) -> None:
        effects = []
        for seconds in offsets:
            if seconds == 0:
                effects.append(outbox.task("probe", tag=f"task-{self.written}"))
            else:
                key = f"timer-{self.written}"
                at = clock.now() + timedelta(seconds=seconds)
                effects.append(outbox.timer("probe", at, dedupe_key=key, tag=key))
                self.timers.append(key)
            self.written += 1
        with outbox.step(actor="faults") as s:
            s.add(effects)

    def cancel(self, key: str) -> None:
        with outbox.step(actor="faults") as s:
            s.add([outbox.cancel_timer(key)])
            row = s.conn.execute(
                "SELECT id FROM outbox WHERE dedupe_key = %s AND status = 'cancelled'", (key,)
            ).fetchone()
        if row is not None:
            self.cancelled.add(row["id"])

    def drain(self) -> None:
        """Take what was enqueued out of Redis, as a worker fetching it would."""
        now = clock.now()
        for name in self.r.scan_iter("dramatiq:*.msgs"):
            for raw in self.r.hgetall(name).values():
                m = dramatiq.Message.decode(cast(bytes, raw))
                eta = m.options.get("eta")
                # The delay Dramatiq was given, on the frozen clock (eta is real time).
                delay = timedelta(milliseconds=eta - m.message_timestamp) if eta else timedelta()
                for row, one in _rows(m):
                    sent = Sent(one, row, now + delay)
                    if row in self.completed_at or row in self.cancelled:
                        self.wrong.append(f"row {row} handed out again at {now}")
                    self.sent.append(sent)
                    self.in_flight.append(sent)
        taken = list(self.r.scan_iter("dramatiq:*"))
        if taken:
            self.r.delete(*taken)

    def deliver(self, fates: list[str]) -> None:
        due = [s for s in self.in_flight if s.available_at <= clock.now()]
        for n, sent in enumerate(due):
            fate = fates[n % len(fates)]
            if fate == "hold":
                continue
            if fate == "twice":
                sent.runs_left += 1
            if fate != "lose":
                self.run(sent)
            sent.runs_left -= 1
            if sent.runs_left <= 0:
                self.in_flight.remove(sent)

    def run(self, sent: Sent) -> None:
        """The actor (idempotent: finding the work done it does nothing), then the
        worker's middleware recording the outcome on the row."""
        with db.pool().connection() as conn:
            status = _one(conn, "SELECT status FROM outbox WHERE id = %s", sent.outbox_id)
            if status in ("pending", "dispatched"):
                self.applied[sent.outbox_id] += 1
                self.completed_at.setdefault(sent.outbox_id, clock.now())
        OutboxMiddleware().after_process_message(queue.broker(), MessageProxy(sent.message))

    def settle(self) -> None:
        """Time runs on past every deadline and lease, the worker runs all it gets."""
        with db.pool().connection() as conn:
            latest = _one(conn, "SELECT max(deliver_at) FROM outbox")
        if latest is not None and latest > clock.now():
            clock.advance(latest - clock.now())
        for _ in range(3):
            clock.advance(timedelta(seconds=1))
            self.do(Tick(1))
            self.do(Deliver(["run"]))
            clock.advance(outbox.LEASE)


def _rows(m: dramatiq.Message[object]) -> list[tuple[int, dramatiq.Message[Any]]]:
    """The rows a message carries, each as its own message: a batch message's rows
    (``outbox_batch``) are each a unit of work with its own outcome (actors/batch.py;
    tests/integration/spine/test_batch.py covers the batch itself)."""
    batch = m.options.get("outbox_batch")
    if batch is None:
        return [(m.options["outbox_id"], cast(Any, m))]
    return [(row, queue.message(row, m.actor_name, m.queue_name, args)) for row, args, _ in batch]


def _one(conn: db.Conn, sql: str, *params: object) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


@pytest.fixture
def world_redis(database_url: str, redis_url: str) -> Iterator[redis_lib.Redis]:
    queue.broker.cache_clear()
    with redis_lib.Redis.from_url(redis_url) as r:
        yield r
    queue.broker.cache_clear()


@RELAY
@given(SCHEDULES)
def test_the_relay_completes_every_effect_once_and_never_early(
    world_redis: redis_lib.Redis, schedule: list[object]
) -> None:
    with db.pool().connection() as conn:
        conn.execute("DELETE FROM outbox")
    world_redis.flushdb()
    world = World(world_redis)
    with clock.freeze(T0):
        for op in schedule:
            world.do(op)
        world.settle()
    with db.pool().connection() as conn:
        rows = conn.execute("SELECT id, status, deliver_at, finished_at FROM outbox").fetchall()

    assert len(rows) == world.written
    assert world.wrong == []
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) <= {"done", "cancelled"}, statuses  # nothing lost, nothing dead
    for r in rows:
        expected = 1 if r["status"] == "done" else 0
        assert world.applied[r["id"]] == expected, r
        if r["status"] == "done":
            assert r["finished_at"] == world.completed_at[r["id"]], r  # recorded once
    deliver_at = {r["id"]: r["deliver_at"] for r in rows}
    early = [s for s in world.sent if s.available_at < deliver_at[s.outbox_id]]
    assert early == []
