-- name: start
-- A run of each key type asked for, as verifying, unless that key type has one open
-- (the unique index sync_runs_one_open_per_key_type). Answers the runs started.
INSERT INTO sync_runs (key_type, status, cause, requested_by, threshold, started_at, updated_at)
SELECT k, 'verifying', %(cause)s, %(requested_by)s, %(threshold)s, %(now)s, %(now)s
FROM unnest(%(key_types)s::text[]) k
ON CONFLICT (key_type) WHERE status NOT IN ('ok', 'failed', 'rejected') DO NOTHING
RETURNING *;

-- name: get
SELECT * FROM sync_runs WHERE id = %(id)s;

-- name: lock
SELECT r.* FROM sync_runs r, (SELECT dict_tag(%(tag_actor)s, %(tag_trigger)s, %(tag_reason)s,
                                               %(now)s) AS ok) t
WHERE r.id = %(id)s AND t.ok
FOR UPDATE OF r;

-- name: set_status
-- A transition; every optional value keeps the column as it is when NULL.
UPDATE sync_runs
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s,
    finished_at = CASE WHEN %(to_status)s IN ('ok', 'failed', 'rejected') THEN %(now)s END,
    source = coalesce(%(source)s, source),
    vsync = coalesce(%(vsync)s, vsync),
    verification_id = coalesce(%(verification_id)s, verification_id),
    verifications = verifications + %(verified)s::int,
    verified_at = coalesce(%(verified_at)s, verified_at),
    since = coalesce(%(since)s, since),
    snapshot_at = coalesce(%(snapshot_at)s, snapshot_at),
    file_bytes = coalesce(%(file_bytes)s, file_bytes),
    file_sha256 = coalesce(%(file_sha256)s, file_sha256),
    file_cids = coalesce(%(file_cids)s, file_cids),
    divergences = coalesce(%(divergences)s, divergences),
    repaired = coalesce(%(repaired)s, repaired),
    decided_by = coalesce(%(decided_by)s, decided_by),
    problem = coalesce(%(problem)s, problem)
WHERE id = %(id)s AND status = %(from_status)s;

-- name: recheck
-- NOK again after the repair from the CID file: the verification is sent again later (a
-- key may have been moving at that instant). Guarded by the rechecks it was read with: a
-- repeated message finds this one already counted.
UPDATE sync_runs
SET vsync = %(vsync)s, verification_id = %(verification_id)s,
    verifications = verifications + 1, rechecks = rechecks + 1, updated_at = %(now)s
WHERE id = %(id)s AND status = 'verifying' AND rechecks = %(rechecks)s;

-- name: restart_collecting
-- A second search, from the CID file: what the first (from events) staged is forgotten.
UPDATE sync_runs
SET source = 'file', events_after = NULL, event_pages = 0, file_id = NULL,
    file_requested_at = NULL, file_polls = 0, shard = 0, updated_at = %(now)s
WHERE id = %(id)s AND status = 'collecting';

-- name: events_page
-- One page of CID events: the last event per CID kept, the cursor moved on, guarded by
-- the cursor it was read from (a repeated message finds the page already taken).
WITH moved AS (
    UPDATE sync_runs
    SET events_after = %(next_after)s, event_pages = event_pages + 1, updated_at = %(now)s
    WHERE id = %(id)s AND status = 'collecting' AND source = 'events'
      AND events_after IS NOT DISTINCT FROM %(after)s
    RETURNING id
)
INSERT INTO dict_cid_events (run_id, cid, type, at)
SELECT moved.id, e.cid, e.type, e.at
FROM moved, jsonb_to_recordset(%(events)s) AS e(cid text, type text, at timestamptz)
ON CONFLICT (run_id, cid) DO UPDATE SET type = excluded.type, at = excluded.at
WHERE dict_cid_events.at <= excluded.at;

-- name: events_moved
SELECT events_after IS NOT DISTINCT FROM %(next_after)s AS moved
FROM sync_runs WHERE id = %(id)s;

-- name: switch_to_file
UPDATE sync_runs SET source = 'file', updated_at = %(now)s
WHERE id = %(id)s AND status = 'collecting' AND source = 'events';

