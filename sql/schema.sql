-- The schema of dict-connect as sql/migrations build it (generated: do not edit; run
-- `make schema` after adding a migration, and a test keeps this file current).
-- The status of each machine, and which component moves a row out of each status, is
-- in the COMMENT ON COLUMN <table>.status below.

CREATE SCHEMA archive;

COMMENT ON SCHEMA archive IS 'Detached monthly partitions of state_history older than HISTORY_RETENTION_MONTHS (history_partitions()), same columns; readable by whoever may read state_history';

CREATE SCHEMA ops;

COMMENT ON SCHEMA ops IS 'Operators'' views and functions for psql (docs/runbooks/README.md): read the views, mend the outbox with ops.retry, ops.retry_dead_letters, ops.reschedule, ops.release_leases; ask for a transition with ops.request';

CREATE FUNCTION ops.before(outbox_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object('id', id, 'actor', actor, 'subject', subject, 'status', status,
                              'deliver_at', deliver_at, 'attempts', attempts,
                              'last_error', last_error)
    FROM outbox WHERE id = outbox_id
$$;

CREATE FUNCTION ops.check_reason(fn text, reason text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION '%: reason must say why (the history keeps it)', fn
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('e.g. SELECT %s(…, ''bridge back after INC-1234'').', fn);
    END IF;
END $$;

CREATE FUNCTION ops.hand_back(outbox_id bigint, action text, reason text) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
DECLARE
    was    jsonb := ops.before(outbox_id);
    dedupe text := (SELECT dedupe_key FROM outbox WHERE id = outbox_id);
    holder bigint;
BEGIN
    IF dedupe IS NOT NULL AND was ->> 'status' = 'failed' THEN
        SELECT id INTO holder FROM outbox
        WHERE dedupe_key = dedupe AND status IN ('pending', 'dispatched') AND id <> outbox_id;
        IF holder IS NOT NULL THEN
            RAISE NOTICE 'outbox % (%): its dedupe key % is held by live row %, which does the same work: not retried',
                outbox_id, was ->> 'actor', dedupe, holder;
            RETURN false;
        END IF;
    END IF;
    UPDATE outbox
    SET status = 'pending', deliver_at = greatest(deliver_at, now()), dispatched_at = NULL,
        lease_until = NULL, finished_at = NULL
    WHERE id = outbox_id;
    PERFORM ops.record(was, action, reason, format('%s -> pending, due %s', was ->> 'status',
        CASE WHEN (was ->> 'deliver_at')::timestamptz > now() THEN was ->> 'deliver_at'
             ELSE 'now' END));
    RETURN true;
END $$;

CREATE FUNCTION ops.record(was jsonb, action text, reason text, detail text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    subject    text := was ->> 'subject';
    machine    text := split_part(subject, ':', 1);
    subject_id text := substr(subject, length(machine) + 2);
    status     text := ops.subject_status(machine, subject_id);
BEGIN
    INSERT INTO ops.actions (at, actor, action, outbox_id, subject, reason, before)
    VALUES (now(), current_user, action, (was ->> 'id')::bigint, subject, reason, was);
    IF status IS NOT NULL THEN
        INSERT INTO state_history (machine, subject_id, from_status, to_status, trigger,
                                   reason, actor, at)
        VALUES (machine, subject_id, status, status, 'ops.' || action,
                format('%s (outbox %s %s: %s)', reason, was ->> 'id', was ->> 'actor', detail),
                current_user, now());
    END IF;
END $$;

CREATE FUNCTION ops.release_leases(reason text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    o outbox;
    n integer := 0;
BEGIN
    PERFORM ops.check_reason('ops.release_leases', reason);
    FOR o IN SELECT * FROM outbox WHERE status = 'dispatched' ORDER BY id FOR UPDATE LOOP
        IF ops.hand_back(o.id, 'release_lease', reason) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

COMMENT ON FUNCTION ops.release_leases(reason text) IS 'Every dispatched (unfinished) row back to pending, due now (a row deferred to a later instant keeps that instant), for the relay''s next tick: after a restore from backup or a lost Redis, when the messages carrying them are gone. Actors are idempotent and DICT writes carry their RequestId, so a message that did survive does no harm. Returns how many; records who and why per row.';

CREATE FUNCTION ops.request(machine text, subject_id text, trigger text, reason text) RETURNS bigint
    LANGUAGE sql
    AS $$
    INSERT INTO outbox (actor, args, kind, subject, deliver_at, created_at)
    VALUES ('fire_trigger',
            jsonb_build_object('machine', machine, 'subject_id', subject_id,
                               'trigger', trigger, 'reason', reason, 'actor', current_user),
            'task', machine || ':' || subject_id, clock_timestamp(), clock_timestamp())
    RETURNING id
$$;

CREATE FUNCTION ops.reschedule(outbox_id bigint, at timestamp with time zone, reason text) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    o outbox;
BEGIN
    PERFORM ops.check_reason('ops.reschedule', reason);
    IF at IS NULL OR NOT isfinite(at) THEN
        RAISE EXCEPTION 'ops.reschedule: at must be an instant (got %)', coalesce(at::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. now() for at once, or ''2026-05-04 10:00-03''.';
    END IF;
    SELECT * INTO o FROM outbox WHERE id = outbox_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ops.reschedule: outbox_id % names no outbox row', outbox_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The timers and work still to come are the pending rows: SELECT id, actor, subject, deliver_at FROM outbox WHERE status = ''pending'' AND subject = ''claim:…''.';
    END IF;
    IF o.status <> 'pending' THEN
        RAISE EXCEPTION 'ops.reschedule: outbox_id % is %: only a pending row (a timer, or work not yet handed out) can be moved',
                        outbox_id, o.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE WHEN o.status IN ('failed', 'dispatched')
                              THEN format('To run it again now: SELECT ops.retry(%s, ''why'').', outbox_id)
                              ELSE 'A finished row does not run again.' END;
    END IF;
    PERFORM ops.record(ops.before(o.id), 'reschedule', reason,
                       format('deliver_at %s -> %s', o.deliver_at, at));
    UPDATE outbox SET deliver_at = at WHERE id = o.id;
    RETURN format('outbox %s (%s, %s) is due at %s', outbox_id, o.actor,
                  coalesce(o.subject, 'no subject'), at);
END $$;

COMMENT ON FUNCTION ops.reschedule(outbox_id bigint, at timestamp with time zone, reason text) IS 'Move a pending row (a timer, or work not handed out yet) to deliver at `at`; the relay dispatches it then. A timer''s actor re-checks its rules when it fires (a claim deadline fired early is scheduled again for its instant). Records who and why.';

CREATE FUNCTION ops.retry(outbox_id bigint, reason text) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    o outbox;
BEGIN
    PERFORM ops.check_reason('ops.retry', reason);
    SELECT * INTO o FROM outbox WHERE id = outbox_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ops.retry: outbox_id % names no outbox row', outbox_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Dead letters are in ops.dead_letters, rows stuck in flight in ops.stale_leases (done rows are pruned after 7 days).';
    END IF;
    IF o.status NOT IN ('failed', 'dispatched') THEN
        RAISE EXCEPTION 'ops.retry: outbox_id % is %: only a failed row (a dead letter) or a dispatched one (stuck in flight) can be retried',
                        outbox_id, o.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE o.status
                      WHEN 'pending' THEN format('The relay hands it out at its deliver_at (%s); to move that, SELECT ops.reschedule(%s, now(), ''why'').', o.deliver_at, outbox_id)
                      WHEN 'done' THEN 'Its work happened. To do it again, ask for the transition: SELECT ops.request(machine, subject_id, trigger, reason).'
                      ELSE 'A cancelled timer no longer applies: its subject moved on.' END;
    END IF;
    IF NOT ops.hand_back(o.id, 'retry', reason) THEN
        RAISE EXCEPTION 'ops.retry: outbox_id % cannot be retried: its dedupe key % is held by another live row',
                        outbox_id, o.dedupe_key
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('That row does the same work: SELECT * FROM outbox WHERE dedupe_key = %L AND status IN (''pending'', ''dispatched'').', o.dedupe_key);
    END IF;
    RETURN format('outbox %s (%s, %s) is pending again, due now: the relay dispatches it within a minute',
                  outbox_id, o.actor, coalesce(o.subject, 'no subject'));
END $$;

COMMENT ON FUNCTION ops.retry(outbox_id bigint, reason text) IS 'A dead letter (failed) or a row stuck in flight (dispatched) back to the relay, due now; attempts and last_error kept, finished_at and the lease cleared. Records who and why (ops.actions, the subject''s state_history).';

CREATE FUNCTION ops.retry_dead_letters(actor text, since timestamp with time zone, reason text) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    o outbox;
    n integer := 0;
    known text;
BEGIN
    PERFORM ops.check_reason('ops.retry_dead_letters', reason);
    IF since IS NULL OR since > now() THEN
        RAISE EXCEPTION 'ops.retry_dead_letters: since must be a past instant (got %)',
                        coalesce(since::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Dead letters that died at or after since are retried: e.g. now() - interval ''2 hours'', or ''-infinity'' for all of them.';
    END IF;
    IF actor IS NULL OR NOT EXISTS (SELECT 1 FROM outbox x WHERE x.actor = retry_dead_letters.actor) THEN
        SELECT string_agg(DISTINCT x.actor, ', ') INTO known FROM outbox x WHERE x.status = 'failed';
        RAISE EXCEPTION 'ops.retry_dead_letters: actor % names no actor of the outbox',
                        coalesce(quote_literal(actor), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Actors with dead letters now: %s (SELECT actor, count(*) FROM ops.dead_letters GROUP BY 1).',
                                coalesce(known, 'none'));
    END IF;
    FOR o IN
        SELECT * FROM outbox x
        WHERE x.status = 'failed' AND x.actor = retry_dead_letters.actor AND x.finished_at >= since
        ORDER BY x.id
        FOR UPDATE
    LOOP
        IF ops.hand_back(o.id, 'retry', reason) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

COMMENT ON FUNCTION ops.retry_dead_letters(actor text, since timestamp with time zone, reason text) IS 'ops.retry for every dead letter of one actor that died at or after since; returns how many were retried (one whose dedupe key another live row holds is skipped, with a notice).';

CREATE FUNCTION ops.subject_status(machine text, subject_id text) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $_$
BEGIN
    IF machine IS NULL OR subject_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF machine = 'sync_run' THEN
        IF subject_id !~ '^[0-9]{1,18}$' THEN
            RETURN NULL;
        END IF;
        RETURN (SELECT status FROM sync_runs WHERE id = subject_id::bigint);
    END IF;
    IF subject_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN NULL;
    END IF;
    RETURN CASE machine
        WHEN 'entry' THEN (SELECT status FROM entries WHERE id = subject_id::uuid)
        WHEN 'claim' THEN (SELECT status FROM claims WHERE id = subject_id::uuid)
        WHEN 'infraction_report' THEN (SELECT status FROM infraction_reports WHERE id = subject_id::uuid)
        WHEN 'refund' THEN (SELECT status FROM refunds WHERE id = subject_id::uuid)
        WHEN 'fraud_marker' THEN (SELECT status FROM fraud_markers WHERE id = subject_id::uuid)
    END;
END $_$;

CREATE FUNCTION public.archive_history_partition(p_child text) RETURNS void
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.attach_month_partition(p_parent text, p_column text, p_month timestamp without time zone) RETURNS text
    LANGUAGE plpgsql
    AS $$
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

COMMENT ON FUNCTION public.attach_month_partition(p_parent text, p_column text, p_month timestamp without time zone) IS 'One month partition <parent>_yYYYYmMM (UTC), with that month''s rows moved out of <parent>_default; used by rate_limit_partitions() and history_partitions()';

CREATE FUNCTION public.dict_tag(actor text, trigger text, reason text, now timestamp with time zone) RETURNS boolean
    LANGUAGE sql
    AS $$
    SELECT set_config('dict.actor', actor, true) IS NOT NULL
       AND set_config('dict.trigger', trigger, true) IS NOT NULL
       AND set_config('dict.reason', reason, true) IS NOT NULL
       AND set_config('dict.now', now::text, true) IS NOT NULL
$$;

CREATE FUNCTION public.enforce_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.entries_cid_moved() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    gone text := CASE WHEN TG_OP <> 'INSERT' THEN OLD.cid END;
    came text := CASE WHEN TG_OP <> 'DELETE' THEN NEW.cid END;
    at   timestamptz := CASE WHEN TG_OP <> 'DELETE' THEN NEW.updated_at ELSE now() END;
BEGIN
    IF gone IS NOT DISTINCT FROM came THEN
        RETURN NULL;
    END IF;
    IF gone IS NOT NULL THEN
        DELETE FROM cids WHERE key_type = OLD.key_type AND cid = gone;
        PERFORM vsync_move(OLD.key_type, gone, -1, at);
    END IF;
    IF came IS NOT NULL THEN
        INSERT INTO cids (key_type, cid, entry_id, request_id, added_at)
        VALUES (NEW.key_type, came, NEW.id, NEW.request_id, at);
        PERFORM vsync_move(NEW.key_type, came, 1, at);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION public.event_pending() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO event_log_pending (outbox_id) VALUES (NEW.id);
    RETURN NULL;
END $$;

CREATE FUNCTION public.history_partitions(p_now timestamp with time zone, p_ahead integer, p_retention_months integer, p_archive_months integer) RETURNS TABLE(action text, partition_name text)
    LANGUAGE plpgsql
    AS $_$
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
$_$;

CREATE FUNCTION public.lookup_key_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_TABLE_NAME = 'claims' THEN
        IF TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status THEN
            RETURN NULL;
        END IF;
        INSERT INTO lookup_key_changes (key_hash, held)
        VALUES (sha256(convert_to(NEW.key, 'UTF8')), NULL);
        RETURN NULL;
    END IF;
    -- entries: a key is held while its entry has a CID (active, updating, deleting)
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.cid IS NOT NULL
       AND (TG_OP = 'DELETE' OR NEW.key IS DISTINCT FROM OLD.key OR NEW.cid IS NULL) THEN
        INSERT INTO lookup_key_changes (key_hash, held)
        VALUES (sha256(convert_to(OLD.key, 'UTF8')), false);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.cid IS NOT NULL THEN
        INSERT INTO lookup_key_changes (key_hash, held)
        VALUES (sha256(convert_to(NEW.key, 'UTF8')), true);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION public.month_partitions(p_parent text, p_column text, p_now timestamp with time zone, p_ahead integer, p_retention_months integer) RETURNS TABLE(action text, partition_name text)
    LANGUAGE plpgsql
    AS $_$
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
$_$;

COMMENT ON FUNCTION public.month_partitions(p_parent text, p_column text, p_now timestamp with time zone, p_ahead integer, p_retention_months integer) IS 'The monthly partitions of a table partitioned by RANGE on a timestamptz with a default partition: p_now''s month and p_ahead more created, months older than p_retention_months dropped; used by the maintenance cron for rate_limit_readings (rate_limit_partitions()) and outbox_archive';

CREATE FUNCTION public.rate_limit_partitions(p_now timestamp with time zone, p_ahead integer, p_retention_months integer) RETURNS TABLE(action text, partition_name text)
    LANGUAGE sql
    AS $$
    SELECT * FROM month_partitions('rate_limit_readings', 'read_at', p_now, p_ahead, p_retention_months)
$$;

CREATE FUNCTION public.record_transition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.vsync_flush() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM vsyncs v
    WHERE (v.key_type, v.shard) IN (SELECT key_type, shard FROM vsync_deltas
                                    WHERE xact = pg_current_xact_id())
    ORDER BY v.key_type, v.shard
    FOR UPDATE;  -- in one order: two batches never deadlock on the shards
    UPDATE vsyncs v
    SET vsync = v.vsync # d.delta, entries = v.entries + d.entries,
        updated_at = greatest(v.updated_at, d.at)
    FROM (SELECT key_type, shard, bit_xor(delta) AS delta, sum(entries)::int AS entries,
                 max(at) AS at
          FROM vsync_deltas WHERE xact = pg_current_xact_id()
          GROUP BY key_type, shard) d
    WHERE v.key_type = d.key_type AND v.shard = d.shard;
    DELETE FROM vsync_deltas WHERE xact = pg_current_xact_id();
END $$;

CREATE FUNCTION public.vsync_move(kind text, cid text, n integer, at timestamp with time zone) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    part int := ('x' || substr(cid, 1, 1))::bit(4)::int;
BEGIN
    IF current_setting('dict.vsync_deferred', true) = 'on' THEN
        INSERT INTO vsync_deltas (key_type, shard, delta, entries, at)
        VALUES (kind, part, ('x' || cid)::bit(256), n, at);
    ELSE
        UPDATE vsyncs SET vsync = vsync # ('x' || cid)::bit(256), entries = entries + n,
                          updated_at = at
        WHERE key_type = kind AND shard = part;
    END IF;
END $$;

CREATE TABLE ops.actions (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    outbox_id bigint NOT NULL,
    subject text,
    reason text NOT NULL,
    before jsonb NOT NULL,
    CONSTRAINT actions_action_check CHECK ((action = ANY (ARRAY['retry'::text, 'reschedule'::text, 'release_lease'::text])))
);

COMMENT ON TABLE ops.actions IS 'Every outbox row an ops function changed: who (current_user), when, why, and the row as it was. Rows with a machine subject also get a state_history row (trigger ops.<action>)';

ALTER TABLE ops.actions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.actions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.claims (
    id uuid NOT NULL,
    dict_id text,
    role text NOT NULL,
    type text NOT NULL,
    key text NOT NULL,
    key_type text NOT NULL,
    status text NOT NULL,
    dict_status text,
    dict_last_modified timestamp with time zone,
    donor_participant text,
    claimer_participant text NOT NULL,
    claimer_branch text,
    claimer_account_number text NOT NULL,
    claimer_account_type text NOT NULL,
    claimer_opening_date timestamp with time zone NOT NULL,
    claimer_type text NOT NULL,
    claimer_tax_id text NOT NULL,
    claimer_name text NOT NULL,
    claimer_trade_name text,
    created_at timestamp with time zone,
    resolution_period_end timestamp with time zone,
    completion_period_end timestamp with time zone,
    day30_limit timestamp with time zone,
    possession_validated_at timestamp with time zone,
    completion_request_id uuid NOT NULL,
    entry_id uuid,
    pending jsonb,
    confirm_reason text,
    cancel_reason text,
    cancelled_by text,
    problem_type text,
    problem_detail text,
    anomaly text,
    version integer DEFAULT 0 NOT NULL,
    inserted_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT claims_cancelled_has_its_reason CHECK (((status <> 'cancelled'::text) OR ((cancel_reason IS NOT NULL) AND (cancelled_by IS NOT NULL)))),
    CONSTRAINT claims_confirmed_has_its_reason CHECK (((status <> 'confirmed'::text) OR (confirm_reason IS NOT NULL))),
    CONSTRAINT claims_dict_id_after_submit CHECK (((dict_id IS NOT NULL) OR (status = ANY (ARRAY['submitting'::text, 'rejected'::text])))),
    CONSTRAINT claims_in_flight_has_pending CHECK (((status <> ALL (ARRAY['confirming'::text, 'completing'::text, 'cancelling'::text])) OR (pending IS NOT NULL))),
    CONSTRAINT claims_role_check CHECK ((role = ANY (ARRAY['CLAIMER'::text, 'DONOR'::text]))),
    CONSTRAINT claims_type_check CHECK ((type = ANY (ARRAY['PORTABILITY'::text, 'OWNERSHIP'::text])))
);

COMMENT ON COLUMN public.claims.status IS 'A claim as claimer or donor (statemachines/claim.py): the
DICT''s statuses in lowercase plus our calls in flight. Who moves it out:
submitting:         claimer: CreateClaim to send (create_claim -> open | rejected)
rejected:           claimer: the DICT refused the creation (terminal)
open:               OPEN: not acknowledged yet (donor: the claims poll acknowledges)
waiting_resolution: WAITING_RESOLUTION: the donor''s user decides (donor: day-7 claim_deadline)
confirming:         donor: ConfirmClaim sent (confirm_claim -> confirmed | waiting_resolution)
confirmed:          CONFIRMED: the key left the donor (claimer: complete_claim, day-30 cancel)
completing:         claimer: CompleteClaim sent (complete_claim -> completed | confirmed)
cancelling:         CancelClaim sent, either role (cancel_claim -> cancelled | back)
completed:          COMPLETED (terminal)
cancelled:          CANCELLED (terminal)
What the other side does arrives through the claims poll (poll_claims) and moves the same
machine, never backwards (statemachines.claim.CATCH_UP).';

COMMENT ON COLUMN public.claims.dict_status IS 'the DICT''s status as last seen (newest LastModified wins); our status catches up with it';

COMMENT ON COLUMN public.claims.created_at IS 'derived: the DICT''s ResolutionPeriodEnd - 7 days (the DICT sends no creation date)';

COMMENT ON COLUMN public.claims.day30_limit IS 'derived: the DICT''s ResolutionPeriodEnd + 23 days (day 30 after creation)';

COMMENT ON COLUMN public.claims.pending IS 'the call in flight: {"reason", "from", "deadline"?, "attempt"?}';

CREATE TABLE public.outbox (
    id bigint NOT NULL,
    actor text NOT NULL,
    queue text DEFAULT 'default'::text NOT NULL,
    args jsonb DEFAULT '{}'::jsonb NOT NULL,
    kind text DEFAULT 'task'::text NOT NULL,
    subject text,
    dedupe_key text,
    status text DEFAULT 'pending'::text NOT NULL,
    deliver_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    dispatched_at timestamp with time zone,
    lease_until timestamp with time zone,
    finished_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    trace_context text,
    CONSTRAINT outbox_dispatched_has_lease CHECK (((status <> 'dispatched'::text) OR (lease_until IS NOT NULL))),
    CONSTRAINT outbox_finished_at_when_finished CHECK (((finished_at IS NOT NULL) = (status = ANY (ARRAY['done'::text, 'failed'::text, 'cancelled'::text])))),
    CONSTRAINT outbox_kind_check CHECK ((kind = ANY (ARRAY['task'::text, 'timer'::text, 'event'::text]))),
    CONSTRAINT outbox_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'dispatched'::text, 'done'::text, 'failed'::text, 'cancelled'::text])))
)
WITH (autovacuum_vacuum_scale_factor='0.02', autovacuum_analyze_scale_factor='0.02');

COMMENT ON COLUMN public.outbox.status IS 'An effect of a state change (app/outbox.py). Who moves it:
pending    -> dispatched  the relay (after commit, and every pass: 10 s)
dispatched -> done        the worker middleware, when the actor succeeds
dispatched -> failed      the worker middleware, when retries are exhausted (dead letter)
dispatched -> pending     the relay, when the lease expired (the message was lost), or
                          all at once when Redis lost its messages (relay_redis)
pending    -> cancelled   cancel_timer (a deadline that no longer applies)';

COMMENT ON COLUMN public.outbox.trace_context IS 'W3C traceparent of the span that wrote the row (00-<trace id>-<span id>-<flags>), handed to the actor in the message options; NULL when tracing is off or the row came from psql';

CREATE VIEW ops.claims AS
 SELECT c.id,
    c.dict_id,
    c.role,
    c.type,
    c.status,
    c.dict_status,
    n.name AS next_deadline,
    n.at AS next_deadline_at,
    (n.at - now()) AS time_left,
    s.scheduled,
    (c.pending ->> 'reason'::text) AS pending_reason,
    c.problem_type,
    c.anomaly,
    c.possession_validated_at,
    c.updated_at
   FROM ((public.claims c
     LEFT JOIN LATERAL ( SELECT p.name,
            p.at
           FROM ( VALUES ('ResolutionPeriodEnd'::text,c.resolution_period_end), ('CompletionPeriodEnd'::text,c.completion_period_end), ('Day30Limit'::text,
                        CASE
                            WHEN (c.type = 'OWNERSHIP'::text) THEN c.day30_limit
                            ELSE NULL::timestamp with time zone
                        END)) p(name, at)
          WHERE (p.at > now())
          ORDER BY p.at
         LIMIT 1) n ON (true))
     LEFT JOIN LATERAL ( SELECT string_agg(((((o.actor || ' '::text) || o.status) || ' due '::text) || (o.deliver_at)::text), ', '::text ORDER BY o.deliver_at) AS scheduled
           FROM public.outbox o
          WHERE ((o.subject = ('claim:'::text || c.id)) AND (o.status = ANY (ARRAY['pending'::text, 'dispatched'::text])) AND (o.kind <> 'event'::text))) s ON (true))
  WHERE (c.status <> ALL (ARRAY['rejected'::text, 'completed'::text, 'cancelled'::text]));

COMMENT ON VIEW ops.claims IS 'Open claims (not rejected, completed or cancelled), one row
each: role, type, status, the DICT''s status as last seen, the next period end still ahead
(ResolutionPeriodEnd, CompletionPeriodEnd and Day30Limit for OWNERSHIP), and the outbox
rows scheduled for it (timers and calls, not events). By role and status:
SELECT role, status, count(*), min(next_deadline_at) FROM ops.claims GROUP BY 1, 2.
A claim in submitting, confirming, completing or cancelling with nothing scheduled has
lost its call: see ops.orphans. What our role owes, and when: ops.deadlines_at_risk.';

CREATE VIEW ops.dead_letters AS
 SELECT outbox.id,
    outbox.actor,
    outbox.queue,
    outbox.kind,
    outbox.subject,
    outbox.attempts,
    outbox.last_error,
    outbox.created_at,
    outbox.finished_at,
    (outbox.args - 'payload'::text) AS args
   FROM public.outbox
  WHERE (outbox.status = 'failed'::text);

COMMENT ON VIEW ops.dead_letters IS 'Outbox rows that failed for good: retries ran out, the
error said retrying cannot help, or a bug raised. Their work (a DICT call, a timer''s
action, an event) has not happened. args without an event''s payload (it holds customer
data). Read last_error (and the worker log at finished_at), fix the cause, then
SELECT ops.retry(id, ''why'') (or ops.retry_dead_letters(actor, since, ''why'') for many):
the actor re-reads its subject and does nothing if the work was already done.';

CREATE TABLE public.infraction_reports (
    id uuid NOT NULL,
    dict_id text,
    role text NOT NULL,
    status text NOT NULL,
    dict_status text,
    transaction_id text NOT NULL,
    reason text NOT NULL,
    situation_type text NOT NULL,
    report_details text,
    contact_email text NOT NULL,
    contact_phone text NOT NULL,
    transaction_at timestamp with time zone,
    reporter_participant text NOT NULL,
    counterparty_participant text NOT NULL,
    analysis_result text,
    analysis_details text,
    fraud_type text,
    fraud_marker_id text,
    dict_created_at timestamp with time zone,
    dict_last_modified timestamp with time zone,
    due_at timestamp with time zone,
    request_id uuid NOT NULL,
    pending jsonb,
    problem_type text,
    problem_detail text,
    version integer DEFAULT 0 NOT NULL,
    inserted_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT infraction_reports_analysis_result_check CHECK ((analysis_result = ANY (ARRAY['AGREED'::text, 'DISAGREED'::text]))),
    CONSTRAINT infraction_reports_closed_has_its_analysis CHECK (((status <> 'closed'::text) OR (analysis_result IS NOT NULL))),
    CONSTRAINT infraction_reports_counterparty_has_due_at CHECK (((role <> 'COUNTERPARTY'::text) OR (due_at IS NOT NULL))),
    CONSTRAINT infraction_reports_dict_id_after_submit CHECK (((dict_id IS NOT NULL) OR (status = ANY (ARRAY['submitting'::text, 'rejected'::text])))),
    CONSTRAINT infraction_reports_in_flight_has_pending CHECK (((status <> ALL (ARRAY['acknowledging'::text, 'closing'::text, 'cancelling'::text, 'updating'::text])) OR (pending IS NOT NULL))),
    CONSTRAINT infraction_reports_marker_only_when_agreed CHECK (((fraud_marker_id IS NULL) OR (analysis_result = 'AGREED'::text))),
    CONSTRAINT infraction_reports_reason_check CHECK ((reason = ANY (ARRAY['REFUND_REQUEST'::text, 'REFUND_CANCELLED'::text]))),
    CONSTRAINT infraction_reports_rejected_says_why CHECK (((status <> 'rejected'::text) OR (problem_type IS NOT NULL))),
    CONSTRAINT infraction_reports_role_check CHECK ((role = ANY (ARRAY['REPORTER'::text, 'COUNTERPARTY'::text])))
);

COMMENT ON COLUMN public.infraction_reports.status IS 'An infraction report as reporter or
counterparty (statemachines/infraction_report.py): the DICT''s statuses in lowercase plus
our calls in flight. Who moves it out:
submitting:    reporter: CreateInfractionReport to send (create_infraction_report -> open | rejected)
rejected:      reporter: the DICT refused the creation (terminal)
open:          OPEN (counterparty: acknowledged at once by the poll -> acknowledging;
               reporter: cancel -> cancelling, update -> updating)
acknowledging: counterparty: AcknowledgeInfractionReport sent (-> acknowledged | open)
acknowledged:  ACKNOWLEDGED (counterparty: close -> closing, day-5 and day-7 timers;
               reporter: cancel -> cancelling, update -> updating)
closing:       counterparty: CloseInfractionReport sent, the analysis in pending (-> closed | acknowledged)
closed:        CLOSED (reporter: cancel -> cancelling; the creator may cancel after close)
cancelling:    reporter: CancelInfractionReport sent (-> cancelled | back)
updating:      reporter: UpdateInfractionReport sent, the new values in pending (-> back)
cancelled:     CANCELLED (terminal)
What the other side does arrives through the infraction poll and moves the same machine,
never backwards (statemachines.infraction_report.CATCH_UP).';

COMMENT ON COLUMN public.infraction_reports.counterparty_participant IS 'the other PSP: what we named on create until the DICT says (it takes it from the SPI)';

COMMENT ON COLUMN public.infraction_reports.due_at IS 'counterparty: the DICT''s CreationTime + 7 days (app.domain.infractions.deadline)';

COMMENT ON COLUMN public.infraction_reports.request_id IS 'ours: the DICT''s CreateInfractionReportRequest has no RequestId (see the bridge contract)';

CREATE TABLE public.refunds (
    id uuid NOT NULL,
    dict_id text,
    role text NOT NULL,
    status text NOT NULL,
    dict_status text,
    transaction_id text NOT NULL,
    refund_reason text NOT NULL,
    refund_amount numeric(15,2) NOT NULL,
    refund_details text,
    transaction_at timestamp with time zone,
    requesting_participant text NOT NULL,
    contested_participant text,
    infraction_report_id text,
    analysis_result text,
    analysis_details text,
    rejection_reason text,
    refund_transaction_id text,
    refunded_amount numeric(15,2),
    dict_created_at timestamp with time zone,
    dict_last_modified timestamp with time zone,
    due_at timestamp with time zone,
    request_id uuid NOT NULL,
    pending jsonb,
    problem_type text,
    problem_detail text,
    version integer DEFAULT 0 NOT NULL,
    inserted_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT refunds_analysis_result_check CHECK ((analysis_result = ANY (ARRAY['TOTALLY_ACCEPTED'::text, 'PARTIALLY_ACCEPTED'::text, 'REJECTED'::text]))),
    CONSTRAINT refunds_closed_has_its_analysis CHECK (((status <> 'closed'::text) OR (analysis_result IS NOT NULL))),
    CONSTRAINT refunds_contested_has_due_at CHECK (((role <> 'CONTESTED'::text) OR (due_at IS NOT NULL))),
    CONSTRAINT refunds_dict_id_after_submit CHECK (((dict_id IS NOT NULL) OR (status = ANY (ARRAY['submitting'::text, 'rejected'::text])))),
    CONSTRAINT refunds_in_flight_has_pending CHECK (((status <> ALL (ARRAY['closing'::text, 'cancelling'::text])) OR (pending IS NOT NULL))),
    CONSTRAINT refunds_refund_amount_check CHECK ((refund_amount > (0)::numeric)),
    CONSTRAINT refunds_refund_reason_check CHECK ((refund_reason = ANY (ARRAY['FRAUD'::text, 'OPERATIONAL_FLAW'::text, 'REFUND_CANCELLED'::text, 'PIX_AUTOMATICO'::text]))),
    CONSTRAINT refunds_rejected_says_why CHECK (((status <> 'rejected'::text) OR (problem_type IS NOT NULL))),
    CONSTRAINT refunds_role_check CHECK ((role = ANY (ARRAY['REQUESTING'::text, 'CONTESTED'::text])))
);

COMMENT ON COLUMN public.refunds.status IS 'A refund request as requester (the payer''s PSP) or
contested (the payee''s PSP) (statemachines/refund.py): the DICT''s statuses in lowercase
plus our calls in flight. Who moves it out:
submitting: requesting: CreateRefund to send (create_refund -> open | rejected)
rejected:   requesting: the DICT refused the request (terminal)
open:       OPEN (contested: our analysis, close -> closing, warned and due by the deadline
            timers; requesting: cancel -> cancelling, or the other side closes it)
closing:    contested: CloseRefund sent, the analysis in pending (-> closed | open)
cancelling: requesting: CancelRefund sent (-> cancelled | open)
closed:     CLOSED with its analysis (terminal)
cancelled:  CANCELLED (terminal)
What the other side does arrives through the refund poll and moves the same machine,
never backwards (statemachines.refund.CATCH_UP).';

COMMENT ON COLUMN public.refunds.refunded_amount IS 'ours: what a close said went back; the DICT learns it from the SPI, not from the close';

COMMENT ON COLUMN public.refunds.due_at IS 'contested: the DICT''s CreationTime + REFUND_ANALYSIS_HOURS (our policy: the DICT says "imediatamente")';

CREATE VIEW ops.deadlines_at_risk AS
 WITH scheduled AS (
         SELECT outbox.subject,
            string_agg(((((outbox.actor || ' '::text) || outbox.status) || ' due '::text) || (outbox.deliver_at)::text), ', '::text ORDER BY outbox.deliver_at) AS scheduled
           FROM public.outbox
          WHERE ((outbox.status = ANY (ARRAY['pending'::text, 'dispatched'::text])) AND (outbox.kind <> 'event'::text) AND ((outbox.subject ~~ 'claim:%'::text) OR (outbox.subject ~~ 'infraction_report:%'::text) OR (outbox.subject ~~ 'refund:%'::text)))
          GROUP BY outbox.subject
        ), owed AS (
         SELECT 'claim'::text AS machine,
            (c.id)::text AS subject_id,
            c.role,
            c.status,
            d.owed,
            d.due_at,
            d.at_once,
            c.problem_type
           FROM (public.claims c
             CROSS JOIN LATERAL ( VALUES (
                        CASE
                            WHEN ((c.role = 'DONOR'::text) AND (c.status = 'open'::text)) THEN 'acknowledge'::text
                            ELSE NULL::text
                        END,c.inserted_at,true), (
                        CASE
                            WHEN ((c.role = 'DONOR'::text) AND (c.status = ANY (ARRAY['waiting_resolution'::text, 'confirming'::text, 'cancelling'::text]))) THEN
                            CASE c.type
                                WHEN 'OWNERSHIP'::text THEN 'confirm (DEFAULT_OPERATION) unless decided'::text
                                ELSE 'cancel (DEFAULT_OPERATION) unless decided'::text
                            END
                            ELSE NULL::text
                        END,c.resolution_period_end,false), (
                        CASE
                            WHEN ((c.role = 'CLAIMER'::text) AND (c.type = 'PORTABILITY'::text) AND (c.status = ANY (ARRAY['confirmed'::text, 'completing'::text]))) THEN 'complete'::text
                            ELSE NULL::text
                        END,COALESCE(c.dict_last_modified, c.updated_at),true), (
                        CASE
                            WHEN ((c.role = 'CLAIMER'::text) AND (c.type = 'OWNERSHIP'::text) AND (c.status = ANY (ARRAY['confirmed'::text, 'completing'::text])) AND (c.possession_validated_at IS NOT NULL)) THEN 'complete (possession proved)'::text
                            ELSE NULL::text
                        END,c.completion_period_end,false), (
                        CASE
                            WHEN ((c.role = 'CLAIMER'::text) AND (c.type = 'OWNERSHIP'::text) AND (c.status = ANY (ARRAY['open'::text, 'waiting_resolution'::text, 'confirmed'::text, 'cancelling'::text])) AND (c.possession_validated_at IS NULL)) THEN 'cancel (DEFAULT_OPERATION): possession not proved by day 30'::text
                            ELSE NULL::text
                        END,c.day30_limit,false)) d(owed, due_at, at_once))
          WHERE ((c.status <> ALL (ARRAY['rejected'::text, 'completed'::text, 'cancelled'::text])) AND (d.owed IS NOT NULL))
        UNION ALL
         SELECT 'infraction_report'::text,
            (r.id)::text AS id,
            r.role,
            r.status,
            'close (our analysis)'::text,
            r.due_at,
            false,
            r.problem_type
           FROM public.infraction_reports r
          WHERE ((r.role = 'COUNTERPARTY'::text) AND (r.status <> ALL (ARRAY['rejected'::text, 'closed'::text, 'cancelled'::text])) AND (r.due_at <= (now() + '2 days'::interval)))
        UNION ALL
         SELECT 'refund'::text,
            (f.id)::text AS id,
            f.role,
            f.status,
            'close (our analysis)'::text,
            f.due_at,
            false,
            f.problem_type
           FROM public.refunds f
          WHERE ((f.role = 'CONTESTED'::text) AND (f.status <> ALL (ARRAY['rejected'::text, 'closed'::text, 'cancelled'::text])) AND (f.due_at <= (now() + ((f.due_at - COALESCE(f.dict_created_at, f.inserted_at)) / (4)::double precision))))
        )
 SELECT o.machine,
    o.subject_id,
    o.role,
    o.status,
    o.owed,
    o.due_at,
    (o.due_at - now()) AS time_left,
    s.scheduled,
    o.problem_type
   FROM (owed o
     LEFT JOIN scheduled s ON ((s.subject = ((o.machine || ':'::text) || o.subject_id))))
  WHERE ((o.machine <> 'claim'::text) OR (o.at_once AND (o.due_at < (now() - '00:05:00'::interval))) OR ((NOT o.at_once) AND (o.due_at < (now() + '1 day'::interval))));

COMMENT ON VIEW ops.deadlines_at_risk IS 'Subjects whose legal or analysis deadline is near
or past and whose action is not done, one row per action owed: claims where our role
owes an action (a donor''s acknowledgement or an "at once" completion more than 5 minutes
late; a period duty due within a day or past), infraction reports against us due within
2 days or past, refund requests against us in the last quarter of their time or past.
scheduled lists the timers and calls waiting for the subject: a timer or a call there
means the action will happen (or is out); nothing there with time_left near zero means
nobody will act: ask for the action (ops.request) or hand it to the analyst (MED closes
go through the API). Negative time_left is a deadline missed.';

CREATE TABLE public.event_log (
    id bigint NOT NULL,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    subject text,
    occurred_at timestamp with time zone NOT NULL,
    logged_at timestamp with time zone NOT NULL,
    outbox_id bigint NOT NULL
);

COMMENT ON TABLE public.event_log IS 'Every event for core banking, in id order (GET /v1/events?after=<id>); kept EVENT_RETENTION_DAYS (default 30) after logged_at, then removed by the maintenance cron. Only publication (app/repo/event_log.py, under its lock) inserts here: never insert by hand, insert an outbox row of kind event instead';

COMMENT ON COLUMN public.event_log.id IS 'The event id (event_id in the Redis streams): given at publication, in the order readers see the events; gaps are possible (a failed publication, the jump after a restore)';

COMMENT ON COLUMN public.event_log.occurred_at IS 'The time of the change that caused the event (its outbox row''s created_at)';

COMMENT ON COLUMN public.event_log.logged_at IS 'When publication logged it; what retention goes by';

COMMENT ON COLUMN public.event_log.outbox_id IS 'The outbox row (kind event) written with the change';

CREATE TABLE public.event_log_pending (
    outbox_id bigint NOT NULL
);

COMMENT ON TABLE public.event_log_pending IS 'Events committed and not yet in event_log (their outbox rows: topic and payload). Written by the trigger outbox_event_pending in the change''s transaction, emptied by publication within a second, or within a minute by the relay cron. The foreign key keeps the outbox''s pruning from removing an event not yet logged';

CREATE TABLE public.event_log_state (
    one boolean DEFAULT true NOT NULL,
    pushed_through bigint DEFAULT 0 NOT NULL,
    pushed_at timestamp with time zone,
    pruned_through bigint DEFAULT 0 NOT NULL,
    CONSTRAINT event_log_state_one_check CHECK (one)
);

COMMENT ON COLUMN public.event_log_state.pushed_through IS 'The last event id appended to the Redis streams; publication pushes the ids above it, in order (a Redis failure leaves it behind, and the next pass pushes again from here)';

COMMENT ON COLUMN public.event_log_state.pruned_through IS 'The last event id retention removed: GET /v1/events answers 410 to an after below it (the consumer missed events that are gone)';

CREATE VIEW ops.event_publication AS
 SELECT ( SELECT count(*) AS count
           FROM public.event_log_pending) AS pending,
    ( SELECT min(o.created_at) AS min
           FROM (public.event_log_pending p
             JOIN public.outbox o ON ((o.id = p.outbox_id)))) AS oldest_pending_since,
    ( SELECT max(event_log.id) AS max
           FROM public.event_log) AS last_id,
    s.pushed_through,
    s.pushed_at,
    s.pruned_through
   FROM public.event_log_state s;

COMMENT ON VIEW ops.event_publication IS 'Events for core banking. pending above 0 for more than a minute: no worker publishes (docs/runbooks/processes.md). last_id above pushed_through for more than a minute: Redis refuses the pushes; core banking still reads every event from GET /v1/events';

CREATE TABLE public.entries (
    id uuid NOT NULL,
    key text,
    key_type text NOT NULL,
    status text NOT NULL,
    participant text NOT NULL,
    branch text,
    account_number text NOT NULL,
    account_type text NOT NULL,
    opening_date timestamp with time zone NOT NULL,
    owner_type text NOT NULL,
    owner_tax_id text NOT NULL,
    owner_name text NOT NULL,
    owner_trade_name text,
    request_id uuid NOT NULL,
    cid text,
    pending jsonb,
    problem_type text,
    problem_detail text,
    version integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT entries_cid_when_in_dict CHECK (((cid IS NOT NULL) = (status = ANY (ARRAY['active'::text, 'updating'::text, 'deleting'::text])))),
    CONSTRAINT entries_key_required CHECK (((key IS NOT NULL) OR ((key_type = 'EVP'::text) AND (status = ANY (ARRAY['registering'::text, 'rejected'::text]))))),
    CONSTRAINT entries_key_type_check CHECK ((key_type = ANY (ARRAY['CPF'::text, 'CNPJ'::text, 'PHONE'::text, 'EMAIL'::text, 'EVP'::text]))),
    CONSTRAINT entries_owner_type_check CHECK ((owner_type = ANY (ARRAY['NATURAL_PERSON'::text, 'LEGAL_PERSON'::text])))
);

COMMENT ON COLUMN public.entries.status IS 'A key of ours (statemachines/entry.py). Who moves it out:
registering: waiting for the DICT''s answer to CreateEntry (register_entry -> active | rejected)
active:      in the DICT; its CID is part of the VSync (API update/delete -> updating | deleting;
             a claim confirmed on it -> deleted)
updating:    UpdateEntry sent, the new data in pending (update_entry -> active)
deleting:    DeleteEntry sent, the reason in pending (delete_entry -> deleted | active)
deleted:     out of the DICT; its CID left the VSync (terminal)
rejected:    the DICT refused the creation; problem_type says why (terminal)';

CREATE TABLE public.fraud_markers (
    id uuid NOT NULL,
    dict_id text,
    status text NOT NULL,
    origin text NOT NULL,
    tax_id_number text,
    key text,
    fraud_type text NOT NULL,
    infraction_report_id uuid,
    request_id uuid,
    pending jsonb,
    problem_type text,
    problem_detail text,
    dict_created_at timestamp with time zone,
    dict_last_modified timestamp with time zone,
    version integer DEFAULT 0 NOT NULL,
    inserted_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT fraud_markers_dict_id_after_submit CHECK (((dict_id IS NOT NULL) OR (status = ANY (ARRAY['submitting'::text, 'rejected'::text])))),
    CONSTRAINT fraud_markers_fraud_type_check CHECK ((fraud_type = ANY (ARRAY['APPLICATION_FRAUD'::text, 'MULE_ACCOUNT'::text, 'SCAMMER_ACCOUNT'::text, 'OTHER'::text]))),
    CONSTRAINT fraud_markers_in_flight_has_pending CHECK (((status <> 'cancelling'::text) OR (pending IS NOT NULL))),
    CONSTRAINT fraud_markers_origin_check CHECK ((origin = ANY (ARRAY['OURS'::text, 'INFRACTION_REPORT'::text]))),
    CONSTRAINT fraud_markers_ours_are_requested CHECK (((origin <> 'OURS'::text) OR ((request_id IS NOT NULL) AND (tax_id_number IS NOT NULL)))),
    CONSTRAINT fraud_markers_rejected_says_why CHECK (((status <> 'rejected'::text) OR (problem_type IS NOT NULL))),
    CONSTRAINT fraud_markers_report_origin_names_its_report CHECK (((origin = 'INFRACTION_REPORT'::text) = (infraction_report_id IS NOT NULL)))
);

COMMENT ON COLUMN public.fraud_markers.status IS 'A fraud marker (statemachines/fraud_marker.py):
the DICT''s statuses in lowercase plus our calls in flight. Who moves it out:
submitting: OURS: CreateFraudMarker to send, with our RequestId
            (create_fraud_marker -> registered | rejected)
rejected:   OURS: the DICT refused the creation (terminal)
registered: REGISTERED (cancel through the API -> cancelling; INFRACTION_REPORT: inserted
            here by record_fraud_marker, and cancelled with its report by
            report_marker_cancelled -> cancelled)
cancelling: CancelFraudMarker sent (cancel_fraud_marker -> cancelled | back to registered,
            then GetFraudMarker and what the DICT holds)
cancelled:  CANCELLED (terminal)';

COMMENT ON COLUMN public.fraud_markers.origin IS 'OURS: registered by us for our customer; INFRACTION_REPORT: created by our AGREED close of a report';

COMMENT ON COLUMN public.fraud_markers.tax_id_number IS 'NULL only for an INFRACTION_REPORT marker the DICT tied to no one';

COMMENT ON COLUMN public.fraud_markers.infraction_report_id IS 'INFRACTION_REPORT: our infraction report (infraction_reports.id) whose close created it';

COMMENT ON COLUMN public.fraud_markers.request_id IS 'OURS: the RequestId of CreateFraudMarker (idempotent in the DICT); NULL for INFRACTION_REPORT';

CREATE TABLE public.sync_runs (
    id bigint NOT NULL,
    key_type text NOT NULL,
    status text NOT NULL,
    cause text NOT NULL,
    requested_by text,
    source text,
    threshold integer NOT NULL,
    vsync text,
    verification_id bigint,
    verifications integer DEFAULT 0 NOT NULL,
    verified_at timestamp with time zone,
    since timestamp with time zone,
    snapshot_at timestamp with time zone,
    events_after timestamp with time zone,
    event_pages integer DEFAULT 0 NOT NULL,
    file_id bigint,
    file_requested_at timestamp with time zone,
    file_polls integer DEFAULT 0 NOT NULL,
    file_bytes bigint,
    file_sha256 text,
    file_cids bigint,
    shard smallint DEFAULT 0 NOT NULL,
    divergences integer DEFAULT 0 NOT NULL,
    repaired integer DEFAULT 0 NOT NULL,
    decided_by text,
    problem text,
    started_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    version integer DEFAULT 0 NOT NULL,
    rechecks integer DEFAULT 0 NOT NULL,
    CONSTRAINT sync_runs_cause_check CHECK ((cause = ANY (ARRAY['scheduled'::text, 'catch_up'::text, 'requested'::text]))),
    CONSTRAINT sync_runs_failed_has_problem CHECK (((status <> ALL (ARRAY['failed'::text, 'rejected'::text])) OR (problem IS NOT NULL))),
    CONSTRAINT sync_runs_finished CHECK (((finished_at IS NOT NULL) = (status = ANY (ARRAY['ok'::text, 'failed'::text, 'rejected'::text])))),
    CONSTRAINT sync_runs_key_type_check CHECK ((key_type = ANY (ARRAY['CPF'::text, 'CNPJ'::text, 'PHONE'::text, 'EMAIL'::text, 'EVP'::text]))),
    CONSTRAINT sync_runs_rechecks_check CHECK ((rechecks >= 0)),
    CONSTRAINT sync_runs_shard_check CHECK (((shard >= 0) AND (shard <= 16))),
    CONSTRAINT sync_runs_source_check CHECK ((source = ANY (ARRAY['events'::text, 'file'::text]))),
    CONSTRAINT sync_runs_threshold_check CHECK ((threshold >= 0))
);

COMMENT ON COLUMN public.sync_runs.status IS 'A sync run (statemachines/sync_run.py). Who moves it out:
verifying:         CreateSyncVerification to send (verify_sync -> ok | collecting | failed)
collecting:        NOK: reading the DICT''s CID events or its CID file (collect_sync -> comparing | failed)
comparing:         our CIDs against the DICT''s, 16 ranges of CIDs (compare_sync -> reconciling | awaiting_approval)
awaiting_approval: more divergences than the threshold: an operator decides (approve -> reconciling,
                   reject -> rejected; POST /v1/sync-runs/{id}/approve or ops.request)
reconciling:       our base moved to the DICT''s state, divergence by divergence (reconcile_sync -> verifying)
ok:                the DICT answered OK (terminal)
failed:            could not verify or repair; problem says why (terminal)
rejected:          an operator rejected the reconciliation (terminal)';

COMMENT ON COLUMN public.sync_runs.rechecks IS 'NOK answers after the repair from the CID file that were verified again later (SYNC_RECHECKS)';

CREATE VIEW ops.orphans AS
 WITH live AS (
         SELECT DISTINCT outbox.subject
           FROM public.outbox
          WHERE ((outbox.status = ANY (ARRAY['pending'::text, 'dispatched'::text])) AND (outbox.kind <> 'event'::text) AND (outbox.subject IS NOT NULL))
        ), waiting(machine, subject_id, status, updated_at, waits_for) AS (
         SELECT 'entry'::text AS "?column?",
            (e.id)::text AS id,
            e.status,
            e.updated_at,
                CASE e.status
                    WHEN 'registering'::text THEN 'register_entry'::text
                    WHEN 'updating'::text THEN 'update_entry'::text
                    ELSE 'delete_entry'::text
                END AS "case"
           FROM public.entries e
          WHERE (e.status = ANY (ARRAY['registering'::text, 'updating'::text, 'deleting'::text]))
        UNION ALL
         SELECT 'claim'::text,
            (c.id)::text AS id,
            c.status,
            c.updated_at,
                CASE
                    WHEN (c.status = 'submitting'::text) THEN 'create_claim'::text
                    WHEN (c.status = 'confirming'::text) THEN 'confirm_claim'::text
                    WHEN (c.status = 'completing'::text) THEN 'complete_claim'::text
                    WHEN (c.status = 'cancelling'::text) THEN 'cancel_claim'::text
                    WHEN (c.role = 'DONOR'::text) THEN 'claim_deadline (ResolutionPeriodEnd)'::text
                    WHEN (c.type = 'PORTABILITY'::text) THEN 'complete_claim (or its claim_retry)'::text
                    WHEN (c.possession_validated_at IS NULL) THEN 'claim_deadline (Day30Limit)'::text
                    ELSE 'claim_deadline (CompletionPeriodEnd) or claim_retry'::text
                END AS "case"
           FROM public.claims c
          WHERE ((c.status = ANY (ARRAY['submitting'::text, 'confirming'::text, 'completing'::text, 'cancelling'::text])) OR ((c.role = 'DONOR'::text) AND (c.status = 'waiting_resolution'::text)) OR ((c.role = 'CLAIMER'::text) AND (c.status = 'confirmed'::text)) OR ((c.role = 'CLAIMER'::text) AND (c.type = 'OWNERSHIP'::text) AND (c.possession_validated_at IS NULL) AND (c.status = ANY (ARRAY['open'::text, 'waiting_resolution'::text]))))
        UNION ALL
         SELECT 'sync_run'::text,
            (r.id)::text AS id,
            r.status,
            r.updated_at,
                CASE r.status
                    WHEN 'verifying'::text THEN 'verify_sync'::text
                    WHEN 'collecting'::text THEN 'collect_sync'::text
                    WHEN 'comparing'::text THEN 'compare_sync'::text
                    ELSE 'reconcile_sync'::text
                END AS "case"
           FROM public.sync_runs r
          WHERE ((r.status = ANY (ARRAY['verifying'::text, 'collecting'::text, 'comparing'::text, 'reconciling'::text])) AND (r.updated_at < (now() - '00:15:00'::interval)))
        UNION ALL
         SELECT 'infraction_report'::text,
            (r.id)::text AS id,
            r.status,
            r.updated_at,
                CASE r.status
                    WHEN 'submitting'::text THEN 'create_infraction_report'::text
                    WHEN 'acknowledging'::text THEN 'acknowledge_infraction_report'::text
                    WHEN 'closing'::text THEN 'close_infraction_report'::text
                    WHEN 'cancelling'::text THEN 'cancel_infraction_report'::text
                    ELSE 'update_infraction_report'::text
                END AS "case"
           FROM public.infraction_reports r
          WHERE (r.status = ANY (ARRAY['submitting'::text, 'acknowledging'::text, 'closing'::text, 'cancelling'::text, 'updating'::text]))
        UNION ALL
         SELECT 'refund'::text,
            (f.id)::text AS id,
            f.status,
            f.updated_at,
                CASE f.status
                    WHEN 'submitting'::text THEN 'create_refund'::text
                    WHEN 'closing'::text THEN 'close_refund'::text
                    ELSE 'cancel_refund'::text
                END AS "case"
           FROM public.refunds f
          WHERE (f.status = ANY (ARRAY['submitting'::text, 'closing'::text, 'cancelling'::text]))
        UNION ALL
         SELECT 'fraud_marker'::text,
            (m.id)::text AS id,
            m.status,
            m.updated_at,
                CASE m.status
                    WHEN 'submitting'::text THEN 'create_fraud_marker'::text
                    ELSE 'cancel_fraud_marker'::text
                END AS "case"
           FROM public.fraud_markers m
          WHERE (m.status = ANY (ARRAY['submitting'::text, 'cancelling'::text]))
        )
 SELECT w.machine,
    w.subject_id,
    w.status,
    w.waits_for,
    w.updated_at,
    (now() - w.updated_at) AS idle,
    o.id AS last_outbox_id,
    o.actor AS last_actor,
    o.status AS last_outbox_status,
    o.last_error
   FROM (waiting w
     LEFT JOIN LATERAL ( SELECT outbox.id,
            outbox.actor,
            outbox.status,
            outbox.last_error
           FROM public.outbox
          WHERE ((outbox.subject = ((w.machine || ':'::text) || w.subject_id)) AND (outbox.kind <> 'event'::text))
          ORDER BY outbox.id DESC
         LIMIT 1) o ON (true))
  WHERE (NOT (EXISTS ( SELECT 1
           FROM live
          WHERE (live.subject = ((w.machine || ':'::text) || w.subject_id)))));

COMMENT ON VIEW ops.orphans IS 'Subjects waiting for an outbox row of theirs that does not
exist: no task or timer pending or dispatched, so nothing will move them. waits_for names
what should be scheduled; last_outbox_* is the subject''s newest row (usually a dead
letter: ops.retry it once its cause is fixed). Not listed, because the DICT''s polls move
them: a donor claim in open (the claims poll acknowledges it), a claim waiting for the
other side (a claimer''s portability not yet confirmed, an ownership claim whose
possession was proved, a donor''s confirmed claim), an infraction report or refund
request open or acknowledged (the analyst or the other PSP acts; deadlines:
ops.deadlines_at_risk), a sync run in awaiting_approval (an operator decides) or idle
for less than 15 minutes (the scheduler gives a stalled run a new message after 10).';

CREATE VIEW ops.outbox_backlog AS
 SELECT outbox.actor,
    outbox.queue,
    count(*) FILTER (WHERE ((outbox.status = 'pending'::text) AND (outbox.deliver_at <= now()))) AS due,
    (now() - min(outbox.deliver_at) FILTER (WHERE ((outbox.status = 'pending'::text) AND (outbox.deliver_at <= now())))) AS oldest_due_age,
    count(*) FILTER (WHERE (outbox.status = 'dispatched'::text)) AS in_flight,
    count(*) FILTER (WHERE ((outbox.status = 'dispatched'::text) AND (outbox.lease_until < now()))) AS lease_expired,
    count(*) FILTER (WHERE (outbox.status = 'failed'::text)) AS dead,
    count(*) FILTER (WHERE ((outbox.status = 'pending'::text) AND (outbox.deliver_at > now()))) AS waiting,
    min(outbox.deliver_at) FILTER (WHERE ((outbox.status = 'pending'::text) AND (outbox.deliver_at > now()))) AS next_at
   FROM public.outbox
  WHERE (outbox.status = ANY (ARRAY['pending'::text, 'dispatched'::text, 'failed'::text]))
  GROUP BY outbox.actor, outbox.queue;

COMMENT ON VIEW ops.outbox_backlog IS 'The outbox per actor and queue: due (pending and due,
not handed to Dramatiq yet) with the oldest one''s age, in_flight (dispatched) and how
many of those are past their lease, dead (failed: dead letters), waiting (timers not due
yet) and the next one''s time. due growing with an old oldest_due_age: the relay does
not run (the scheduler, or every worker of the cron queue, is down). in_flight growing
with lease_expired: workers of that queue are down or Redis lost the messages (the
relay takes them back when the lease passes; ops.release_leases at once). dead above 0:
ops.dead_letters.';

CREATE TABLE public.rate_limit_policies (
    name text NOT NULL,
    category text,
    scope text NOT NULL,
    capacity bigint NOT NULL,
    refill_tokens bigint NOT NULL,
    refill_period_s integer NOT NULL,
    warning_pct double precision DEFAULT 25 NOT NULL,
    critical_pct double precision DEFAULT 10 NOT NULL,
    level text DEFAULT 'ok'::text NOT NULL,
    last_read_at timestamp with time zone,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT rate_limit_policies_capacity_check CHECK ((capacity > 0)),
    CONSTRAINT rate_limit_policies_category_check CHECK ((category ~ '^[A-Z]$'::text)),
    CONSTRAINT rate_limit_policies_level_check CHECK ((level = ANY (ARRAY['ok'::text, 'warning'::text, 'critical'::text]))),
    CONSTRAINT rate_limit_policies_refill_period_s_check CHECK ((refill_period_s > 0)),
    CONSTRAINT rate_limit_policies_refill_tokens_check CHECK ((refill_tokens >= 0)),
    CONSTRAINT rate_limit_policies_scope_check CHECK ((scope = ANY (ARRAY['PSP'::text, 'USER'::text]))),
    CONSTRAINT rate_limit_policies_thresholds CHECK ((((0)::double precision < critical_pct) AND (critical_pct < warning_pct) AND (warning_pct < (100)::double precision)))
);

COMMENT ON TABLE public.rate_limit_policies IS 'The DICT''s rate-limit policies of our participant, as its ListBucketStates reports them (upserted by poll_rate_limits), with our alert thresholds';

COMMENT ON COLUMN public.rate_limit_policies.category IS 'the participant''s category (A-H; parsed leniently) for the policies it sizes (ENTRIES_READ_PARTICIPANT_ANTISCAN, ENTRIES_STATISTICS_READ); NULL for the fixed ones';

COMMENT ON COLUMN public.rate_limit_policies.scope IS 'PSP (one bucket for the participant) or USER (one per end user), from app.domain.buckets; PSP for a policy it does not know';

COMMENT ON COLUMN public.rate_limit_policies.warning_pct IS 'level warning when the tokens left are at most this % of capacity (ours, editable; 0 < critical_pct < warning_pct < 100)';

COMMENT ON COLUMN public.rate_limit_policies.critical_pct IS 'level critical when the tokens left are at most this % of capacity (ours, editable)';

COMMENT ON COLUMN public.rate_limit_policies.level IS 'The level of the latest reading, judged by
this row''s thresholds: ok, warning, critical. Moved only by poll_rate_limits; a change
writes one event (rate_limits.threshold_crossed, or rate_limits.recovered back to ok), so
each crossing is reported once.';

COMMENT ON COLUMN public.rate_limit_policies.last_read_at IS 'when the latest reading of this policy was taken (its row in rate_limit_readings); NULL: never read';

CREATE TABLE public.rate_limit_readings (
    policy text NOT NULL,
    read_at timestamp with time zone NOT NULL,
    available_tokens bigint NOT NULL,
    capacity bigint NOT NULL,
    refill_tokens bigint NOT NULL,
    refill_period_s integer NOT NULL,
    category text
)
PARTITION BY RANGE (read_at);

COMMENT ON TABLE public.rate_limit_readings IS 'Each policy''s bucket as the DICT read it, once per poll (RATE_LIMIT_POLL_S); monthly partitions rate_limit_readings_yYYYYmMM (UTC), kept RATE_LIMIT_RETENTION_MONTHS';

COMMENT ON COLUMN public.rate_limit_readings.available_tokens IS 'tokens left (may be negative: a 404 of an anti-scan policy takes its whole cost, DICT.md section 4)';

CREATE VIEW ops.rate_limit_latest AS
 SELECT p.name AS policy,
    p.level,
    r.available_tokens,
    p.capacity,
    round(((100.0 * (r.available_tokens)::numeric) / (p.capacity)::numeric), 1) AS pct_left,
    p.warning_pct,
    p.critical_pct,
    p.refill_tokens,
    p.refill_period_s,
    p.category,
    p.last_read_at AS read_at,
    (now() - p.last_read_at) AS read_ago
   FROM (public.rate_limit_policies p
     LEFT JOIN public.rate_limit_readings r ON (((r.policy = p.name) AND (r.read_at = p.last_read_at))));

COMMENT ON VIEW ops.rate_limit_latest IS 'Each of the DICT''s rate-limit policies of ours as
its latest reading left it (poll_rate_limits, every RATE_LIMIT_POLL_S): tokens left (in
debt when negative), capacity, the share left, our thresholds and the level they give,
and how old the reading is. A level warning or critical: find what spends the bucket
(docs/runbooks/rate_limits.md). read_ago over a few minutes: the poll does not run.';

CREATE VIEW ops.stale_leases AS
 SELECT outbox.id,
    outbox.actor,
    outbox.queue,
    outbox.subject,
    outbox.attempts,
    outbox.deliver_at,
    outbox.dispatched_at,
    outbox.lease_until,
    (now() - outbox.lease_until) AS expired_for,
    outbox.last_error
   FROM public.outbox
  WHERE ((outbox.status = 'dispatched'::text) AND (outbox.lease_until < now()));

COMMENT ON VIEW ops.stale_leases IS 'Outbox rows handed to Dramatiq whose lease has passed
with no outcome recorded: the message was lost (Redis lost it, a worker was killed
mid-message) or its worker still runs it. The relay takes each back at its next pass
(every 10 s in each scheduler); rows
here for more than two minutes mean the relay does not run (the scheduler or the cron
queue''s workers are down). Nothing to do once the relay runs; ops.retry(id, ''why'')
hands one back at once.';

CREATE TABLE public.vsyncs (
    key_type text NOT NULL,
    shard smallint NOT NULL,
    vsync bit(256) DEFAULT (repeat('0'::text, 256))::bit(256) NOT NULL,
    entries bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT vsyncs_key_type_check CHECK ((key_type = ANY (ARRAY['CPF'::text, 'CNPJ'::text, 'PHONE'::text, 'EMAIL'::text, 'EVP'::text]))),
    CONSTRAINT vsyncs_shard_check CHECK (((shard >= 0) AND (shard <= 15)))
);

CREATE VIEW ops.sync_last_runs AS
 SELECT k.key_type,
    r.id AS run_id,
    r.status,
    r.cause,
    r.source,
    r.started_at,
    r.finished_at,
        CASE
            WHEN (r.finished_at IS NULL) THEN (now() - r.updated_at)
            ELSE NULL::interval
        END AS open_idle,
    r.divergences,
    r.repaired,
    r.problem,
    ok.last_ok_at,
    (now() - ok.last_ok_at) AS last_ok_age,
    (ok.last_ok_at + '36:00:00'::interval) AS limit_36h
   FROM ((( SELECT DISTINCT vsyncs.key_type
           FROM public.vsyncs) k
     LEFT JOIN LATERAL ( SELECT s.id,
            s.key_type,
            s.status,
            s.cause,
            s.requested_by,
            s.source,
            s.threshold,
            s.vsync,
            s.verification_id,
            s.verifications,
            s.verified_at,
            s.since,
            s.snapshot_at,
            s.events_after,
            s.event_pages,
            s.file_id,
            s.file_requested_at,
            s.file_polls,
            s.file_bytes,
            s.file_sha256,
            s.file_cids,
            s.shard,
            s.divergences,
            s.repaired,
            s.decided_by,
            s.problem,
            s.started_at,
            s.updated_at,
            s.finished_at,
            s.version
           FROM public.sync_runs s
          WHERE (s.key_type = k.key_type)
          ORDER BY s.started_at DESC, s.id DESC
         LIMIT 1) r ON (true))
     LEFT JOIN LATERAL ( SELECT max(s.verified_at) AS last_ok_at
           FROM public.sync_runs s
          WHERE ((s.key_type = k.key_type) AND (s.status = 'ok'::text))) ok ON (true));

COMMENT ON VIEW ops.sync_last_runs IS 'Each key type''s last sync run (the open one if any:
only one is open per key type), how long an open run has been idle, and the DICT''s last
OK with the 36-hour limit it sets (NULL: never verified OK). A run in awaiting_approval
waits for an operator (docs/runbooks/sync.md); one idle for more than 15 minutes with
nothing scheduled is in ops.orphans; a failed one says why in problem.';

