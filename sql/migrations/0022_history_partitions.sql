-- state_history partitioned by month (issue 16). Every status change of every machine
-- appends a row, millions a day at a large PSP; by month, the history past
-- HISTORY_RETENTION_MONTHS leaves the live table as whole partitions (detached into the
-- schema `archive`, still readable in psql) and an archived month is dropped once it is
-- HISTORY_ARCHIVE_MONTHS older still (0: never). The daily maintenance cron calls
-- history_partitions() below; docs/architecture.md ("State history") says why a default
-- partition rather than a partition made by the writer.
--
-- The existing table is converted in this transaction: the rows are copied into the
-- partitioned table under the same ids, the identity carries on from where it was, the
-- grants on the old table are given on the new one. Writers wait for the copy (6.3 s per
-- million rows on the benchmark's machine: docs/benchmarks.md, "Converting state_history").

CREATE SCHEMA archive;
COMMENT ON SCHEMA archive IS
    'Detached monthly partitions of state_history older than HISTORY_RETENTION_MONTHS (history_partitions()), same columns; readable by whoever may read state_history';

-- Creates the month partition `<parent>_yYYYYmMM` of a table partitioned by RANGE on
-- `p_column` with a partition `<parent>_default`: the month's rows waiting in the default
-- are moved into it first, then it is attached (so the default never holds a row of an
-- attached month). The caller holds the parent's lock. Returns the partition's name.
CREATE FUNCTION attach_month_partition(p_parent text, p_column text, p_month timestamp)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    child text := p_parent || '_' || to_char(p_month, '"y"YYYY"m"MM');
    lo timestamptz := p_month AT TIME ZONE 'UTC';
    hi timestamptz := (p_month + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   child, p_parent);
    EXECUTE format('WITH moved AS (DELETE FROM public.%I WHERE %I >= %L AND %I < %L RETURNING *)'
                   ' INSERT INTO public.%I SELECT * FROM moved',
                   p_parent || '_default', p_column, lo, p_column, hi, child);
    EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, child, lo, hi);
    RETURN child;
END
$$;

COMMENT ON FUNCTION attach_month_partition(text, text, timestamp) IS
    'One month partition <parent>_yYYYYmMM (UTC), with that month''s rows moved out of <parent>_default; used by rate_limit_partitions() and history_partitions()';

-- rate_limit_partitions() of migration 0017, its creation step now the shared function.
CREATE OR REPLACE FUNCTION rate_limit_partitions(p_now timestamptz, p_ahead integer, p_retention_months integer)
RETURNS TABLE (action text, partition_name text) LANGUAGE plpgsql AS $$
DECLARE
    first_month timestamp := date_trunc('month', p_now AT TIME ZONE 'UTC');
    cutoff timestamptz := p_now - make_interval(months => p_retention_months);
    m_start timestamp;
    child text;
    wanted timestamp[] := '{}';
    doomed text[] := '{}';
BEGIN
    IF p_ahead < 0 OR p_retention_months < 1 THEN
        RAISE EXCEPTION 'rate_limit_partitions: ahead must be >= 0 and retention >= 1 month';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('rate_limit_partitions'));
    FOR i IN 0..p_ahead LOOP
        m_start := first_month + make_interval(months => i);
        IF to_regclass('public.rate_limit_readings_' || to_char(m_start, '"y"YYYY"m"MM')) IS NULL THEN
            wanted := wanted || m_start;
        END IF;
    END LOOP;
    FOR child IN
        SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
        WHERE h.inhparent = 'rate_limit_readings'::regclass
          AND c.relname ~ '^rate_limit_readings_y[0-9]{4}m[0-9]{2}$'
        ORDER BY c.relname
    LOOP
        m_start := to_date(right(child, 8), '"y"YYYY"m"MM');
        IF (m_start + interval '1 month') AT TIME ZONE 'UTC' <= cutoff THEN
            doomed := doomed || child;
        END IF;
    END LOOP;
    DELETE FROM rate_limit_readings_default WHERE read_at < cutoff;
    IF cardinality(wanted) = 0 AND cardinality(doomed) = 0 THEN
        RETURN;
    END IF;
    -- Every partition, the default included: no reading is routed while they move.
    LOCK TABLE rate_limit_readings IN ACCESS EXCLUSIVE MODE;
    FOREACH child IN ARRAY doomed LOOP
        EXECUTE format('DROP TABLE %I', child);
        action := 'dropped'; partition_name := child; RETURN NEXT;
    END LOOP;
    FOREACH m_start IN ARRAY wanted LOOP
        action := 'created';
        partition_name := attach_month_partition('rate_limit_readings', 'read_at', m_start);
        RETURN NEXT;
    END LOOP;
