-- The DICT's rate-limit buckets of ours, as the DICT reads them (docs/rate_limits.md).
-- The poll_rate_limits cron (actors/rate_limits.py) calls ListBucketStates once a minute
-- and, in one transaction, upserts each policy the DICT reports into rate_limit_policies
-- (the DICT's figures win: capacity, refill, category), appends one reading per policy to
-- rate_limit_readings and moves each policy's level, writing an event when it changes.
-- The thresholds are ours, per policy, editable (PATCH /v1/rate-limits/policies/{name}).

CREATE TABLE rate_limit_policies (
    name            text PRIMARY KEY,
    category        text CHECK (category ~ '^[A-Z]$'),
    scope           text NOT NULL CHECK (scope IN ('PSP', 'USER')),
    capacity        bigint NOT NULL CHECK (capacity > 0),
    refill_tokens   bigint NOT NULL CHECK (refill_tokens >= 0),
    refill_period_s integer NOT NULL CHECK (refill_period_s > 0),
    warning_pct     double precision NOT NULL DEFAULT 25,
    critical_pct    double precision NOT NULL DEFAULT 10,
    level           text NOT NULL DEFAULT 'ok' CHECK (level IN ('ok', 'warning', 'critical')),
    last_read_at    timestamptz,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT rate_limit_policies_thresholds
        CHECK (0 < critical_pct AND critical_pct < warning_pct AND warning_pct < 100)
);

COMMENT ON TABLE rate_limit_policies IS
    'The DICT''s rate-limit policies of our participant, as its ListBucketStates reports them (upserted by poll_rate_limits), with our alert thresholds';
COMMENT ON COLUMN rate_limit_policies.category IS
    'the participant''s category (A-H; parsed leniently) for the policies it sizes (ENTRIES_READ_PARTICIPANT_ANTISCAN, ENTRIES_STATISTICS_READ); NULL for the fixed ones';
COMMENT ON COLUMN rate_limit_policies.scope IS
    'PSP (one bucket for the participant) or USER (one per end user), from app.domain.buckets; PSP for a policy it does not know';
COMMENT ON COLUMN rate_limit_policies.warning_pct IS
    'level warning when the tokens left are at most this % of capacity (ours, editable; 0 < critical_pct < warning_pct < 100)';
COMMENT ON COLUMN rate_limit_policies.critical_pct IS
    'level critical when the tokens left are at most this % of capacity (ours, editable)';
COMMENT ON COLUMN rate_limit_policies.level IS $$The level of the latest reading, judged by
this row's thresholds: ok, warning, critical. Moved only by poll_rate_limits; a change
writes one event (rate_limits.threshold_crossed, or rate_limits.recovered back to ok), so
each crossing is reported once.$$;
COMMENT ON COLUMN rate_limit_policies.last_read_at IS
    'when the latest reading of this policy was taken (its row in rate_limit_readings); NULL: never read';

-- One row per policy per poll; monthly partitions kept by rate_limit_partitions() below
-- (the maintenance cron), readings outside them land in the default partition.
CREATE TABLE rate_limit_readings (
    policy           text NOT NULL REFERENCES rate_limit_policies (name),
    read_at          timestamptz NOT NULL,
    available_tokens bigint NOT NULL,
    capacity         bigint NOT NULL,
    refill_tokens    bigint NOT NULL,
    refill_period_s  integer NOT NULL,
    category         text,
    PRIMARY KEY (policy, read_at)
) PARTITION BY RANGE (read_at);

COMMENT ON TABLE rate_limit_readings IS
    'Each policy''s bucket as the DICT read it, once per poll (RATE_LIMIT_POLL_S); monthly partitions rate_limit_readings_yYYYYmMM (UTC), kept RATE_LIMIT_RETENTION_MONTHS';
COMMENT ON COLUMN rate_limit_readings.available_tokens IS
    'tokens left (may be negative: a 404 of an anti-scan policy takes its whole cost, DICT.md section 4)';

CREATE TABLE rate_limit_readings_default PARTITION OF rate_limit_readings DEFAULT;

COMMENT ON TABLE rate_limit_readings_default IS
    'readings of a month with no partition yet (before the first maintenance); rate_limit_partitions() moves them into the month''s partition when it creates it';

-- Creates the partitions of the month of p_now and the p_ahead months after it, and
-- drops those whose whole month ended more than p_retention_months before p_now (and
-- the default partition's readings that old). Idempotent; two callers at once (two
-- schedulers, an operator) take turns on an advisory lock and the second finds the work
-- done. When there is work, the readings are locked for its few milliseconds. Months
-- are UTC. Returns what it did: ('created' | 'dropped', partition).
CREATE FUNCTION rate_limit_partitions(p_now timestamptz, p_ahead integer, p_retention_months integer)
RETURNS TABLE (action text, partition_name text) LANGUAGE plpgsql AS $$
DECLARE
    first_month timestamp := date_trunc('month', p_now AT TIME ZONE 'UTC');
    cutoff timestamptz := p_now - make_interval(months => p_retention_months);
    m_start timestamp;
    child text;
    wanted text[] := '{}';
    doomed text[] := '{}';
BEGIN
    IF p_ahead < 0 OR p_retention_months < 1 THEN
        RAISE EXCEPTION 'rate_limit_partitions: ahead must be >= 0 and retention >= 1 month';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('rate_limit_partitions'));
    FOR i IN 0..p_ahead LOOP
        m_start := first_month + make_interval(months => i);
        child := 'rate_limit_readings_' || to_char(m_start, '"y"YYYY"m"MM');
        IF to_regclass(child) IS NULL THEN
            wanted := wanted || child;
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
    FOREACH child IN ARRAY wanted LOOP
        m_start := to_date(right(child, 8), '"y"YYYY"m"MM');
        EXECUTE format(
            'CREATE TABLE %I (LIKE rate_limit_readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
            child);
        EXECUTE format(
            'WITH moved AS (DELETE FROM rate_limit_readings_default'
            ' WHERE read_at >= %L AND read_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
            m_start AT TIME ZONE 'UTC', (m_start + interval '1 month') AT TIME ZONE 'UTC', child);
        EXECUTE format(
            'ALTER TABLE rate_limit_readings ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            child, m_start AT TIME ZONE 'UTC', (m_start + interval '1 month') AT TIME ZONE 'UTC');
        action := 'created'; partition_name := child; RETURN NEXT;
    END LOOP;
END
$$;