CREATE TABLE public.api_keys (
    id bigint NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL,
    scopes text[] DEFAULT '{}'::text[] NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone,
    CONSTRAINT api_keys_hash_length CHECK ((octet_length(key_hash) = 32))
);

ALTER TABLE public.api_keys ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.cids (
    key_type text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C",
    entry_id uuid NOT NULL,
    request_id uuid NOT NULL,
    added_at timestamp with time zone NOT NULL
);

CREATE TABLE public.claim_poll_failures (
    dict_id text NOT NULL,
    error text NOT NULL,
    attempts integer DEFAULT 1 NOT NULL,
    first_at timestamp with time zone NOT NULL,
    last_at timestamp with time zone NOT NULL
);

CREATE TABLE public.cron_runs (
    job text NOT NULL,
    slot timestamp with time zone NOT NULL,
    started_at timestamp with time zone NOT NULL
);

CREATE TABLE public.dict_cid_events (
    run_id bigint NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C",
    type text NOT NULL,
    at timestamp with time zone NOT NULL,
    CONSTRAINT dict_cid_events_type_check CHECK ((type = ANY (ARRAY['ADDED'::text, 'REMOVED'::text])))
);

CREATE TABLE public.dict_cids (
    key_type text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
)
PARTITION BY LIST (key_type);

