-- The outbox: see sql/migrations/0001_spine.sql for the status lifecycle.

-- name: insert
-- A row due within the relay horizon is written already 'dispatched' (with a lease)
-- and enqueued right after commit; later rows wait 'pending' for the relay.
INSERT INTO outbox (actor, queue, args, kind, subject, dedupe_key, status, deliver_at,
                    created_at, dispatched_at, lease_until, attempts, trace_context)
VALUES (%(actor)s, %(queue)s, %(args)s, %(kind)s, %(subject)s, %(dedupe_key)s, %(status)s,
        %(deliver_at)s, %(created_at)s, %(dispatched_at)s, %(lease_until)s, %(attempts)s,
        %(trace_context)s)
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'dispatched')
DO NOTHING
RETURNING id;

-- name: cancel
-- Cancel a timer that no longer applies; a row already dispatched runs, and its
-- actor finds the subject moved on (actors are idempotent).
UPDATE outbox SET status = 'cancelled', finished_at = %(now)s
WHERE dedupe_key = %(dedupe_key)s AND status = 'pending'
RETURNING id;

-- name: claim_due
-- Each row goes with the trace context of the transaction that wrote it (app.tracing).
UPDATE outbox o
SET status = 'dispatched', dispatched_at = %(now)s, attempts = o.attempts + 1,
    lease_until = greatest(o.deliver_at, %(now)s) + make_interval(secs => %(lease_s)s)
FROM (SELECT id FROM outbox
      WHERE status = 'pending' AND deliver_at <= %(horizon)s
      ORDER BY deliver_at
      LIMIT %(limit)s
      FOR UPDATE SKIP LOCKED) due
WHERE o.id = due.id
RETURNING o.id, o.actor, o.queue, o.args, o.deliver_at, o.trace_context;

-- name: expire_leases
-- A dispatched row neither done nor failed after its lease: its message was lost.
UPDATE outbox o SET status = 'pending', last_error = 'lease expired; re-dispatching'
FROM (SELECT id FROM outbox
      WHERE status = 'dispatched' AND lease_until < %(now)s
      LIMIT %(limit)s
      FOR UPDATE SKIP LOCKED) expired
WHERE o.id = expired.id
RETURNING o.id;

-- name: mark_done
UPDATE outbox SET status = 'done', finished_at = %(now)s
WHERE id = %(id)s AND status IN ('dispatched', 'pending');

-- name: mark_failed
UPDATE outbox SET status = 'failed', finished_at = %(now)s, last_error = %(error)s
WHERE id = %(id)s AND status IN ('dispatched', 'pending');

-- name: mark_retrying
UPDATE outbox
SET last_error = %(error)s,
    lease_until = greatest(lease_until, %(now)s + make_interval(secs => %(lease_s)s))
WHERE id = %(id)s AND status = 'dispatched';

-- name: live
-- The rows of a batch message still to work (a duplicate delivery finds them done).
SELECT id FROM outbox WHERE id = ANY(%(ids)s) AND status = 'dispatched' ORDER BY id;

-- name: lock_batch
-- A batch's transaction locks its rows still dispatched, in id order (two deliveries of
-- one batch apply it once: the second waits here, then finds the rows done), and defers
-- its VSync moves to its end (end_batch; migration 0023).
WITH deferred AS (SELECT set_config('dict.vsync_deferred', 'on', true))
SELECT id, attempts FROM outbox, deferred
WHERE id = ANY(%(ids)s) AND status = 'dispatched'
ORDER BY id
FOR UPDATE OF outbox;

-- name: end_batch
-- The rows applied are done, and the batch's VSync moves are applied, a shard at a time
-- in one order (vsync_flush, migration 0023), just before the commit.
WITH done AS (
    UPDATE outbox SET status = 'done', finished_at = %(now)s
    WHERE id = ANY(%(ids)s) AND status IN ('dispatched', 'pending')
)
SELECT vsync_flush();

-- name: retry_later
-- A row of a batch whose work raised: the others commit, this one is handed out again
-- alone after its backoff (re-sent now with that delay, its lease past it), one more
-- attempt counted.
UPDATE outbox
SET last_error = %(error)s, attempts = attempts + 1, deliver_at = %(at)s,
    lease_until = %(at)s + make_interval(secs => %(lease_s)s)
WHERE id = %(id)s AND status = 'dispatched'
RETURNING id, actor, queue, args, deliver_at, trace_context;

-- name: backlog
SELECT count(*) FILTER (WHERE status = 'pending' AND deliver_at <= %(now)s) AS due,
       min(deliver_at) FILTER (WHERE status = 'pending' AND deliver_at <= %(now)s) AS oldest_due,
       count(*) FILTER (WHERE status = 'dispatched') AS in_flight,
       count(*) FILTER (WHERE status = 'failed') AS dead
FROM outbox WHERE status IN ('pending', 'dispatched', 'failed');

-- name: prune_done
-- One slice of the prune, in id order after %(after)s (the primary key's order: the old
-- rows first), moved into outbox_archive (migration 0024) without an event's payload;
-- the caller loops until a slice comes back short.
WITH slice AS (
    SELECT id FROM outbox
    WHERE id > %(after)s AND status IN ('done', 'cancelled') AND finished_at < %(before)s
    ORDER BY id
    LIMIT %(limit)s
), moved AS (
    DELETE FROM outbox o USING slice WHERE o.id = slice.id
    RETURNING o.*
)
INSERT INTO outbox_archive (id, actor, queue, args, kind, subject, dedupe_key, status,
                            deliver_at, created_at, dispatched_at, finished_at, attempts,
                            last_error, trace_context)
SELECT id, actor, queue, CASE kind WHEN 'event' THEN args - 'payload' ELSE args END, kind,
       subject, dedupe_key, status, deliver_at, created_at, dispatched_at, finished_at,
       attempts, last_error, trace_context
FROM moved
RETURNING id;

-- name: archive_partitions
-- The maintenance step: the archive's partition of this month and the next `ahead`
-- months', and the months wholly older than OUTBOX_ARCHIVE_MONTHS dropped (migration 0024).
SELECT action, partition_name
FROM month_partitions('outbox_archive', 'finished_at', %(now)s, %(ahead)s, %(months)s);

-- name: by_status
SELECT id, actor, subject, attempts FROM outbox WHERE status = %(status)s ORDER BY id;

-- name: defer
-- Our limiter held the call back: the row is handed out again at %(at)s (re-sent now with
-- that delay; the lease past it re-dispatches it if the message is lost); not an
-- attempt, not an error.
UPDATE outbox
SET deliver_at = %(at)s, lease_until = %(at)s + make_interval(secs => %(lease_s)s)
WHERE id = %(id)s AND status = 'dispatched'
RETURNING id, actor, queue, args, deliver_at, trace_context;

-- name: lock_redis_epoch
-- The Redis the relay last saw (migration 0021); locked, so relays compare one at a time.
SELECT epoch FROM relay_redis FOR UPDATE;

-- name: set_redis_epoch
UPDATE relay_redis SET epoch = %(epoch)s, changed_at = %(now)s;

-- name: hand_back_all
-- Redis lost its messages (flushed, restarted): every dispatched row goes back to the
-- relay at once, keeping its deliver_at. A message that did survive runs twice, which
-- idempotent actors and the DICT's RequestId make harmless.
UPDATE outbox SET status = 'pending', last_error = 'Redis lost its messages; re-dispatching'
WHERE status = 'dispatched';
