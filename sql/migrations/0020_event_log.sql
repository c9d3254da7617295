-- Events for core banking, durable and replayable (issue 15): the event log.
--
-- Until now an event lived only in the Redis stream it was appended to: its outbox row was
-- done once XADD answered, so a Redis without persistence lost events whose rows said done.
-- From here PostgreSQL keeps every event, under an id a consumer resumes from
-- (GET /v1/events?after=<id>); the Redis streams are the push channel, fed from this log.
-- docs/events.md says what a consumer does.
--
-- How an event travels:
--   1. The change's transaction writes the event's outbox row (kind 'event', actor
--      publish_event, args {topic, payload}) as before, and the trigger
--      outbox_event_pending adds the row's id to event_log_pending in that same
--      transaction, whoever wrote it (app.outbox, a one-statement step such as
--      entries.create, psql).
--   2. Publication (actors/spine.py, publish_events: run by each publish_event message
--      and by the relay cron every minute) moves what is pending into event_log, giving
--      each event its id, then appends the new events to the Redis streams and records
--      how far it got (event_log_state.pushed_through).
--
-- Why the id is given at publication, not in the change's transaction. A reader that has
-- read up to id N must never later find a new event with an id <= N. Ids taken from a
-- sequence in the changes' transactions are taken in statement order but become visible
-- in commit order: a transaction that took 41 and commits after the one that took 42 is
-- skipped by a reader that already read 42. Reading only below pg_snapshot_xmin() does
-- not repair an id cursor (an old transaction may take a larger id than a younger one
-- still open); it needs a cursor of (xid8, id), which is not the id a consumer dedupes by.
-- Taking the id at commit under a lock (a deferred trigger) serialises every transaction
-- that emits an event: pgbench, 16 clients, each transaction an UPDATE and an event,
-- went from 3,570 to 1,010 commits/s on this project's 2-core machine. So one
-- publisher at a time (a session advisory lock, app/repo/event_log.py) numbers what has
-- committed, each batch in one statement that commits before the lock is released: ids
-- become visible in the order they are given, and the changes' transactions only add an
-- 8-byte row to event_log_pending. Within a batch, events take ids in outbox order, so two
-- changes of one subject (serialised by its row lock) keep their order.
--
-- Ids continue above every outbox id used so far: the streams' event_id was the outbox
-- row's id until now, and a consumer deduping by it must not take a new event for an old
-- one. After a restore from a backup the sequence must jump like outbox's
-- (docs/runbooks/restore.md, step 4). An event whose outbox row is not done, or failed (it
-- never reached Redis), is pending from here. While old workers still run during the
-- upgrade, an event they publish may reach the streams again under its new id.

CREATE TABLE event_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    payload     jsonb NOT NULL,
    subject     text,
    occurred_at timestamptz NOT NULL,
    logged_at   timestamptz NOT NULL,
    outbox_id   bigint NOT NULL UNIQUE
);
COMMENT ON TABLE event_log IS
    'Every event for core banking, in id order (GET /v1/events?after=<id>); kept EVENT_RETENTION_DAYS (default 30) after logged_at, then removed by the maintenance cron. Only publication (app/repo/event_log.py, under its lock) inserts here: never insert by hand, insert an outbox row of kind event instead';
COMMENT ON COLUMN event_log.id IS
    'The event id (event_id in the Redis streams): given at publication, in the order readers see the events; gaps are possible (a failed publication, the jump after a restore)';
COMMENT ON COLUMN event_log.occurred_at IS 'The time of the change that caused the event (its outbox row''s created_at)';
COMMENT ON COLUMN event_log.logged_at IS 'When publication logged it; what retention goes by';
COMMENT ON COLUMN event_log.outbox_id IS 'The outbox row (kind event) written with the change';
-- Rows are inserted in logged_at order and never updated: a BRIN index suits the pruning.
CREATE INDEX event_log_logged_at ON event_log USING brin (logged_at);

SELECT setval(pg_get_serial_sequence('event_log', 'id'),
              coalesce(pg_sequence_last_value(pg_get_serial_sequence('outbox', 'id')::regclass),
                       0) + 1,
              false);

CREATE TABLE event_log_pending (
    outbox_id bigint PRIMARY KEY REFERENCES outbox (id)
);
COMMENT ON TABLE event_log_pending IS
    'Events committed and not yet in event_log (their outbox rows: topic and payload). Written by the trigger outbox_event_pending in the change''s transaction, emptied by publication within a second, or within a minute by the relay cron. The foreign key keeps the outbox''s pruning from removing an event not yet logged';

CREATE FUNCTION event_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_log_pending (outbox_id) VALUES (NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_event_pending AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.kind = 'event') EXECUTE FUNCTION event_pending();

INSERT INTO event_log_pending (outbox_id)
SELECT id FROM outbox
WHERE kind = 'event' AND status IN ('pending', 'dispatched', 'failed')
ORDER BY id;

-- One row: how far publication pushed the log to Redis, and how far retention pruned it.
CREATE TABLE event_log_state (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    pushed_through bigint NOT NULL DEFAULT 0,
    pushed_at      timestamptz,
    pruned_through bigint NOT NULL DEFAULT 0
);
COMMENT ON COLUMN event_log_state.pushed_through IS
    'The last event id appended to the Redis streams; publication pushes the ids above it, in order (a Redis failure leaves it behind, and the next pass pushes again from here)';
COMMENT ON COLUMN event_log_state.pruned_through IS
    'The last event id retention removed: GET /v1/events answers 410 to an after below it (the consumer missed events that are gone)';
INSERT INTO event_log_state DEFAULT VALUES;

CREATE VIEW ops.event_publication AS
SELECT (SELECT count(*) FROM event_log_pending) AS pending,
       (SELECT min(o.created_at) FROM event_log_pending p JOIN outbox o ON o.id = p.outbox_id)
           AS oldest_pending_since,
       (SELECT max(id) FROM event_log) AS last_id,
       s.pushed_through,
       s.pushed_at,
       s.pruned_through
FROM event_log_state s;
COMMENT ON VIEW ops.event_publication IS
    'Events for core banking. pending above 0 for more than a minute: no worker publishes (docs/runbooks/processes.md). last_id above pushed_through for more than a minute: Redis refuses the pushes; core banking still reads every event from GET /v1/events';
