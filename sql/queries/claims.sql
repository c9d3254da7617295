-- name: insert
-- Rows of app.repo.claims.ClaimRow as a JSON array: the column list is the struct's.
-- A claim already recorded in that role (another poller got there first) is skipped.
INSERT INTO claims
SELECT * FROM jsonb_populate_recordset(NULL::claims, %(rows)s)
ON CONFLICT ON CONSTRAINT claims_dict_id_role DO NOTHING
RETURNING *;

-- name: get
SELECT * FROM claims WHERE id = %(id)s;

-- name: lock
-- Lock the claim and tag the transaction for state_history in one round trip.
SELECT c.* FROM claims c, (SELECT dict_tag(%(tag_actor)s, %(tag_trigger)s, %(tag_reason)s,
                                            %(now)s) AS ok) t
WHERE c.id = %(id)s AND t.ok
FOR UPDATE OF c;

-- name: open_donor_for_key
-- A donor claim on this key that still locks it (the DICT refuses a deletion meanwhile).
SELECT exists(SELECT 1 FROM claims
              WHERE key = %(key)s AND role = 'DONOR'
                AND status IN ('open', 'waiting_resolution', 'confirming')) AS locked;

-- name: open_donor
-- Donor claims not acknowledged and with no acknowledge_claim call waiting (it died: a
-- dead letter after an outage): the poller acknowledges them itself (oldest first).
SELECT c.id FROM claims c
WHERE c.role = 'DONOR' AND c.status = 'open'
  AND NOT EXISTS (SELECT 1 FROM outbox o
                  WHERE o.subject = 'claim:' || c.id AND o.status IN ('pending', 'dispatched')
                    AND o.actor = 'acknowledge_claim')
ORDER BY c.inserted_at LIMIT %(limit)s;

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
-- repeated or lagging list item never turns dict_status back. Its reasons are kept for
-- when our status catches up (a status seen while a call of ours was in flight).
UPDATE claims
SET dict_status = CASE WHEN %(dict_last_modified)s::timestamptz IS NULL
                         OR dict_last_modified IS NULL
                         OR %(dict_last_modified)s::timestamptz >= dict_last_modified
                       THEN %(dict_status)s ELSE dict_status END,
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    confirm_reason = coalesce(%(confirm_reason)s, confirm_reason),
    cancel_reason = coalesce(%(cancel_reason)s, cancel_reason),
    cancelled_by = coalesce(%(cancelled_by)s, cancelled_by),
    anomaly = coalesce(%(anomaly)s, anomaly), updated_at = %(now)s
WHERE id = %(id)s;

-- name: unsettled
-- Claims at rest whose last seen DICT status differs from ours (it arrived while a call
-- of ours was in flight): the poll settles them (statemachines.claim.CATCH_UP).
SELECT * FROM claims
WHERE status IN ('open', 'waiting_resolution', 'confirmed') AND dict_status <> upper(status)
ORDER BY updated_at
LIMIT %(limit)s;

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

-- name: set_entry
UPDATE claims SET entry_id = %(entry_id)s WHERE id = %(id)s;

-- name: submitting_for_key
SELECT * FROM claims WHERE key = %(key)s AND role = 'CLAIMER' AND status = 'submitting'
ORDER BY inserted_at LIMIT 1 FOR UPDATE;

-- name: by_dict_id
SELECT * FROM claims WHERE dict_id = %(dict_id)s;

-- name: lock_many
SELECT * FROM claims WHERE dict_id = ANY(%(dict_ids)s) FOR UPDATE;

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
