-- name: set_tags
-- Transaction-local tags read by enforce_transition() for state_history, including
-- the application's clock (tests move it; history must agree with it).
SELECT dict_tag(%(actor)s, %(trigger)s, %(reason)s, %(now)s);

-- name: claim_cron_slot
INSERT INTO cron_runs (job, slot, started_at) VALUES (%(job)s, %(slot)s, %(now)s)
ON CONFLICT DO NOTHING
RETURNING job;

-- name: history
SELECT from_status, to_status, trigger, reason, actor, at
FROM state_history WHERE machine = %(machine)s AND subject_id = %(subject_id)s ORDER BY id;

-- name: history_partitions
-- The maintenance step: state_history's partitions made, archived and dropped (migration 0022).
SELECT action, partition_name
FROM history_partitions(%(now)s, %(ahead)s, %(retention_months)s, %(archive_months)s);

-- name: cron_slots
SELECT slot, started_at FROM cron_runs WHERE job = %(job)s ORDER BY slot;
