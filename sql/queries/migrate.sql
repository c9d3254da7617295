-- Used by `dict-connect migrate` (app/migrate.py, statemachines/registry.py).

-- name: ensure_table
-- checksum: sha256 of the file as applied; migrate refuses to run if it changed.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    checksum   text,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text;

-- name: applied
SELECT version, checksum FROM schema_migrations;

-- name: record
INSERT INTO schema_migrations (version, checksum) VALUES (%(version)s, %(checksum)s);

-- name: lock
SELECT pg_advisory_lock(%(key)s);

-- name: unlock
SELECT pg_advisory_unlock(%(key)s);

-- name: clear_machines
DELETE FROM state_transitions; DELETE FROM machine_states;

-- name: add_state
INSERT INTO machine_states (machine, status, initial) VALUES (%(machine)s, %(status)s, %(initial)s);

-- name: add_transition
INSERT INTO state_transitions (machine, trigger, from_status, to_status)
VALUES (%(machine)s, %(trigger)s, %(from_status)s, %(to_status)s);

-- name: transitions
SELECT machine, trigger, from_status, to_status FROM state_transitions;

-- name: states
SELECT machine, status, initial FROM machine_states;

-- name: set_local_lock_timeout
SELECT set_config('lock_timeout', %(timeout)s, true);

-- name: set_lock_timeout
SELECT set_config('lock_timeout', %(timeout)s, false);

-- name: reset_lock_timeout
RESET lock_timeout;