CREATE TABLE public.dict_cids_cnpj (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
)
PARTITION BY RANGE (cid);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_0 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_1 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_2 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_3 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_4 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_5 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_6 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_7 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_8 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_9 (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_a (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_b (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_c (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_d (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_e (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cnpj_f (
    key_type text DEFAULT 'CNPJ'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE TABLE public.dict_cids_cpf (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
)
PARTITION BY RANGE (cid);

CREATE UNLOGGED TABLE public.dict_cids_cpf_0 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_1 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_2 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_3 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_4 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_5 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_6 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_7 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_8 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_9 (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_a (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_b (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_c (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_d (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_e (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_cpf_f (
    key_type text DEFAULT 'CPF'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE TABLE public.dict_cids_email (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
)
PARTITION BY RANGE (cid);

CREATE UNLOGGED TABLE public.dict_cids_email_0 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_1 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_2 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_3 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_4 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_5 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_6 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_7 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_8 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_9 (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_a (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_b (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_c (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_d (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_e (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_email_f (
    key_type text DEFAULT 'EMAIL'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE TABLE public.dict_cids_evp (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
)
PARTITION BY RANGE (cid);

CREATE UNLOGGED TABLE public.dict_cids_evp_0 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_1 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_2 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_3 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_4 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_5 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_6 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_7 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_8 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_9 (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_a (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_b (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_c (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_d (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_e (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_evp_f (
    key_type text DEFAULT 'EVP'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE TABLE public.dict_cids_phone (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
)
PARTITION BY RANGE (cid);

CREATE UNLOGGED TABLE public.dict_cids_phone_0 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_1 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_2 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_3 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_4 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_5 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_6 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_7 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_8 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_9 (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_a (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_b (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_c (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_d (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_e (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

CREATE UNLOGGED TABLE public.dict_cids_phone_f (
    key_type text DEFAULT 'PHONE'::text NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C"
);

ALTER TABLE public.event_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.event_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.idempotency_keys (
    api_key_id bigint NOT NULL,
    key text NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    body_hash bytea NOT NULL,
    status_code integer,
    response_headers jsonb,
    response_body bytea,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT idempotency_keys_answer_complete CHECK (((status_code IS NULL) = (response_body IS NULL)))
);

CREATE TABLE public.lookup_key_changes (
    seq bigint NOT NULL,
    key_hash bytea NOT NULL,
    held boolean
);

ALTER TABLE public.lookup_key_changes ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.lookup_key_changes_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.machine_states (
    machine text NOT NULL,
    status text NOT NULL,
    initial boolean DEFAULT false NOT NULL
);

CREATE TABLE public.outbox_archive (
    id bigint NOT NULL,
    actor text NOT NULL,
    queue text NOT NULL,
    args jsonb NOT NULL,
    kind text NOT NULL,
    subject text,
    dedupe_key text,
    status text NOT NULL,
    deliver_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    dispatched_at timestamp with time zone,
    finished_at timestamp with time zone NOT NULL,
    attempts integer NOT NULL,
    last_error text,
    trace_context text,
    CONSTRAINT outbox_archive_status_check CHECK ((status = ANY (ARRAY['done'::text, 'cancelled'::text])))
)
PARTITION BY RANGE (finished_at);

COMMENT ON TABLE public.outbox_archive IS 'Outbox rows done or cancelled more than OUTBOX_RETENTION_DAYS ago, moved here by the daily maintenance (an event''s args without its payload); monthly partitions outbox_archive_yYYYYmMM (UTC, by finished_at) kept OUTBOX_ARCHIVE_MONTHS by month_partitions(). What a subject''s effects were: SELECT * FROM outbox_archive WHERE subject = ''claim:…'' ORDER BY id';

CREATE TABLE public.outbox_archive_default (
    id bigint NOT NULL,
    actor text NOT NULL,
    queue text NOT NULL,
    args jsonb NOT NULL,
    kind text NOT NULL,
    subject text,
    dedupe_key text,
    status text NOT NULL,
    deliver_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    dispatched_at timestamp with time zone,
    finished_at timestamp with time zone NOT NULL,
    attempts integer NOT NULL,
    last_error text,
    trace_context text,
    CONSTRAINT outbox_archive_status_check CHECK ((status = ANY (ARRAY['done'::text, 'cancelled'::text])))
);

COMMENT ON TABLE public.outbox_archive_default IS 'archived rows of a month with no partition yet (a month before the first maintenance, a clock far off); month_partitions() moves a month''s rows into its partition when it creates it and deletes those past the retention';

CREATE VIEW public.outbox_dead_letters AS
 SELECT outbox.id,
    outbox.actor,
    outbox.args,
    outbox.subject,
    outbox.attempts,
    outbox.last_error,
    outbox.finished_at
   FROM public.outbox
  WHERE (outbox.status = 'failed'::text);

ALTER TABLE public.outbox ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.poll_cursors (
    name text NOT NULL,
    modified_after timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    polled_at timestamp with time zone
);

CREATE TABLE public.poll_failures (
    poller text NOT NULL,
    dict_id text NOT NULL,
    error text NOT NULL,
    attempts integer DEFAULT 1 NOT NULL,
    first_at timestamp with time zone NOT NULL,
    last_at timestamp with time zone NOT NULL
);

CREATE TABLE public.rate_limit_readings_default (
    policy text NOT NULL,
    read_at timestamp with time zone NOT NULL,
    available_tokens bigint NOT NULL,
    capacity bigint NOT NULL,
    refill_tokens bigint NOT NULL,
    refill_period_s integer NOT NULL,
    category text
);

COMMENT ON TABLE public.rate_limit_readings_default IS 'readings of a month with no partition yet (before the first maintenance); rate_limit_partitions() moves them into the month''s partition when it creates it';

CREATE TABLE public.relay_redis (
    only_row boolean DEFAULT true NOT NULL,
    epoch text,
    changed_at timestamp with time zone,
    CONSTRAINT relay_redis_only_row_check CHECK (only_row)
);

COMMENT ON TABLE public.relay_redis IS 'One row: the Redis the relay last saw (app/outbox.py, recover_redis). Setting epoch to NULL makes the next pass record the current Redis and hand nothing back';

COMMENT ON COLUMN public.relay_redis.epoch IS 'Run id of the Redis server when the relay last wrote its sentinel key (dict-connect:relay:epoch) there; NULL: never yet';

COMMENT ON COLUMN public.relay_redis.changed_at IS 'When a relay pass last recorded a new epoch';

CREATE TABLE public.schema_migrations (
    version text NOT NULL,
    checksum text,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.state_history (
    id bigint NOT NULL,
    machine text NOT NULL,
    subject_id text NOT NULL,
    from_status text,
    to_status text NOT NULL,
    trigger text NOT NULL,
    reason text,
    actor text NOT NULL,
    at timestamp with time zone NOT NULL
)
PARTITION BY RANGE (at);

COMMENT ON TABLE public.state_history IS 'Every status change of every machine (enforce_transition/record_transition), read by subject (machine, subject_id) in id order; monthly partitions state_history_yYYYYmMM (UTC) kept by history_partitions(), archived to the schema archive after HISTORY_RETENTION_MONTHS';

CREATE TABLE public.state_history_default (
    id bigint NOT NULL,
    machine text NOT NULL,
    subject_id text NOT NULL,
    from_status text,
    to_status text NOT NULL,
    trigger text NOT NULL,
    reason text,
    actor text NOT NULL,
    at timestamp with time zone NOT NULL
);

COMMENT ON TABLE public.state_history_default IS 'history of a month with no partition yet (the maintenance cron did not run, or a clock far off): the write never fails; history_partitions() moves the rows into their month''s partition when it creates it';

ALTER TABLE public.state_history ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.state_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.state_transitions (
    machine text NOT NULL,
    trigger text NOT NULL,
    from_status text NOT NULL,
    to_status text NOT NULL
);

CREATE TABLE public.sync_divergences (
    run_id bigint NOT NULL,
    cid text NOT NULL COLLATE pg_catalog."C",
    side text NOT NULL,
    entry_id uuid,
    key text,
    outcome text DEFAULT 'found'::text NOT NULL,
    detail text,
    attempts integer DEFAULT 0 NOT NULL,
    retry_at timestamp with time zone,
    found_at timestamp with time zone NOT NULL,
    handled_at timestamp with time zone,
    CONSTRAINT sync_divergences_handled CHECK (((handled_at IS NULL) = (outcome = ANY (ARRAY['found'::text, 'in_flight'::text])))),
    CONSTRAINT sync_divergences_outcome_check CHECK ((outcome = ANY (ARRAY['found'::text, 'in_flight'::text, 'inserted'::text, 'updated'::text, 'removed'::text, 'resolved'::text, 'unresolved'::text]))),
    CONSTRAINT sync_divergences_side_check CHECK ((side = ANY (ARRAY['dict_only'::text, 'ours_only'::text])))
);

COMMENT ON COLUMN public.sync_divergences.outcome IS 'What reconciliation did (docs/reconciliation.md):
found:      not handled yet
in_flight:  its entry has an operation of ours in flight: looked at again later (retry_at)
inserted:   the DICT''s entry was added to our base
updated:    our entry now holds the DICT''s data
removed:    our entry left our base (the DICT does not have it)
resolved:   no longer a divergence when handled (the DICT or we moved since the comparison)
unresolved: left for an operator; detail says why';

ALTER TABLE public.sync_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.sync_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE UNLOGGED TABLE public.vsync_deltas (
    xact xid8 DEFAULT pg_current_xact_id() NOT NULL,
    key_type text NOT NULL,
    shard smallint NOT NULL,
    delta bit(256) NOT NULL,
    entries integer NOT NULL,
    at timestamp with time zone NOT NULL
);

COMMENT ON TABLE public.vsync_deltas IS 'CID moves of a batch transaction not yet applied to vsyncs: written and emptied within that transaction (vsync_flush), so never seen by another; unlogged, as nothing here outlives its transaction';

ALTER TABLE ONLY public.dict_cids ATTACH PARTITION public.dict_cids_cnpj FOR VALUES IN ('CNPJ');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_0 FOR VALUES FROM ('0') TO ('1');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_1 FOR VALUES FROM ('1') TO ('2');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_2 FOR VALUES FROM ('2') TO ('3');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_3 FOR VALUES FROM ('3') TO ('4');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_4 FOR VALUES FROM ('4') TO ('5');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_5 FOR VALUES FROM ('5') TO ('6');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_6 FOR VALUES FROM ('6') TO ('7');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_7 FOR VALUES FROM ('7') TO ('8');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_8 FOR VALUES FROM ('8') TO ('9');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_9 FOR VALUES FROM ('9') TO (':');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_a FOR VALUES FROM ('a') TO ('b');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_b FOR VALUES FROM ('b') TO ('c');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_c FOR VALUES FROM ('c') TO ('d');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_d FOR VALUES FROM ('d') TO ('e');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_e FOR VALUES FROM ('e') TO ('f');

ALTER TABLE ONLY public.dict_cids_cnpj ATTACH PARTITION public.dict_cids_cnpj_f FOR VALUES FROM ('f') TO ('g');

ALTER TABLE ONLY public.dict_cids ATTACH PARTITION public.dict_cids_cpf FOR VALUES IN ('CPF');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_0 FOR VALUES FROM ('0') TO ('1');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_1 FOR VALUES FROM ('1') TO ('2');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_2 FOR VALUES FROM ('2') TO ('3');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_3 FOR VALUES FROM ('3') TO ('4');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_4 FOR VALUES FROM ('4') TO ('5');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_5 FOR VALUES FROM ('5') TO ('6');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_6 FOR VALUES FROM ('6') TO ('7');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_7 FOR VALUES FROM ('7') TO ('8');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_8 FOR VALUES FROM ('8') TO ('9');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_9 FOR VALUES FROM ('9') TO (':');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_a FOR VALUES FROM ('a') TO ('b');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_b FOR VALUES FROM ('b') TO ('c');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_c FOR VALUES FROM ('c') TO ('d');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_d FOR VALUES FROM ('d') TO ('e');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_e FOR VALUES FROM ('e') TO ('f');

ALTER TABLE ONLY public.dict_cids_cpf ATTACH PARTITION public.dict_cids_cpf_f FOR VALUES FROM ('f') TO ('g');

ALTER TABLE ONLY public.dict_cids ATTACH PARTITION public.dict_cids_email FOR VALUES IN ('EMAIL');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_0 FOR VALUES FROM ('0') TO ('1');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_1 FOR VALUES FROM ('1') TO ('2');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_2 FOR VALUES FROM ('2') TO ('3');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_3 FOR VALUES FROM ('3') TO ('4');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_4 FOR VALUES FROM ('4') TO ('5');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_5 FOR VALUES FROM ('5') TO ('6');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_6 FOR VALUES FROM ('6') TO ('7');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_7 FOR VALUES FROM ('7') TO ('8');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_8 FOR VALUES FROM ('8') TO ('9');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_9 FOR VALUES FROM ('9') TO (':');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_a FOR VALUES FROM ('a') TO ('b');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_b FOR VALUES FROM ('b') TO ('c');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_c FOR VALUES FROM ('c') TO ('d');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_d FOR VALUES FROM ('d') TO ('e');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_e FOR VALUES FROM ('e') TO ('f');

ALTER TABLE ONLY public.dict_cids_email ATTACH PARTITION public.dict_cids_email_f FOR VALUES FROM ('f') TO ('g');

ALTER TABLE ONLY public.dict_cids ATTACH PARTITION public.dict_cids_evp FOR VALUES IN ('EVP');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_0 FOR VALUES FROM ('0') TO ('1');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_1 FOR VALUES FROM ('1') TO ('2');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_2 FOR VALUES FROM ('2') TO ('3');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_3 FOR VALUES FROM ('3') TO ('4');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_4 FOR VALUES FROM ('4') TO ('5');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_5 FOR VALUES FROM ('5') TO ('6');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_6 FOR VALUES FROM ('6') TO ('7');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_7 FOR VALUES FROM ('7') TO ('8');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_8 FOR VALUES FROM ('8') TO ('9');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_9 FOR VALUES FROM ('9') TO (':');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_a FOR VALUES FROM ('a') TO ('b');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_b FOR VALUES FROM ('b') TO ('c');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_c FOR VALUES FROM ('c') TO ('d');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_d FOR VALUES FROM ('d') TO ('e');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_e FOR VALUES FROM ('e') TO ('f');

ALTER TABLE ONLY public.dict_cids_evp ATTACH PARTITION public.dict_cids_evp_f FOR VALUES FROM ('f') TO ('g');

ALTER TABLE ONLY public.dict_cids ATTACH PARTITION public.dict_cids_phone FOR VALUES IN ('PHONE');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_0 FOR VALUES FROM ('0') TO ('1');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_1 FOR VALUES FROM ('1') TO ('2');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_2 FOR VALUES FROM ('2') TO ('3');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_3 FOR VALUES FROM ('3') TO ('4');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_4 FOR VALUES FROM ('4') TO ('5');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_5 FOR VALUES FROM ('5') TO ('6');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_6 FOR VALUES FROM ('6') TO ('7');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_7 FOR VALUES FROM ('7') TO ('8');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_8 FOR VALUES FROM ('8') TO ('9');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_9 FOR VALUES FROM ('9') TO (':');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_a FOR VALUES FROM ('a') TO ('b');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_b FOR VALUES FROM ('b') TO ('c');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_c FOR VALUES FROM ('c') TO ('d');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_d FOR VALUES FROM ('d') TO ('e');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_e FOR VALUES FROM ('e') TO ('f');

ALTER TABLE ONLY public.dict_cids_phone ATTACH PARTITION public.dict_cids_phone_f FOR VALUES FROM ('f') TO ('g');

ALTER TABLE ONLY public.outbox_archive ATTACH PARTITION public.outbox_archive_default DEFAULT;

ALTER TABLE ONLY public.rate_limit_readings ATTACH PARTITION public.rate_limit_readings_default DEFAULT;

ALTER TABLE ONLY public.state_history ATTACH PARTITION public.state_history_default DEFAULT;

ALTER TABLE ONLY ops.actions
    ADD CONSTRAINT actions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_name_key UNIQUE (name);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_prefix_key UNIQUE (prefix);

ALTER TABLE ONLY public.cids
    ADD CONSTRAINT cids_pkey PRIMARY KEY (key_type, cid);

ALTER TABLE ONLY public.claim_poll_failures
    ADD CONSTRAINT claim_poll_failures_pkey PRIMARY KEY (dict_id);

ALTER TABLE ONLY public.claims
    ADD CONSTRAINT claims_dict_id_role UNIQUE (dict_id, role);

ALTER TABLE ONLY public.claims
    ADD CONSTRAINT claims_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_runs
    ADD CONSTRAINT cron_runs_pkey PRIMARY KEY (job, slot);

ALTER TABLE ONLY public.dict_cid_events
    ADD CONSTRAINT dict_cid_events_pkey PRIMARY KEY (run_id, cid);

ALTER TABLE ONLY public.entries
    ADD CONSTRAINT entries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.event_log
    ADD CONSTRAINT event_log_outbox_id_key UNIQUE (outbox_id);

ALTER TABLE ONLY public.event_log_pending
    ADD CONSTRAINT event_log_pending_pkey PRIMARY KEY (outbox_id);

ALTER TABLE ONLY public.event_log
    ADD CONSTRAINT event_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.event_log_state
    ADD CONSTRAINT event_log_state_pkey PRIMARY KEY (one);

ALTER TABLE ONLY public.fraud_markers
    ADD CONSTRAINT fraud_markers_dict_id UNIQUE (dict_id);

ALTER TABLE ONLY public.fraud_markers
    ADD CONSTRAINT fraud_markers_one_per_report UNIQUE (infraction_report_id);

ALTER TABLE ONLY public.fraud_markers
    ADD CONSTRAINT fraud_markers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.fraud_markers
    ADD CONSTRAINT fraud_markers_request_id UNIQUE (request_id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (api_key_id, key);

ALTER TABLE ONLY public.infraction_reports
    ADD CONSTRAINT infraction_reports_dict_id_role UNIQUE (dict_id, role);

ALTER TABLE ONLY public.infraction_reports
    ADD CONSTRAINT infraction_reports_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.lookup_key_changes
    ADD CONSTRAINT lookup_key_changes_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY public.machine_states
    ADD CONSTRAINT machine_states_pkey PRIMARY KEY (machine, status);

ALTER TABLE ONLY public.outbox_archive
    ADD CONSTRAINT outbox_archive_pkey PRIMARY KEY (id, finished_at);

ALTER TABLE ONLY public.outbox_archive_default
    ADD CONSTRAINT outbox_archive_default_pkey PRIMARY KEY (id, finished_at);

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.poll_cursors
    ADD CONSTRAINT poll_cursors_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.poll_failures
    ADD CONSTRAINT poll_failures_pkey PRIMARY KEY (poller, dict_id);

ALTER TABLE ONLY public.rate_limit_policies
    ADD CONSTRAINT rate_limit_policies_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.rate_limit_readings
    ADD CONSTRAINT rate_limit_readings_pkey PRIMARY KEY (policy, read_at);

ALTER TABLE ONLY public.rate_limit_readings_default
    ADD CONSTRAINT rate_limit_readings_default_pkey PRIMARY KEY (policy, read_at);

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_dict_id_role UNIQUE (dict_id, role);

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.relay_redis
    ADD CONSTRAINT relay_redis_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.state_history
    ADD CONSTRAINT state_history_pkey PRIMARY KEY (id, at);

ALTER TABLE ONLY public.state_history_default
    ADD CONSTRAINT state_history_default_pkey PRIMARY KEY (id, at);

ALTER TABLE ONLY public.state_transitions
    ADD CONSTRAINT state_transitions_pkey PRIMARY KEY (machine, from_status, to_status, trigger);

ALTER TABLE ONLY public.sync_divergences
    ADD CONSTRAINT sync_divergences_pkey PRIMARY KEY (run_id, cid);

ALTER TABLE ONLY public.sync_runs
    ADD CONSTRAINT sync_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.vsyncs
    ADD CONSTRAINT vsyncs_pkey PRIMARY KEY (key_type, shard);

CREATE INDEX ops_actions_outbox ON ops.actions USING btree (outbox_id);

CREATE UNIQUE INDEX cids_entry_id ON public.cids USING btree (entry_id);

CREATE INDEX claims_listing ON public.claims USING btree (inserted_at, id);

CREATE UNIQUE INDEX claims_one_open_per_key_role ON public.claims USING btree (key, role) WHERE (status <> ALL (ARRAY['rejected'::text, 'completed'::text, 'cancelled'::text]));

CREATE INDEX claims_resolution_end ON public.claims USING btree (resolution_period_end);

CREATE INDEX claims_role_status ON public.claims USING btree (role, status);

CREATE INDEX claims_status ON public.claims USING btree (status) WHERE (status <> ALL (ARRAY['rejected'::text, 'completed'::text, 'cancelled'::text]));

CREATE INDEX entries_account ON public.entries USING btree (participant, account_number, branch, account_type);

CREATE INDEX entries_listing ON public.entries USING btree (created_at, id);

CREATE UNIQUE INDEX entries_live_key ON public.entries USING btree (key) WHERE (status <> ALL (ARRAY['deleted'::text, 'rejected'::text]));

CREATE INDEX entries_owner ON public.entries USING btree (owner_tax_id);

CREATE UNIQUE INDEX entries_request_id_live ON public.entries USING btree (request_id) WHERE (status <> ALL (ARRAY['deleted'::text, 'rejected'::text]));

CREATE INDEX event_log_logged_at ON public.event_log USING brin (logged_at);

CREATE INDEX fraud_markers_listing ON public.fraud_markers USING btree (inserted_at, id);

CREATE INDEX fraud_markers_status ON public.fraud_markers USING btree (status);

CREATE INDEX fraud_markers_tax_id ON public.fraud_markers USING btree (tax_id_number, inserted_at, id);

CREATE INDEX idempotency_keys_created ON public.idempotency_keys USING btree (created_at);

CREATE INDEX infraction_reports_listing ON public.infraction_reports USING btree (inserted_at, id);

CREATE UNIQUE INDEX infraction_reports_one_live_per_transaction ON public.infraction_reports USING btree (transaction_id, reason) WHERE ((role = 'REPORTER'::text) AND (status <> ALL (ARRAY['rejected'::text, 'cancelled'::text])));

CREATE INDEX infraction_reports_refused ON public.infraction_reports USING btree (updated_at) WHERE (problem_type IS NOT NULL);

CREATE INDEX infraction_reports_role_status ON public.infraction_reports USING btree (role, status);

CREATE INDEX outbox_archive_subject ON ONLY public.outbox_archive USING btree (subject, id) WHERE (subject IS NOT NULL);

CREATE INDEX outbox_archive_default_subject_id_idx ON public.outbox_archive_default USING btree (subject, id) WHERE (subject IS NOT NULL);

CREATE UNIQUE INDEX outbox_dedupe ON public.outbox USING btree (dedupe_key) WHERE ((dedupe_key IS NOT NULL) AND (status = ANY (ARRAY['pending'::text, 'dispatched'::text])));

CREATE INDEX outbox_due ON public.outbox USING btree (deliver_at) WHERE (status = 'pending'::text);

CREATE INDEX outbox_leased ON public.outbox USING btree (lease_until) WHERE (status = 'dispatched'::text);

CREATE INDEX outbox_subject ON public.outbox USING btree (subject) WHERE (status = ANY (ARRAY['pending'::text, 'dispatched'::text]));

CREATE INDEX refunds_due ON public.refunds USING btree (due_at) WHERE (status = ANY (ARRAY['open'::text, 'closing'::text]));

CREATE INDEX refunds_listing ON public.refunds USING btree (inserted_at, id);

CREATE UNIQUE INDEX refunds_one_open_per_transaction ON public.refunds USING btree (transaction_id) WHERE ((role = 'REQUESTING'::text) AND (status = ANY (ARRAY['submitting'::text, 'open'::text, 'cancelling'::text])));

CREATE INDEX refunds_refused ON public.refunds USING btree (updated_at) WHERE (problem_type IS NOT NULL);

CREATE INDEX refunds_role_status ON public.refunds USING btree (role, status);

CREATE INDEX state_history_subject ON ONLY public.state_history USING btree (machine, subject_id, id);

CREATE INDEX state_history_default_machine_subject_id_id_idx ON public.state_history_default USING btree (machine, subject_id, id);

CREATE INDEX sync_divergences_open ON public.sync_divergences USING btree (run_id, side, cid) WHERE (outcome = ANY (ARRAY['found'::text, 'in_flight'::text]));

CREATE INDEX sync_runs_key_type_started ON public.sync_runs USING btree (key_type, started_at DESC);

CREATE INDEX sync_runs_listing ON public.sync_runs USING btree (started_at, id);

CREATE UNIQUE INDEX sync_runs_one_open_per_key_type ON public.sync_runs USING btree (key_type) WHERE (status <> ALL (ARRAY['ok'::text, 'failed'::text, 'rejected'::text]));

CREATE INDEX vsync_deltas_xact ON public.vsync_deltas USING btree (xact);

ALTER INDEX public.outbox_archive_pkey ATTACH PARTITION public.outbox_archive_default_pkey;

ALTER INDEX public.outbox_archive_subject ATTACH PARTITION public.outbox_archive_default_subject_id_idx;

ALTER INDEX public.rate_limit_readings_pkey ATTACH PARTITION public.rate_limit_readings_default_pkey;

ALTER INDEX public.state_history_subject ATTACH PARTITION public.state_history_default_machine_subject_id_id_idx;

ALTER INDEX public.state_history_pkey ATTACH PARTITION public.state_history_default_pkey;

CREATE TRIGGER claims_enforce_transition BEFORE INSERT OR UPDATE OF status ON public.claims FOR EACH ROW EXECUTE FUNCTION public.enforce_transition('claim');

CREATE TRIGGER claims_lookup_key_changed AFTER INSERT OR UPDATE OF status ON public.claims FOR EACH ROW EXECUTE FUNCTION public.lookup_key_changed();

CREATE TRIGGER claims_record_transition AFTER INSERT OR UPDATE OF status ON public.claims FOR EACH ROW EXECUTE FUNCTION public.record_transition('claim');

CREATE TRIGGER entries_cid_moved AFTER INSERT OR DELETE OR UPDATE OF cid ON public.entries FOR EACH ROW EXECUTE FUNCTION public.entries_cid_moved();

CREATE TRIGGER entries_enforce_transition BEFORE INSERT OR UPDATE OF status ON public.entries FOR EACH ROW EXECUTE FUNCTION public.enforce_transition('entry');

CREATE TRIGGER entries_lookup_key_changed AFTER INSERT OR DELETE OR UPDATE OF cid, key ON public.entries FOR EACH ROW EXECUTE FUNCTION public.lookup_key_changed();

CREATE TRIGGER entries_record_transition AFTER INSERT OR UPDATE OF status ON public.entries FOR EACH ROW EXECUTE FUNCTION public.record_transition('entry');

CREATE TRIGGER fraud_markers_enforce_transition BEFORE INSERT OR UPDATE OF status ON public.fraud_markers FOR EACH ROW EXECUTE FUNCTION public.enforce_transition('fraud_marker');

CREATE TRIGGER fraud_markers_record_transition AFTER INSERT OR UPDATE OF status ON public.fraud_markers FOR EACH ROW EXECUTE FUNCTION public.record_transition('fraud_marker');

CREATE TRIGGER infraction_reports_enforce_transition BEFORE INSERT OR UPDATE OF status ON public.infraction_reports FOR EACH ROW EXECUTE FUNCTION public.enforce_transition('infraction_report');

CREATE TRIGGER infraction_reports_record_transition AFTER INSERT OR UPDATE OF status ON public.infraction_reports FOR EACH ROW EXECUTE FUNCTION public.record_transition('infraction_report');

CREATE TRIGGER outbox_event_pending AFTER INSERT ON public.outbox FOR EACH ROW WHEN ((new.kind = 'event'::text)) EXECUTE FUNCTION public.event_pending();

CREATE TRIGGER refunds_enforce_transition BEFORE INSERT OR UPDATE OF status ON public.refunds FOR EACH ROW EXECUTE FUNCTION public.enforce_transition('refund');

CREATE TRIGGER refunds_record_transition AFTER INSERT OR UPDATE OF status ON public.refunds FOR EACH ROW EXECUTE FUNCTION public.record_transition('refund');

CREATE TRIGGER sync_runs_enforce_transition BEFORE INSERT OR UPDATE OF status ON public.sync_runs FOR EACH ROW EXECUTE FUNCTION public.enforce_transition('sync_run');

CREATE TRIGGER sync_runs_record_transition AFTER INSERT OR UPDATE OF status ON public.sync_runs FOR EACH ROW EXECUTE FUNCTION public.record_transition('sync_run');

ALTER TABLE ONLY public.claims
    ADD CONSTRAINT claims_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES public.entries(id);

ALTER TABLE ONLY public.dict_cid_events
    ADD CONSTRAINT dict_cid_events_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.sync_runs(id);

ALTER TABLE ONLY public.event_log_pending
    ADD CONSTRAINT event_log_pending_outbox_id_fkey FOREIGN KEY (outbox_id) REFERENCES public.outbox(id);

ALTER TABLE ONLY public.fraud_markers
    ADD CONSTRAINT fraud_markers_infraction_report_id_fkey FOREIGN KEY (infraction_report_id) REFERENCES public.infraction_reports(id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES public.api_keys(id) ON DELETE CASCADE;

ALTER TABLE public.rate_limit_readings
    ADD CONSTRAINT rate_limit_readings_policy_fkey FOREIGN KEY (policy) REFERENCES public.rate_limit_policies(name);

ALTER TABLE ONLY public.sync_divergences
    ADD CONSTRAINT sync_divergences_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.sync_runs(id);
