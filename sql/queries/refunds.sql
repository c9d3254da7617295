-- name: insert
-- Rows of app.repo.refunds.RefundRow as a JSON array: the column list is the struct's. A
-- request already recorded in that role (another poller got there first), or a second
-- request of ours in progress on the same transaction, is skipped.
INSERT INTO refunds
SELECT * FROM jsonb_populate_recordset(NULL::refunds, %(rows)s)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: get
SELECT * FROM refunds WHERE id = %(id)s;

-- name: lock
-- Lock the request and tag the transaction for state_history in one round trip.
SELECT r.* FROM refunds r, (SELECT dict_tag(%(tag_actor)s, %(tag_trigger)s,
                                            %(tag_reason)s, %(now)s) AS ok) t
WHERE r.id = %(id)s AND t.ok
FOR UPDATE OF r;

-- name: set_status
-- The guarded transition, with what the DICT said (every field optional: NULL keeps).
UPDATE refunds
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s,
    dict_id = coalesce(%(dict_id)s, dict_id),
    dict_status = coalesce(%(dict_status)s, dict_status),
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    dict_created_at = coalesce(%(dict_created_at)s, dict_created_at),
    due_at = coalesce(%(due_at)s, due_at),
    contested_participant = coalesce(%(contested_participant)s, contested_participant),
    infraction_report_id = coalesce(%(infraction_report_id)s, infraction_report_id),
    analysis_result = coalesce(%(analysis_result)s, analysis_result),
    analysis_details = coalesce(%(analysis_details)s, analysis_details),
    rejection_reason = coalesce(%(rejection_reason)s, rejection_reason),
    refund_transaction_id = coalesce(%(refund_transaction_id)s, refund_transaction_id),
    refunded_amount = coalesce(%(refunded_amount)s, refunded_amount),
    pending = %(pending)s,
    problem_type = %(problem_type)s,
    problem_detail = %(problem_detail)s
WHERE id = %(id)s AND status = %(from_status)s;

-- name: seen
-- What the DICT said when our status does not move (a call of ours is in flight, or the
-- list repeats itself): the newest LastModified wins.
UPDATE refunds
SET dict_status = CASE WHEN dict_last_modified IS NULL
                         OR %(dict_last_modified)s::timestamptz >= dict_last_modified
                       THEN %(dict_status)s ELSE dict_status END,
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    updated_at = %(now)s
WHERE id = %(id)s;

-- name: lock_many
SELECT * FROM refunds WHERE dict_id = ANY(%(dict_ids)s) FOR UPDATE;

-- name: by_dict_id
SELECT * FROM refunds WHERE dict_id = %(dict_id)s AND role = %(role)s;

-- name: submitting_for
-- Our request on this transaction still waiting for its CreateRefund answer.
SELECT * FROM refunds
WHERE role = 'REQUESTING' AND status = 'submitting' AND transaction_id = %(transaction_id)s
FOR UPDATE;

-- name: in_progress_for
-- Our request in progress on this transaction, if any (the DICT allows one).
SELECT * FROM refunds
WHERE role = 'REQUESTING' AND status IN ('submitting', 'open', 'cancelling')
  AND transaction_id = %(transaction_id)s;

-- name: list
SELECT * FROM refunds
WHERE (%(role)s::text IS NULL OR role = %(role)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(refund_reason)s::text IS NULL OR refund_reason = %(refund_reason)s)
  AND (%(transaction_id)s::text IS NULL OR transaction_id = %(transaction_id)s)
  AND (%(after_inserted)s::timestamptz IS NULL
       OR (inserted_at, id) > (%(after_inserted)s::timestamptz, %(after_id)s::uuid))
ORDER BY inserted_at, id
LIMIT %(limit)s;

-- name: agreed_report
-- The infraction report of ours a FRAUD (REFUND_REQUEST report) or REFUND_CANCELLED
-- refund follows: CLOSED as AGREED on this transaction. A closed report changes in the
-- DICT only by a cancel, so its LastModified is the instant of the close.
SELECT dict_id, dict_last_modified AS closed_at FROM infraction_reports
WHERE role = 'REPORTER' AND status = 'closed' AND analysis_result = 'AGREED'
  AND transaction_id = %(transaction_id)s AND reason = %(reason)s
ORDER BY dict_last_modified DESC
LIMIT 1;