-- name: file_requested
UPDATE sync_runs
SET file_id = %(file_id)s, file_requested_at = %(now)s, snapshot_at = %(snapshot_at)s,
    file_polls = 0, updated_at = %(now)s
WHERE id = %(id)s AND status = 'collecting' AND file_id IS NULL;

-- name: file_polled
UPDATE sync_runs SET file_polls = file_polls + 1, updated_at = %(now)s
WHERE id = %(id)s AND status = 'collecting' AND file_id = %(file_id)s;

-- name: restage
UPDATE sync_runs SET shard = 0, updated_at = %(now)s WHERE id = %(id)s AND status = 'collecting';

-- name: staged_any
SELECT EXISTS (SELECT 1 FROM dict_cids WHERE key_type = %(key_type)s) AS staged;

-- name: compare_events
-- The last event of each CID against our CIDs: ADDED and not ours, or REMOVED and ours
-- since before the window ended.
INSERT INTO sync_divergences (run_id, cid, side, entry_id, found_at)
SELECT e.run_id, e.cid, CASE e.type WHEN 'ADDED' THEN 'dict_only' ELSE 'ours_only' END,
       c.entry_id, %(now)s
FROM dict_cid_events e
LEFT JOIN cids c ON c.key_type = %(key_type)s AND c.cid = e.cid
WHERE e.run_id = %(id)s
  AND ((e.type = 'ADDED' AND c.cid IS NULL)
       OR (e.type = 'REMOVED' AND c.cid IS NOT NULL AND c.added_at <= %(snapshot_at)s))
ON CONFLICT (run_id, cid) DO UPDATE
SET side = excluded.side, entry_id = excluded.entry_id, outcome = 'found', attempts = 0,
    retry_at = NULL, handled_at = NULL, found_at = excluded.found_at,
    detail = 'found again (was ' || sync_divergences.outcome || ')'
WHERE sync_divergences.outcome NOT IN ('found', 'in_flight');

-- name: compare_shard
-- One range of CIDs, the DICT's file against ours, on the CIDs alone (an index-only scan
-- of ours): those only in the file, and those only ours that were ours before the file
-- was asked for (keys registered during the run are not the file's business).
WITH diff AS (
    SELECT d.cid AS theirs, o.cid AS ours
    FROM (SELECT cid FROM dict_cids
          WHERE key_type = %(key_type)s AND cid >= %(lo)s AND cid < %(hi)s) d
    FULL JOIN (SELECT cid FROM cids
               WHERE key_type = %(key_type)s AND cid >= %(lo)s AND cid < %(hi)s) o
           ON o.cid = d.cid
    WHERE d.cid IS NULL OR o.cid IS NULL
)
INSERT INTO sync_divergences (run_id, cid, side, entry_id, found_at)
SELECT %(id)s, coalesce(diff.theirs, diff.ours),
       CASE WHEN diff.ours IS NULL THEN 'dict_only' ELSE 'ours_only' END, c.entry_id, %(now)s
FROM diff LEFT JOIN cids c ON c.key_type = %(key_type)s AND c.cid = diff.ours
WHERE diff.ours IS NULL OR c.added_at <= %(snapshot_at)s
ON CONFLICT (run_id, cid) DO UPDATE
SET side = excluded.side, entry_id = excluded.entry_id, outcome = 'found', attempts = 0,
    retry_at = NULL, handled_at = NULL, found_at = excluded.found_at,
    detail = 'found again (was ' || sync_divergences.outcome || ')'
WHERE sync_divergences.outcome NOT IN ('found', 'in_flight');

-- name: shard_done
UPDATE sync_runs SET shard = shard + 1, updated_at = %(now)s
WHERE id = %(id)s AND status = 'comparing' AND shard = %(shard)s;

-- name: count_divergences
SELECT count(*) AS n FROM sync_divergences WHERE run_id = %(id)s;

-- name: due_divergences
-- What reconciliation handles next: the DICT's CIDs first (repairing our entry's data
-- also settles its old CID, found on our side).
SELECT * FROM sync_divergences
WHERE run_id = %(id)s AND outcome IN ('found', 'in_flight')
  AND (retry_at IS NULL OR retry_at <= %(now)s)
