-- Polling state: where each poller resumes (poll_cursors) and the claims a poll could
-- not apply (claim_poll_failures), with the session lock that keeps one claims poller.

-- name: failed
-- A claim the poll could not apply: kept to be retried by every poll (and alerted).
INSERT INTO claim_poll_failures (dict_id, error, first_at, last_at)
VALUES (%(dict_id)s, %(error)s, %(now)s, %(now)s)
ON CONFLICT (dict_id) DO UPDATE
SET error = excluded.error, attempts = claim_poll_failures.attempts + 1,
    last_at = excluded.last_at;

-- name: failures
-- Failures of earlier polls (one that failed in this poll is not tried twice in it).
SELECT dict_id FROM claim_poll_failures WHERE last_at < %(before)s
ORDER BY last_at LIMIT %(limit)s;

-- name: recovered
-- Claims applied at last: forget their failure, and the anomaly it had set.
WITH gone AS (DELETE FROM claim_poll_failures WHERE dict_id = ANY(%(dict_ids)s) RETURNING dict_id)
UPDATE claims SET anomaly = NULL
WHERE dict_id IN (SELECT dict_id FROM gone) AND anomaly LIKE 'poll could not apply%%';

-- name: cursor
SELECT modified_after FROM poll_cursors WHERE name = %(name)s;

-- name: save_cursor
INSERT INTO poll_cursors (name, modified_after, updated_at)
VALUES (%(name)s, %(modified_after)s, %(now)s)
ON CONFLICT (name) DO UPDATE
SET modified_after = greatest(poll_cursors.modified_after, excluded.modified_after),
    updated_at = excluded.updated_at;

-- name: polled
-- A poll went through the whole list (the cursor row may not exist yet: nothing listed).
INSERT INTO poll_cursors (name, modified_after, updated_at, polled_at)
VALUES (%(name)s, %(since)s, %(now)s, %(now)s)
ON CONFLICT (name) DO UPDATE SET polled_at = excluded.polled_at;

-- name: health
-- The stalled-poller, failure and anomaly gauges.
SELECT (SELECT polled_at FROM poll_cursors WHERE name = 'claims') AS polled_at,
       (SELECT count(*) FROM claim_poll_failures) AS failures,
       (SELECT count(*) FROM claims WHERE anomaly IS NOT NULL) AS anomalies;

-- name: try_lock
SELECT pg_try_advisory_lock(hashtext('dict-connect.poll.claims')) AS locked;

-- name: unlock
SELECT pg_advisory_unlock(hashtext('dict-connect.poll.claims'));

-- name: item_failed
-- An item of a MED list the poll could not apply: retried by every poll of that list.
INSERT INTO poll_failures (poller, dict_id, error, first_at, last_at)
VALUES (%(poller)s, %(dict_id)s, %(error)s, %(now)s, %(now)s)
ON CONFLICT (poller, dict_id) DO UPDATE
SET error = excluded.error, attempts = poll_failures.attempts + 1, last_at = excluded.last_at;

-- name: item_failures
-- Failures of earlier passes of this poll (one that failed in this pass waits for the next).
SELECT dict_id FROM poll_failures WHERE poller = %(poller)s AND last_at < %(before)s
ORDER BY last_at LIMIT %(limit)s;

-- name: item_recovered
DELETE FROM poll_failures WHERE poller = %(poller)s AND dict_id = %(dict_id)s;
