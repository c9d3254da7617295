-- name: insert
-- Rows of app.repo.infraction_reports.ReportRow as a JSON array: the column list is the
-- struct's. A report already recorded in that role (another poller got there first), or
-- a second live report of ours for the same transaction and reason, is skipped.
INSERT INTO infraction_reports
SELECT * FROM jsonb_populate_recordset(NULL::infraction_reports, %(rows)s)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: get
SELECT * FROM infraction_reports WHERE id = %(id)s;

-- name: lock
-- Lock the report and tag the transaction for state_history in one round trip.
SELECT r.* FROM infraction_reports r, (SELECT dict_tag(%(tag_actor)s, %(tag_trigger)s,
                                                       %(tag_reason)s, %(now)s) AS ok) t
WHERE r.id = %(id)s AND t.ok
FOR UPDATE OF r;

-- name: set_status
-- The guarded transition, with what the DICT said (every field optional: NULL keeps).
UPDATE infraction_reports
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s,
    dict_id = coalesce(%(dict_id)s, dict_id),
    dict_status = coalesce(%(dict_status)s, dict_status),
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    dict_created_at = coalesce(%(dict_created_at)s, dict_created_at),
    due_at = coalesce(%(due_at)s, due_at),
    analysis_result = coalesce(%(analysis_result)s, analysis_result),
    analysis_details = coalesce(%(analysis_details)s, analysis_details),
    fraud_type = coalesce(%(fraud_type)s, fraud_type),
    fraud_marker_id = coalesce(%(fraud_marker_id)s, fraud_marker_id),
    counterparty_participant = coalesce(%(counterparty_participant)s, counterparty_participant),
    situation_type = coalesce(%(situation_type)s, situation_type),
    contact_email = coalesce(%(contact_email)s, contact_email),
    contact_phone = coalesce(%(contact_phone)s, contact_phone),
    report_details = coalesce(%(report_details)s, report_details),
    pending = %(pending)s,
    problem_type = %(problem_type)s,
    problem_detail = %(problem_detail)s
WHERE id = %(id)s AND status = %(from_status)s;

-- name: seen
-- What the DICT said when our status does not move (a call of ours is in flight, or the
-- list repeats itself): the newest LastModified wins.
UPDATE infraction_reports
SET dict_status = CASE WHEN dict_last_modified IS NULL
                         OR %(dict_last_modified)s::timestamptz >= dict_last_modified
                       THEN %(dict_status)s ELSE dict_status END,
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    updated_at = %(now)s
WHERE id = %(id)s;

-- name: lock_many
SELECT * FROM infraction_reports WHERE dict_id = ANY(%(dict_ids)s) FOR UPDATE;

-- name: by_dict_id
SELECT * FROM infraction_reports WHERE dict_id = %(dict_id)s AND role = %(role)s;

-- name: submitting_for
-- Our report on this transaction still waiting for its CreateInfractionReport answer.
SELECT * FROM infraction_reports
WHERE role = 'REPORTER' AND status = 'submitting'
  AND transaction_id = %(transaction_id)s AND reason = %(reason)s
FOR UPDATE;

-- name: live_for
-- Our live report on this transaction and reason, if any (the DICT allows one).
SELECT * FROM infraction_reports
WHERE role = 'REPORTER' AND status NOT IN ('rejected', 'cancelled')
  AND transaction_id = %(transaction_id)s AND reason = %(reason)s;

-- name: list
SELECT * FROM infraction_reports
WHERE (%(role)s::text IS NULL OR role = %(role)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(after_inserted)s::timestamptz IS NULL
       OR (inserted_at, id) > (%(after_inserted)s::timestamptz, %(after_id)s::uuid))
ORDER BY inserted_at, id
LIMIT %(limit)s;

-- name: left_open
-- Reports against us still OPEN a while after we learned them or went back to them (an
-- acknowledgement the DICT refused, or one lost): the poll asks again.
SELECT * FROM infraction_reports
WHERE role = 'COUNTERPARTY' AND status = 'open' AND updated_at < %(before)s
ORDER BY updated_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;