ORDER BY side, cid
LIMIT %(limit)s;

-- name: lock_open
SELECT 1 FROM sync_divergences
WHERE run_id = %(id)s AND cid = %(cid)s AND outcome IN ('found', 'in_flight')
FOR UPDATE;

-- name: dict_side_of_key
SELECT cid FROM sync_divergences
WHERE run_id = %(id)s AND side = 'dict_only' AND key = %(key)s
  AND outcome IN ('found', 'in_flight', 'unresolved')
LIMIT 1;

-- name: stalled
-- Open runs an actor should be moving, with no message of their own pending or in
-- flight, untouched since before: their message died.
SELECT r.* FROM sync_runs r
WHERE r.status IN ('verifying', 'collecting', 'comparing', 'reconciling')
  AND r.updated_at < %(before)s
  AND NOT EXISTS (SELECT 1 FROM outbox o
                  WHERE o.subject = 'sync_run:' || r.id AND o.status IN ('pending', 'dispatched'))
ORDER BY r.id;

-- name: divergences_left
SELECT count(*) AS open, min(retry_at) AS next_retry
FROM sync_divergences WHERE run_id = %(id)s AND outcome IN ('found', 'in_flight');

-- name: set_outcome
UPDATE sync_divergences
SET outcome = %(outcome)s, detail = %(detail)s, key = coalesce(%(key)s, key),
    entry_id = coalesce(%(entry_id)s, entry_id), attempts = attempts + 1,
    retry_at = %(retry_at)s,
    handled_at = CASE WHEN %(outcome)s IN ('found', 'in_flight') THEN NULL ELSE %(now)s END
WHERE run_id = %(run_id)s AND cid = %(cid)s AND outcome IN ('found', 'in_flight');

-- name: count_found
SELECT count(*) AS n FROM sync_divergences WHERE run_id = %(id)s AND outcome = 'found';

-- name: outcomes
SELECT outcome, count(*) AS n FROM sync_divergences WHERE run_id = %(id)s GROUP BY outcome;

-- name: divergences
-- Cursor pagination on (side, cid).
SELECT * FROM sync_divergences
WHERE run_id = %(id)s
  AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s)
  AND (%(after_side)s::text IS NULL OR (side, cid) > (%(after_side)s, %(after_cid)s))
ORDER BY side, cid
LIMIT %(limit)s;

-- name: list
-- Cursor pagination on (started_at, id), newest first.
SELECT * FROM sync_runs
WHERE (%(key_type)s::text IS NULL OR key_type = %(key_type)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(before_started)s::timestamptz IS NULL
       OR (started_at, id) < (%(before_started)s::timestamptz, %(before_id)s::bigint))
ORDER BY started_at DESC, id DESC
LIMIT %(limit)s;

-- name: by_key_type
-- Per key type: when its last run started, when the DICT last said OK, its open run.
SELECT k AS key_type,
       (SELECT max(started_at) FROM sync_runs r WHERE r.key_type = k) AS last_started,
       (SELECT max(verified_at) FROM sync_runs r
        WHERE r.key_type = k AND r.status = 'ok') AS last_ok,
       (SELECT id FROM sync_runs r
        WHERE r.key_type = k AND r.status NOT IN ('ok', 'failed', 'rejected')) AS open_run
FROM unnest(%(key_types)s::text[]) k
ORDER BY k;

-- name: open_by_status
SELECT key_type, status, count(*) AS n FROM sync_runs
WHERE status NOT IN ('ok', 'failed', 'rejected') GROUP BY key_type, status;

-- name: last_finished
-- Each key type's last finished run (metrics, the daily summary).
SELECT DISTINCT ON (key_type) *
FROM sync_runs WHERE finished_at IS NOT NULL
ORDER BY key_type, finished_at DESC, id DESC;

-- name: finished_between
SELECT * FROM sync_runs
WHERE finished_at >= %(start)s AND finished_at < %(end)s
ORDER BY key_type, finished_at;

-- name: prune_events
DELETE FROM dict_cid_events WHERE run_id = %(id)s;