END
$$;

-- The conversion. The old table keeps its name until the new one is ready.
LOCK TABLE state_history IN ACCESS EXCLUSIVE MODE;
ALTER TABLE state_history RENAME TO state_history_unpartitioned;
ALTER SEQUENCE state_history_id_seq RENAME TO state_history_unpartitioned_id_seq;
ALTER INDEX state_history_pkey RENAME TO state_history_unpartitioned_pkey;
ALTER INDEX state_history_subject RENAME TO state_history_unpartitioned_subject;

CREATE TABLE state_history (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    machine     text NOT NULL,
    subject_id  text NOT NULL,
    from_status text,                      -- NULL: the row was created
    to_status   text NOT NULL,
    trigger     text NOT NULL,
    reason      text,
    actor       text NOT NULL,
    at          timestamptz NOT NULL
) PARTITION BY RANGE (at);                 -- its indexes below, once the rows are in

COMMENT ON TABLE state_history IS
    'Every status change of every machine (enforce_transition/record_transition), read by subject (machine, subject_id) in id order; monthly partitions state_history_yYYYYmMM (UTC) kept by history_partitions(), archived to the schema archive after HISTORY_RETENTION_MONTHS';

CREATE TABLE state_history_default PARTITION OF state_history DEFAULT;

COMMENT ON TABLE state_history_default IS
    'history of a month with no partition yet (the maintenance cron did not run, or a clock far off): the write never fails; history_partitions() moves the rows into their month''s partition when it creates it';

-- Ids carry on from the old identity (gaps of rolled-back changes included).
SELECT setval(pg_get_serial_sequence('state_history', 'id'), last_value, is_called)
FROM state_history_unpartitioned_id_seq;

-- What the old table was granted, the new one is (the runbooks' operators' SELECT, INSERT).
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT a.privilege_type,
               CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'state_history_unpartitioned'::regclass AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON state_history TO %s', g.privilege_type, g.grantee);
    END LOOP;
END
$$;

-- Creates the monthly partitions of state_history: each month that rows in the default
-- partition belong to (their rows moved in), the month of p_now and the p_ahead months
-- after it; then detaches each partition whose whole month ended more than
-- p_retention_months before p_now into the schema archive (SELECT granted to whoever may
-- read state_history), and drops each archived one whose month ended more than
-- p_retention_months + p_archive_months before p_now (p_archive_months 0: never).
-- Idempotent; two callers take turns on an advisory lock. state_history is locked only
-- when there is a partition to create or detach, after waiting at most 5 s for the lock
-- (a long reader makes this run fail, to be done by the next, rather than every state
-- change queue behind it). Months are UTC. Returns ('created' | 'archived' | 'dropped', name).
CREATE FUNCTION history_partitions(p_now timestamptz, p_ahead integer,
                                   p_retention_months integer, p_archive_months integer)
RETURNS TABLE (action text, partition_name text) LANGUAGE plpgsql AS $$
DECLARE
    first_month timestamp := date_trunc('month', p_now AT TIME ZONE 'UTC');
    cutoff timestamptz := p_now - make_interval(months => p_retention_months);
    m_start timestamp;
    child text;
    wanted timestamp[];
    doomed text[];
