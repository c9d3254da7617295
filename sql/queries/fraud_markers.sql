-- name: insert
-- Rows of app.repo.fraud_markers.MarkerRow as a JSON array: the column list is the
-- struct's. A marker already recorded (the same DICT id, or the same report's marker:
-- another delivery got there first) is skipped.
INSERT INTO fraud_markers
SELECT * FROM jsonb_populate_recordset(NULL::fraud_markers, %(rows)s)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: get
SELECT * FROM fraud_markers WHERE id = %(id)s;

-- name: lock
-- Lock the marker and tag the transaction for state_history in one round trip.
SELECT m.* FROM fraud_markers m, (SELECT dict_tag(%(tag_actor)s, %(tag_trigger)s,
                                                  %(tag_reason)s, %(now)s) AS ok) t
WHERE m.id = %(id)s AND t.ok
FOR UPDATE OF m;

-- name: set_status
-- The guarded transition, with what the DICT said (every field optional: NULL keeps).
UPDATE fraud_markers
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s,
    dict_id = coalesce(%(dict_id)s, dict_id),
    dict_created_at = coalesce(%(dict_created_at)s, dict_created_at),
    dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    pending = %(pending)s,
    problem_type = %(problem_type)s,
    problem_detail = %(problem_detail)s
WHERE id = %(id)s AND status = %(from_status)s;

-- name: seen
-- What the DICT said when our status does not move: the newest LastModified wins.
UPDATE fraud_markers
SET dict_last_modified = greatest(dict_last_modified, %(dict_last_modified)s),
    updated_at = %(now)s
WHERE id = %(id)s;

-- name: of_report
-- The marker our close of this infraction report created, if recorded.
SELECT * FROM fraud_markers WHERE infraction_report_id = %(report_id)s;

-- name: report_for_share
-- The infraction report whose marker is being recorded, share-locked: its cancellation
-- (which cancels the marker) waits for the record to commit, or is seen by it.
SELECT status FROM infraction_reports WHERE id = %(id)s FOR SHARE;

-- name: list
SELECT * FROM fraud_markers
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(origin)s::text IS NULL OR origin = %(origin)s)
  AND (%(tax_id_number)s::text IS NULL OR tax_id_number = %(tax_id_number)s)
  AND (%(after_inserted)s::timestamptz IS NULL
       OR (inserted_at, id) > (%(after_inserted)s::timestamptz, %(after_id)s::uuid))
ORDER BY inserted_at, id
LIMIT %(limit)s;
