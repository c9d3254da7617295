-- The event log (sql/migrations/0020_event_log.sql): publication, reading, retention.

-- name: try_lock
-- Publication runs one at a time: a session lock, released by unlock (or when the
-- connection ends).
SELECT pg_try_advisory_lock(%(key)s) AS locked;

-- name: unlock
SELECT pg_advisory_unlock(%(key)s) AS unlocked;

-- name: append
-- Publication, under the lock: move what has committed into the log, in outbox order,
-- each event taking its id here. One statement, so the batch's ids become visible together
-- and before the lock is released. Every pending row has its outbox row (a foreign key).
-- An event row written by hand without a topic or a payload is logged as it is: it never
-- blocks the others. Each logged event's outbox row is done. Answers how many were taken (fewer than the limit: none is left).
WITH moved AS (
    DELETE FROM event_log_pending
    WHERE outbox_id IN (SELECT outbox_id FROM event_log_pending
                        ORDER BY outbox_id
                        LIMIT %(limit)s
                        FOR UPDATE SKIP LOCKED)  -- never waits: under the lock none is held
    RETURNING outbox_id
), logged AS (
    INSERT INTO event_log (topic, payload, subject, occurred_at, logged_at, outbox_id)
    SELECT coalesce(o.args ->> 'topic', ''), coalesce(o.args -> 'payload', '{}'), o.subject,
           o.created_at, %(now)s, o.id
    FROM moved JOIN outbox o ON o.id = moved.outbox_id
    ORDER BY o.id
    RETURNING id
), done AS (
    -- the event's outbox row is done once its event is logged: a worker that publishes
    -- after its batch (actors/batch.py) sends no publish_event message to mark it
    UPDATE outbox o SET status = 'done', finished_at = %(now)s
    FROM moved
    WHERE o.id = moved.outbox_id AND o.status IN ('pending', 'dispatched')
)
SELECT count(*) AS moved FROM moved;

-- name: unpushed
-- The events not yet appended to the Redis streams, in id order, each with the id pushed
-- just before it (what a consumer of the whole stream last saw). The bound is a scalar
-- subquery so that it is the index's range condition: as a join, the planner walked
-- event_log from its first id (109 ms at 144,000 rows in the bank day; the log keeps
-- EVENT_RETENTION_DAYS of events).
SELECT e.id, e.topic, e.payload, e.occurred_at,
       coalesce(lag(e.id) OVER (ORDER BY e.id),
                (SELECT pushed_through FROM event_log_state)) AS previous_id
FROM event_log e
WHERE e.id > (SELECT pushed_through FROM event_log_state)
ORDER BY e.id
LIMIT %(limit)s;

-- name: mark_pushed
UPDATE event_log_state SET pushed_through = %(id)s, pushed_at = %(now)s
WHERE pushed_through < %(id)s;

-- name: waiting
-- Anything for publication to do: committed and not logged, or logged and not pushed.
SELECT EXISTS (SELECT 1 FROM event_log_pending)
       OR EXISTS (SELECT 1 FROM event_log
                  WHERE id > (SELECT pushed_through FROM event_log_state)) AS waiting;

-- name: after
-- GET /v1/events: the events after an id, in id order.
SELECT id, topic, occurred_at, payload FROM event_log
WHERE id > %(after)s
ORDER BY id
LIMIT %(limit)s;

-- name: pruned_through
SELECT pruned_through FROM event_log_state;

-- name: prune
-- Retention (the maintenance cron): events logged before %(before)s go, and the last id
-- gone is remembered (GET /v1/events refuses to resume below it).
WITH gone AS (
    DELETE FROM event_log WHERE logged_at < %(before)s RETURNING id
)
UPDATE event_log_state
SET pruned_through = greatest(pruned_through, coalesce((SELECT max(id) FROM gone), 0))
RETURNING (SELECT count(*) FROM gone) AS pruned;

-- name: lag
-- Publication's backlog for the metrics: events committed and not logged, logged and
-- not pushed to the Redis streams, and the commit time of the oldest of them.
SELECT (SELECT count(*) FROM event_log_pending) AS unlogged,
       (SELECT count(*) FROM event_log
        WHERE id > (SELECT pushed_through FROM event_log_state)) AS unpushed,
       least((SELECT min(o.created_at) FROM event_log_pending p
              JOIN outbox o ON o.id = p.outbox_id),
             (SELECT min(occurred_at) FROM event_log
              WHERE id > (SELECT pushed_through FROM event_log_state))) AS oldest;
