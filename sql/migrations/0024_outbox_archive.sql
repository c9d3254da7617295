-- The outbox's finished rows leave the queue into an archive partitioned by month (issue 16).
--
-- The outbox is a queue: its live rows (pending, dispatched) must stay unique per
-- dedupe_key across the whole table, which a partitioned table cannot enforce unless the
-- key holds the partition key (docs/architecture.md, "The outbox and its archive"). So the
-- queue stays one table, and what grows with every change, the finished rows, moves out:
-- the daily maintenance moves the rows done or cancelled more than OUTBOX_RETENTION_DAYS
-- ago into outbox_archive (outbox.prune_done), by month of finished_at, and drops an
-- archived month whole once it ended OUTBOX_ARCHIVE_MONTHS ago (month_partitions()). An
-- event's payload, customer data that event_log keeps for EVENT_RETENTION_DAYS, is not
-- archived. Failed rows (dead letters) stay in the outbox until an operator retries them.

CREATE TABLE outbox_archive (
    id            bigint NOT NULL,
    actor         text NOT NULL,
    queue         text NOT NULL,
    args          jsonb NOT NULL,            -- an event's without its payload
    kind          text NOT NULL,
    subject       text,
    dedupe_key    text,
    status        text NOT NULL CHECK (status IN ('done', 'cancelled')),
    deliver_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    dispatched_at timestamptz,
    finished_at   timestamptz NOT NULL,
    attempts      integer NOT NULL,
    last_error    text,
    trace_context text,
    PRIMARY KEY (id, finished_at)            -- a partitioned table's keys include its bounds
) PARTITION BY RANGE (finished_at);

CREATE INDEX outbox_archive_subject ON outbox_archive (subject, id) WHERE subject IS NOT NULL;

COMMENT ON TABLE outbox_archive IS
    'Outbox rows done or cancelled more than OUTBOX_RETENTION_DAYS ago, moved here by the daily maintenance (an event''s args without its payload); monthly partitions outbox_archive_yYYYYmMM (UTC, by finished_at) kept OUTBOX_ARCHIVE_MONTHS by month_partitions(). What a subject''s effects were: SELECT * FROM outbox_archive WHERE subject = ''claim:…'' ORDER BY id';

CREATE TABLE outbox_archive_default PARTITION OF outbox_archive DEFAULT;

COMMENT ON TABLE outbox_archive_default IS
    'archived rows of a month with no partition yet (a month before the first maintenance, a clock far off); month_partitions() moves a month''s rows into its partition when it creates it and deletes those past the retention';

-- Creates the month partitions `<parent>_yYYYYmMM` of p_now's month and the p_ahead months
-- after it (attach_month_partition(), migration 0022: their rows waiting in
-- `<parent>_default` moved in), and drops those whose whole month ended more than
-- p_retention_months before p_now, with the default partition's rows that old. Idempotent;
-- two callers at once (two schedulers, an operator) take turns on an advisory lock and
-- the second finds the work done. When there is work the parent is locked for its few
-- milliseconds. Months are UTC. Returns what it did: ('created' | 'dropped', partition).
CREATE FUNCTION month_partitions(p_parent text, p_column text, p_now timestamptz,
                                 p_ahead integer, p_retention_months integer)
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
        RAISE EXCEPTION 'month_partitions(%): ahead must be >= 0 and retention >= 1 month', p_parent;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('month_partitions ' || p_parent));
    FOR i IN 0..p_ahead LOOP
        m_start := first_month + make_interval(months => i);
        IF to_regclass('public.' || p_parent || '_' || to_char(m_start, '"y"YYYY"m"MM')) IS NULL THEN
            wanted := wanted || m_start;
        END IF;
    END LOOP;
    FOR child IN
        SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
        WHERE h.inhparent = ('public.' || p_parent)::regclass
          AND c.relname ~ ('^' || p_parent || '_y[0-9]{4}m[0-9]{2}$')
        ORDER BY c.relname
    LOOP
        m_start := to_date(right(child, 8), '"y"YYYY"m"MM');
        IF (m_start + interval '1 month') AT TIME ZONE 'UTC' <= cutoff THEN
            doomed := doomed || child;
        END IF;
    END LOOP;
    EXECUTE format('DELETE FROM public.%I WHERE %I < %L', p_parent || '_default', p_column, cutoff);
    IF cardinality(wanted) = 0 AND cardinality(doomed) = 0 THEN
        RETURN;
    END IF;
    -- Every partition, the default included: no row is routed while they move.
    EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', p_parent);
    FOREACH child IN ARRAY doomed LOOP
        EXECUTE format('DROP TABLE public.%I', child);
        action := 'dropped'; partition_name := child; RETURN NEXT;
    END LOOP;
    FOREACH m_start IN ARRAY wanted LOOP
        action := 'created';
        partition_name := attach_month_partition(p_parent, p_column, m_start);
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION month_partitions(text, text, timestamptz, integer, integer) IS
    'The monthly partitions of a table partitioned by RANGE on a timestamptz with a default partition: p_now''s month and p_ahead more created, months older than p_retention_months dropped; used by the maintenance cron for rate_limit_readings (rate_limit_partitions()) and outbox_archive';

-- rate_limit_partitions() of migration 0017, now the shared function.
CREATE OR REPLACE FUNCTION rate_limit_partitions(p_now timestamptz, p_ahead integer, p_retention_months integer)
RETURNS TABLE (action text, partition_name text) LANGUAGE sql AS $$
    SELECT * FROM month_partitions('rate_limit_readings', 'read_at', p_now, p_ahead, p_retention_months)
$$;

-- This month's and the next 3 (the maintenance cron keeps them from now on); the rows
-- archived before that are in the default partition until their month gets one or ends.
SELECT * FROM month_partitions('outbox_archive', 'finished_at', now(), 3, 1200);
