-- name: insert
INSERT INTO claims (id, dict_id, role, type, key, key_type, status, dict_status,
                    dict_last_modified, donor_participant, claimer_participant, claimer_branch,
                    claimer_account_number, claimer_account_type, claimer_opening_date,
                    claimer_type, claimer_tax_id, claimer_name, claimer_trade_name, created_at,
                    resolution_period_end, completion_period_end, day30_limit,
                    completion_request_id, entry_id, confirm_reason, cancel_reason,
                    cancelled_by, inserted_at, updated_at)
VALUES (%(id)s, %(dict_id)s, %(role)s, %(type)s, %(key)s, %(key_type)s, %(status)s,
        %(dict_status)s, %(dict_last_modified)s, %(donor_participant)s, %(claimer_participant)s,
        %(claimer_branch)s, %(claimer_account_number)s, %(claimer_account_type)s,
        %(claimer_opening_date)s, %(claimer_type)s, %(claimer_tax_id)s, %(claimer_name)s,
        %(claimer_trade_name)s, %(created_at)s, %(resolution_period_end)s,
        %(completion_period_end)s, %(day30_limit)s, %(completion_request_id)s, %(entry_id)s,
        %(confirm_reason)s, %(cancel_reason)s, %(cancelled_by)s, %(now)s, %(now)s)
ON CONFLICT ON CONSTRAINT claims_dict_id_role DO NOTHING
RETURNING *;

-- name: get
SELECT * FROM claims WHERE id = %(id)s;

-- name: lock
SELECT * FROM claims WHERE id = %(id)s FOR UPDATE;

-- name: open_donor_for_key
SELECT id, status FROM claims
WHERE key = %(key)s AND role = 'DONOR' AND status IN ('open', 'waiting_resolution', 'confirming');

-- name: open_donor
-- Donor claims not yet acknowledged: the poller acknowledges them (oldest first).
SELECT id FROM claims WHERE role = 'DONOR' AND status = 'open'
ORDER BY inserted_at LIMIT %(limit)s;

-- name: set_status
-- The guarded transition, with what the DICT said (every field optional: NULL keeps).
UPDATE claims
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s,
    dict_id = coalesce(%(dict_id)s, dict_id),
    dict_status = coalesce(%(dict_status)s, dict_status),
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    donor_participant = coalesce(%(donor_participant)s, donor_participant),
    created_at = coalesce(%(created_at)s, created_at),
    resolution_period_end = coalesce(%(resolution_period_end)s, resolution_period_end),
    completion_period_end = coalesce(%(completion_period_end)s, completion_period_end),
    day30_limit = coalesce(%(day30_limit)s, day30_limit),
    confirm_reason = coalesce(%(confirm_reason)s, confirm_reason),
    cancel_reason = coalesce(%(cancel_reason)s, cancel_reason),
    cancelled_by = coalesce(%(cancelled_by)s, cancelled_by),
    entry_id = coalesce(%(entry_id)s, entry_id),
    pending = %(pending)s,
    problem_type = %(problem_type)s,
    problem_detail = %(problem_detail)s
WHERE id = %(id)s AND status = %(from_status)s;

-- name: seen
-- What the DICT said, when our status does not move: the newest LastModified wins, so a
-- repeated or lagging list item never turns dict_status back.
UPDATE claims
SET dict_status = CASE WHEN %(dict_last_modified)s::timestamptz IS NULL
                         OR dict_last_modified IS NULL
                         OR %(dict_last_modified)s::timestamptz >= dict_last_modified
                       THEN %(dict_status)s ELSE dict_status END,
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    anomaly = coalesce(%(anomaly)s, anomaly), updated_at = %(now)s
WHERE id = %(id)s;

-- name: unsettled
-- Claims at rest whose last seen DICT status differs from ours (it arrived while a call
-- of ours was in flight): the poll settles them (statemachines.claim.CATCH_UP).
SELECT * FROM claims
WHERE status IN ('open', 'waiting_resolution', 'confirmed') AND dict_status <> upper(status)
ORDER BY updated_at
LIMIT %(limit)s;

-- name: poll_failed
-- A claim the poll could not apply: kept to be retried by every poll (and alerted).
INSERT INTO claim_poll_failures (dict_id, error, first_at, last_at)
VALUES (%(dict_id)s, %(error)s, %(now)s, %(now)s)
ON CONFLICT (dict_id) DO UPDATE
SET error = excluded.error, attempts = claim_poll_failures.attempts + 1,
    last_at = excluded.last_at;

