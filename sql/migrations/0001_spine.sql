-- The spine: state machines mirrored in SQL, their history, the outbox, cron slots.
--
-- machine_states / state_transitions are written by `dict-connect migrate` from the
-- declarations in statemachines/ (never by hand); enforce_transition() makes every
-- stateful table obey them, from the application or from psql alike.

CREATE TABLE machine_states (
    machine text NOT NULL,
    status  text NOT NULL,
    initial boolean NOT NULL DEFAULT false,   -- a row may be inserted in this status
    PRIMARY KEY (machine, status)
);

CREATE TABLE state_transitions (
    machine     text NOT NULL,
    trigger     text NOT NULL,
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (machine, from_status, to_status, trigger)
);

CREATE TABLE state_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine     text NOT NULL,
    subject_id  text NOT NULL,
    from_status text,                      -- NULL: the row was created
    to_status   text NOT NULL,
    trigger     text NOT NULL,
    reason      text,
    actor       text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX state_history_subject ON state_history (machine, subject_id, id);

-- Tags set per transaction by app.db.set_tags(); psql sessions get 'manual' and current_user.
-- enforce_transition() runs BEFORE the change and refuses an illegal one;
-- record_transition() runs AFTER it, so a row an INSERT … ON CONFLICT DO NOTHING
-- skipped leaves no history behind.
CREATE FUNCTION enforce_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m    text := TG_ARGV[0];
    trig text := coalesce(nullif(current_setting('dict.trigger', true), ''), 'manual');
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM machine_states
                       WHERE machine = m AND status = NEW.status AND initial) THEN
            RAISE EXCEPTION 'illegal initial status % for machine %', NEW.status, m
                USING ERRCODE = 'check_violation', CONSTRAINT = 'illegal_transition';
        END IF;
    ELSIF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
            SELECT 1 FROM state_transitions
            WHERE machine = m AND from_status = OLD.status AND to_status = NEW.status
              AND (trig = 'manual' OR trigger = trig)) THEN
        RAISE EXCEPTION 'illegal transition % -> % (trigger %) for machine %',
                        OLD.status, NEW.status, trig, m
            USING ERRCODE = 'check_violation', CONSTRAINT = 'illegal_transition';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION record_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    from_status text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    INSERT INTO state_history (machine, subject_id, from_status, to_status, trigger, reason, actor, at)
    VALUES (TG_ARGV[0], NEW.id::text, from_status, NEW.status,
            coalesce(nullif(current_setting('dict.trigger', true), ''), 'manual'),
            nullif(current_setting('dict.reason', true), ''),
            coalesce(nullif(current_setting('dict.actor', true), ''), current_user),
            coalesce(nullif(current_setting('dict.now', true), '')::timestamptz,
                     clock_timestamp()));
    RETURN NULL;
END $$;

-- The outbox: immediate work, timers (deliver_at in the future) and events.
--   pending    → dispatched  by the relay (after commit, and every minute)
--   dispatched → done        by the worker middleware when the actor succeeds
--   dispatched → failed      by the worker middleware when retries are exhausted (dead letter)
--   dispatched → pending     by the relay when the lease expired (message lost)
--   pending    → cancelled   by cancel_timer (a deadline that no longer applies)
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor         text NOT NULL,
    queue         text NOT NULL DEFAULT 'default',
    args          jsonb NOT NULL DEFAULT '{}',
    kind          text NOT NULL DEFAULT 'task' CHECK (kind IN ('task', 'timer', 'event')),
    subject       text,                            -- e.g. 'entry:<uuid>', for operators
    dedupe_key    text,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'dispatched', 'done', 'failed', 'cancelled')),
    deliver_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    dispatched_at timestamptz,
    lease_until   timestamptz,
    finished_at   timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    CONSTRAINT outbox_dispatched_has_lease CHECK (status <> 'dispatched' OR lease_until IS NOT NULL)
);
-- A relay tick reads only what is due, however many 30-day timers wait.
CREATE INDEX outbox_due ON outbox (deliver_at) WHERE status = 'pending';
CREATE INDEX outbox_leased ON outbox (lease_until) WHERE status = 'dispatched';
CREATE INDEX outbox_subject ON outbox (subject) WHERE status IN ('pending', 'dispatched');
-- One live row per dedupe key: scheduling the same timer twice is harmless.
CREATE UNIQUE INDEX outbox_dedupe ON outbox (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('pending', 'dispatched');

CREATE VIEW outbox_dead_letters AS
    SELECT id, actor, args, subject, attempts, last_error, finished_at
    FROM outbox WHERE status = 'failed';

-- One row per (job, slot): a duplicate or late periodiq tick finds its slot taken.
CREATE TABLE cron_runs (
    job        text NOT NULL,
    slot       timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    PRIMARY KEY (job, slot)
);

-- Operators ask for a transition through the normal path (the fire_trigger actor).
CREATE SCHEMA ops;
CREATE FUNCTION ops.request(machine text, subject_id text, trigger text, reason text)
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO outbox (actor, args, kind, subject, deliver_at, created_at)
    VALUES ('fire_trigger',
            jsonb_build_object('machine', machine, 'subject_id', subject_id,
                               'trigger', trigger, 'reason', reason, 'actor', current_user),
            'task', machine || ':' || subject_id, clock_timestamp(), clock_timestamp())
    RETURNING id
$$;
