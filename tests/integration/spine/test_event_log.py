"""Events for core banking survive Redis: PostgreSQL logs each under an id, the streams
are only the push channel, and ``GET /v1/events?after=`` gives back every event, in the
order a reader can rely on (docs/events.md, issue 15)."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis as redis_lib
from litestar.testing import TestClient

from actors import spine  # the worker's actors, on their broker
from app import clock, db, events, outbox, queue, settings
from app.api import auth
from app.api.app import create_app
from app.repo import event_log
from app.security import create_api_key


@pytest.fixture
def streams(redis_url: str) -> Iterator[redis_lib.Redis]:
    queue.broker.cache_clear()
    spine._pushes = None  # the pushes' client, for this test's Redis
    yield redis_lib.Redis.from_url(redis_url)
    spine._pushes = None
    queue.broker.cache_clear()


@pytest.fixture
def api(database_url: str, streams: redis_lib.Redis) -> Iterator[TestClient[Any]]:
    auth.cache.clear()
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(conn, "core-banking", ["events:read"])
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    auth.cache.clear()


def entry_event(n: int) -> outbox.Effect:
    entry_id = str(uuid.UUID(int=n))
    payload = events.EntryEvent(
        entry_id=entry_id, key_type="EVP", key=str(uuid.uuid4()), status="active"
    )
    return outbox.event("entries.created", payload, subject=f"entry:{entry_id}")


def emit(*ns: int) -> list[int]:
    """Commit one change per event, as the entry machine does; their outbox ids."""
    written = []
    for n in ns:
        with outbox.step() as s:
            s.add([entry_event(n)])
        written += [d.id for d in s.dispatches]
    return written


def read_all(api: TestClient[Any], after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Every event after ``after``, page by page, as a consumer catches up."""
    found: list[dict[str, Any]] = []
    while True:
        page = api.get("/v1/events", params={"after": after, "limit": limit})
        assert page.status_code == 200, page.text
        body = page.json()
        found += body["items"]
        if len(body["items"]) < limit:
            assert body["next_after"] == (found[-1]["id"] if found else after)
            return found
        after = body["next_after"]


def entry_ids(found: list[dict[str, Any]]) -> list[str]:
    return [e["payload"]["entry_id"] for e in found]


def stream(r: redis_lib.Redis, name: str = events.STREAM) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in r.xrange(name)]


def test_every_event_survives_a_redis_flush_and_is_read_back_in_order(
    api: TestClient[Any], streams: redis_lib.Redis
) -> None:
    emit(*range(1, 51))
    spine.publish_events()  # what each event's publish_event message does
    assert len(stream(streams)) == 50
    assert len(stream(streams, events.stream_of("entries.created"))) == 50

    streams.flushdb()  # Redis restarted without persistence
    emit(*range(51, 81))  # ... and lost these events' messages too
    streams.flushdb()
    spine.publish_events()  # the relay's pass, within a minute

    found = read_all(api, limit=7)
    assert entry_ids(found) == [str(uuid.UUID(int=n)) for n in range(1, 81)]
    ids = [e["id"] for e in found]
    assert ids == sorted(set(ids))
    assert {e["topic"] for e in found} == {"entries.created"}
    assert all(e["payload"]["status"] == "active" for e in found)
    assert [e["event_id"] for e in stream(streams)] == [str(i) for i in ids[50:]]


def test_a_late_commit_is_never_skipped_by_a_reader_that_read_past_it(
    api: TestClient[Any],
) -> None:
    """The late transaction writes its event first and commits last: its event still
    comes after everything a reader has already read."""
    with db.pool().connection() as late, late.transaction():
        (late_row,) = outbox.write(late, [entry_event(1)], clock.now())
        (early_row,) = emit(2)
        spine.publish_events()
        first = read_all(api)
        assert entry_ids(first) == [str(uuid.UUID(int=2))]
    assert late_row.id < early_row  # the late one took its outbox id first
    spine.publish_events()

    after = read_all(api, after=first[-1]["id"])
    assert entry_ids(after) == [str(uuid.UUID(int=1))]
    assert after[0]["id"] > first[-1]["id"]