-- name: poll_failures
-- Failures of earlier polls (one that failed in this poll is not tried twice in it).
SELECT dict_id FROM claim_poll_failures WHERE last_at < %(before)s
ORDER BY last_at LIMIT %(limit)s;

-- name: poll_recovered
-- Claims applied at last: forget their failure, and the anomaly it had set.
WITH gone AS (DELETE FROM claim_poll_failures WHERE dict_id = ANY(%(dict_ids)s) RETURNING dict_id)
UPDATE claims SET anomaly = NULL
WHERE dict_id IN (SELECT dict_id FROM gone) AND anomaly LIKE 'poll could not apply%%';

-- name: validate_possession
UPDATE claims SET possession_validated_at = coalesce(possession_validated_at, %(now)s),
                  updated_at = %(now)s
WHERE id = %(id)s
RETURNING *;

-- name: list
SELECT * FROM claims
WHERE (%(role)s::text IS NULL OR role = %(role)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(type)s::text IS NULL OR type = %(type)s)
  AND (%(key)s::text IS NULL OR key = %(key)s)
  AND (%(deadline_before)s::timestamptz IS NULL
       OR least(resolution_period_end, completion_period_end, day30_limit) < %(deadline_before)s)
  AND (%(after_inserted)s::timestamptz IS NULL
       OR (inserted_at, id) > (%(after_inserted)s::timestamptz, %(after_id)s::uuid))
ORDER BY inserted_at, id
LIMIT %(limit)s;

-- name: next_actions
SELECT actor, kind, args, deliver_at, status FROM outbox
WHERE subject = %(subject)s AND status IN ('pending', 'dispatched') AND kind <> 'event'
ORDER BY deliver_at;

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

-- name: poll_health
-- The stalled-poller, failure and anomaly gauges.
SELECT (SELECT polled_at FROM poll_cursors WHERE name = 'claims') AS polled_at,
       (SELECT count(*) FROM claim_poll_failures) AS failures,
       (SELECT count(*) FROM claims WHERE anomaly IS NOT NULL) AS anomalies;

-- name: set_entry
UPDATE claims SET entry_id = %(entry_id)s WHERE id = %(id)s;

-- name: submitting_for_key
SELECT * FROM claims WHERE key = %(key)s AND role = 'CLAIMER' AND status = 'submitting'
ORDER BY inserted_at LIMIT 1 FOR UPDATE;

-- name: get_by_dict_id
SELECT * FROM claims WHERE dict_id = %(dict_id)s AND role = %(role)s;

-- name: by_dict_id
SELECT * FROM claims WHERE dict_id = %(dict_id)s;

-- name: lock_many
SELECT * FROM claims WHERE dict_id = ANY(%(dict_ids)s) FOR UPDATE;

-- name: try_poll_lock
SELECT pg_try_advisory_lock(hashtext('dict-connect.poll.claims')) AS locked;

-- name: poll_unlock
SELECT pg_advisory_unlock(hashtext('dict-connect.poll.claims'));

-- name: at_risk
-- Claims where our role still owes an action, more than `grace` after it fell due: the
-- action did not happen (alert). Nothing is owed on a claim waiting for the other side
-- (e.g. a donor's confirmed claim: the claimer completes). What each role owes:
-- app.domain.claims._DUTIES, plus the acknowledgement (donor, at once) and the
-- portability claimer's completion (at once, once confirmed).
SELECT role, count(*) AS n FROM claims
WHERE (role = 'DONOR' AND status = 'open' AND inserted_at < %(now)s - %(grace)s)
   OR (role = 'DONOR' AND status IN ('waiting_resolution', 'confirming', 'cancelling')
       AND resolution_period_end < %(now)s - %(grace)s)
   OR (role = 'CLAIMER' AND type = 'PORTABILITY' AND status IN ('confirmed', 'completing')
       AND coalesce(dict_last_modified, updated_at) < %(now)s - %(grace)s)
   OR (role = 'CLAIMER' AND type = 'OWNERSHIP' AND status IN ('confirmed', 'completing')
       AND possession_validated_at IS NOT NULL
       AND completion_period_end < %(now)s - %(grace)s)
   OR (role = 'CLAIMER' AND type = 'OWNERSHIP'
       AND status IN ('open', 'waiting_resolution', 'confirmed', 'cancelling')
       AND possession_validated_at IS NULL AND day30_limit < %(now)s - %(grace)s)
GROUP BY role;

-- name: by_status
SELECT role, status, count(*) AS n FROM claims
WHERE status NOT IN ('rejected', 'completed', 'cancelled')
GROUP BY role, status;