BEGIN
    IF p_ahead < 0 OR p_retention_months < 1 OR p_archive_months < 0 THEN
        RAISE EXCEPTION 'history_partitions: ahead >= 0, retention >= 1 and archive >= 0 months';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('history_partitions'));
    SELECT array_agg(m ORDER BY m) INTO wanted FROM (
        SELECT first_month + make_interval(months => i) AS m FROM generate_series(0, p_ahead) i
        UNION
        SELECT date_trunc('month', at AT TIME ZONE 'UTC') FROM state_history_default
    ) months
    WHERE to_regclass('public.state_history_' || to_char(m, '"y"YYYY"m"MM')) IS NULL;
    IF cardinality(wanted) > 0 THEN
        PERFORM set_config('lock_timeout', '5s', true);
        LOCK TABLE state_history IN ACCESS EXCLUSIVE MODE;  -- no change routed meanwhile
        FOREACH m_start IN ARRAY wanted LOOP
            action := 'created';
            partition_name := attach_month_partition('state_history', 'at', m_start);
            RETURN NEXT;
        END LOOP;
    END IF;
    SELECT array_agg(c.relname ORDER BY c.relname) INTO doomed
    FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
    WHERE h.inhparent = 'state_history'::regclass
      AND c.relname ~ '^state_history_y[0-9]{4}m[0-9]{2}$'
      AND (to_date(right(c.relname, 8), '"y"YYYY"m"MM') + interval '1 month') AT TIME ZONE 'UTC'
          <= cutoff;
    FOREACH child IN ARRAY coalesce(doomed, '{}') LOOP
        PERFORM set_config('lock_timeout', '5s', true);
        EXECUTE format('ALTER TABLE state_history DETACH PARTITION public.%I', child);
        PERFORM archive_history_partition(child);
        action := 'archived'; partition_name := child; RETURN NEXT;
    END LOOP;
    IF p_archive_months = 0 THEN
        RETURN;
    END IF;
    FOR child IN
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = 'archive'::regnamespace AND c.relkind = 'r'
          AND c.relname ~ '^state_history_y[0-9]{4}m[0-9]{2}$'
          AND (to_date(right(c.relname, 8), '"y"YYYY"m"MM') + interval '1 month') AT TIME ZONE 'UTC'
              <= cutoff - make_interval(months => p_archive_months)
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE archive.%I', child);
        action := 'dropped'; partition_name := 'archive.' || child; RETURN NEXT;
    END LOOP;
END
$$;

-- A detached partition into the schema archive, readable by whoever may read
-- state_history. A month already there (rows of an archived month that came back
-- through the default partition, a clock set back) gets the rows instead.
CREATE FUNCTION archive_history_partition(p_child text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    reader text;
BEGIN
    IF to_regclass('archive.' || p_child) IS NOT NULL THEN
        EXECUTE format('INSERT INTO archive.%I SELECT * FROM public.%I', p_child, p_child);
        EXECUTE format('DROP TABLE public.%I', p_child);
        RETURN;
    END IF;
    EXECUTE format('ALTER TABLE public.%I SET SCHEMA archive', p_child);
    FOR reader IN
        SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'public.state_history'::regclass AND a.privilege_type = 'SELECT'
          AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA archive TO %s', reader);
        EXECUTE format('GRANT SELECT ON archive.%I TO %s', p_child, reader);
    END LOOP;
END
$$;

-- The old rows' months, this month and the next 3 (the maintenance cron keeps them from
-- now on), then the rows themselves, under their ids.
SELECT attach_month_partition('state_history', 'at', m)
FROM (
    SELECT date_trunc('month', at AT TIME ZONE 'UTC') AS m FROM state_history_unpartitioned
    UNION
    SELECT date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i)
    FROM generate_series(0, 3) i
) months
ORDER BY m;

INSERT INTO state_history OVERRIDING SYSTEM VALUE SELECT * FROM state_history_unpartitioned;
DROP TABLE state_history_unpartitioned;

-- Built from the rows (a sort per partition), not row by row during the copy.
SET LOCAL maintenance_work_mem = '256MB';
ALTER TABLE state_history ADD CONSTRAINT state_history_pkey
    PRIMARY KEY (id, at);                  -- a partitioned table's keys include its bounds
CREATE INDEX state_history_subject ON state_history (machine, subject_id, id);