def test_ids_given_by_a_pass_still_committing_are_not_overtaken(
    api: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One publisher at a time: while a pass has given ids and not committed them, no
    other pass gives later ids that a reader could read past them."""
    emit(1)
    with db.pool().connection() as slow:
        assert event_log.try_lock(slow)
        with slow.transaction():
            assert event_log.append(slow, clock.now(), 1000) == 1  # not committed yet
            emit(2)
            spine.publish_events()  # another worker's message meanwhile
            first = read_all(api)
        event_log.unlock(slow)
    spine.publish_events()

    assert entry_ids(first + read_all(api, after=first[-1]["id"] if first else 0)) == [
        str(uuid.UUID(int=n)) for n in (1, 2)
    ]


def test_an_event_committed_while_another_pass_runs_is_published_by_that_pass(
    api: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message that finds the lock taken returns at once (its outbox row is then
    done); the pass holding the lock looks again after releasing it."""
    emit(1)
    unlock = event_log.unlock
    meanwhile: list[int] = []

    def unlock_after_another_message(conn: db.Conn) -> None:
        if not meanwhile:
            meanwhile.extend(emit(2))
            other = threading.Thread(target=spine.publish_events)  # finds the lock taken
            other.start()
            other.join()
        unlock(conn)

    monkeypatch.setattr(event_log, "unlock", unlock_after_another_message)
    spine.publish_events()

    assert entry_ids(read_all(api)) == [str(uuid.UUID(int=n)) for n in (1, 2)]


def _write(w: int, n: int) -> None:
    """``n`` changes, each committing a random while after it wrote its event."""
    rnd = random.Random(w)
    for i in range(n):
        with outbox.step() as s:
            s.add([entry_event(w * 1000 + i)])
            time.sleep(rnd.random() / 100)


def _publish_until(stop: threading.Event) -> None:
    """A worker thread running publish_event messages back to back."""
    while not stop.is_set():
        spine.publish_events()
        time.sleep(0.001)


def _follow(seen: list[tuple[int, str]], stop: threading.Event) -> None:
    """A consumer reading by ``after`` until ``stop`` and nothing is left."""
    after = 0
    while True:
        finished = stop.is_set()
        with db.pool().connection() as conn:
            page = event_log.after(conn, after, 1000)
        seen.extend((r.id, r.payload["entry_id"]) for r in page)
        after = page[-1].id if page else after
        if finished and not page:
            return


def test_a_reader_racing_publishers_and_late_commits_misses_nothing(
    api: TestClient[Any],
) -> None:
    """Writers commit after random delays, three publishers run at once, and a reader
    follows the log by ``after`` all along: it sees every event, once, in id order."""
    writers, per_writer = 6, 15
    written, done = threading.Event(), threading.Event()
    seen: list[tuple[int, str]] = []
    workers = [threading.Thread(target=_write, args=(w, per_writer)) for w in range(writers)]
    publishers = [threading.Thread(target=_publish_until, args=(written,)) for _ in range(3)]
    reader = threading.Thread(target=_follow, args=(seen, done))
    for t in [*workers, *publishers, reader]:
        t.start()
    for t in workers:
        t.join()
    written.set()
    for t in publishers:
        t.join()
    spine.publish_events()  # what the last publisher may have left
    done.set()
    reader.join()

    expected = [str(uuid.UUID(int=w * 1000 + i)) for w in range(writers) for i in range(per_writer)]
    assert sorted(entry for _, entry in seen) == sorted(expected)
    assert [i for i, _ in seen] == sorted(i for i, _ in seen)
    assert entry_ids(read_all(api)) == [entry for _, entry in seen]


def test_a_consumer_of_the_stream_sees_the_gap_and_catches_up_from_the_api(
    api: TestClient[Any], streams: redis_lib.Redis
) -> None:
    """docs/events.md, "What a consumer does": remember the last id; an entry whose
    previous_event_id is not it means events were missed."""
    emit(1, 2, 3, 4, 5)
    spine.publish_events()
    entries = stream(streams)
    assert [set(e) for e in entries] == [set(events.STREAM_FIELDS)] * 5
    per_topic = stream(streams, events.stream_of("entries.created"))
    assert [set(e) for e in per_topic] == [set(events.STREAM_FIELDS) - {"previous_event_id"}] * 5
    assert [e["event_id"] for e in per_topic] == [e["event_id"] for e in entries]
    chain = [e["previous_event_id"] for e in entries[1:]]
    assert chain == [e["event_id"] for e in entries[:-1]] and entries[0]["previous_event_id"] == "0"
    assert json.loads(entries[0]["payload"])["entry_id"] == str(uuid.UUID(int=1))
    last = int(entries[2]["event_id"])  # the consumer processed three when Redis was flushed

    streams.flushdb()
    emit(6, 7)
    spine.publish_events()

    first = stream(streams)[0]
    assert int(first["previous_event_id"]) != last  # the gap shows
    missed = read_all(api, after=last)
    assert entry_ids(missed) == [str(uuid.UUID(int=n)) for n in (4, 5, 6, 7)]
    assert str(missed[-1]["id"]) == stream(streams)[-1]["event_id"]


def test_a_push_redis_refused_is_made_by_the_next_pass(
    api: TestClient[Any],
    streams: redis_lib.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emit(1, 2)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    settings.reset()
    spine._pushes = None
    spine.publish_events()  # logs them, cannot push: warns, raises nothing

    assert entry_ids(read_all(api)) == [str(uuid.UUID(int=n)) for n in (1, 2)]
    assert stream(streams) == []
    monkeypatch.setenv("REDIS_URL", redis_url)  # Redis answers again
    settings.reset()
    spine._pushes = None
    emit(3)
    spine.publish_events()

    pushed = [json.loads(e["payload"])["entry_id"] for e in stream(streams)]
    assert pushed == [str(uuid.UUID(int=n)) for n in (1, 2, 3)]


def test_the_relay_publishes_what_no_message_asked_for(
    api: TestClient[Any], streams: redis_lib.Redis
) -> None:
    emit(1)
    streams.flushdb()  # the event's publish_event message is gone
    spine.relay.fn()
    assert entry_ids(read_all(api)) == [str(uuid.UUID(int=1))]
    assert len(stream(streams)) == 1


def test_maintenance_removes_events_past_retention_and_the_api_says_so(
    api: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_RETENTION_DAYS", "10")
    settings.reset()
    start = clock.now()
    with clock.freeze(start):
        emit(1, 2)
        spine.publish_events()
    with clock.freeze(start + timedelta(days=9)):
        emit(3)
        spine.publish_events()
    old = read_all(api)
    with clock.freeze(start + timedelta(days=10, minutes=1)):
        spine.maintenance.fn()

    assert entry_ids(read_all(api)) == [str(uuid.UUID(int=3))]
    gone = api.get("/v1/events", params={"after": old[0]["id"]})
    assert gone.status_code == 410, gone.text
    assert gone.json()["type"].endswith("/events-pruned")
    assert f"after={old[1]['id']}" in gone.json()["detail"]
    resumed = api.get("/v1/events", params={"after": old[1]["id"]}).json()
    assert entry_ids(resumed["items"]) == [str(uuid.UUID(int=3))]


def test_publication_reads_only_the_events_not_pushed_yet(database_url: str) -> None:
    """The log keeps EVENT_RETENTION_DAYS of events; each publication pass must start at
    the last id pushed, not walk the log from its first id (issue 16's bank day)."""
    with db.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO event_log (topic, payload, occurred_at, logged_at, outbox_id) "
            "SELECT 'entries.created', '{}', now(), now(), -n FROM generate_series(1, 20000) n"
        )
        conn.execute("UPDATE event_log_state SET pushed_through = (SELECT max(id) FROM event_log)")
        conn.execute("ANALYZE event_log")
        conn.execute("ANALYZE event_log_state")
        sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + db.q("event_log.unpushed")
        (plan,) = conn.execute(sql, {"limit": 500}).fetchone().values()

    def scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if node.get("Relation Name") == "event_log":
            yield node
        for child in node.get("Plans", []):
            yield from scans(child)

    (scan,) = scans(plan[0]["Plan"])
    assert "Index Cond" in scan, scan  # the range starts at pushed_through
    assert scan["Actual Rows"] == 0  # not 20,000 rows read and filtered out


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": "x"}, "after"),
        ({"after": 2**63}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
    ],
)
def test_a_bad_cursor_or_limit_is_refused_naming_it(
    api: TestClient[Any], params: dict[str, Any], field: str
) -> None:
    refused = api.get("/v1/events", params=params)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == [field]


def test_reading_events_needs_the_events_scope(api: TestClient[Any], database_url: str) -> None:
    with db.connect(database_url, autocommit=True) as conn:
        other = create_api_key(conn, "entries-only", ["entries:read"])
    assert api.get("/v1/events", headers={"Authorization": ""}).status_code == 401
    wrong = api.get("/v1/events", headers={"Authorization": f"Bearer {other}"})
    assert wrong.status_code == 403
