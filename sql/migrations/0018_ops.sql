-- The operators' schema: what an operator reads at 3 a.m. from psql, and the few
-- functions that mend the outbox (docs/runbooks/README.md is the index).
--
-- Views answer one question each; each COMMENT says what a row means and what to do
-- about it. Functions change outbox rows only as the relay and the worker would
-- (sql/queries/outbox.sql), refuse bad input naming the argument and the rule, and
-- record who (current_user) and why:
--   * ops.actions: every outbox row an ops function changed, with the row as it was
--     (the audit of operators' changes, rows without a subject included);
--   * state_history: the same change on the subject's own history when the row's
--     subject is a machine's ('claim:<id>', 'entry:<id>', ...), status unchanged
--     (from_status = to_status) and trigger 'ops.<action>', so GET /v1/claims/{id}
--     shows the operator's retry between the transitions it caused.
-- Times are the database's now(): the transaction's instant, shared by its rows.

COMMENT ON SCHEMA ops IS
    'Operators'' views and functions for psql (docs/runbooks/README.md): read the views, mend the outbox with ops.retry, ops.retry_dead_letters, ops.reschedule, ops.release_leases; ask for a transition with ops.request';

CREATE TABLE ops.actions (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,               -- current_user of the session that called
    action    text NOT NULL CHECK (action IN ('retry', 'reschedule', 'release_lease')),
    outbox_id bigint NOT NULL,             -- no foreign key: done rows are pruned after 7 days
    subject   text,
    reason    text NOT NULL,
    before    jsonb NOT NULL               -- the row's status, deliver_at, attempts, last_error
);
CREATE INDEX ops_actions_outbox ON ops.actions (outbox_id);
COMMENT ON TABLE ops.actions IS
    'Every outbox row an ops function changed: who (current_user), when, why, and the row as it was. Rows with a machine subject also get a state_history row (trigger ops.<action>)';

-- ------------------------------------------------------------------ the views

CREATE VIEW ops.claims AS
SELECT c.id, c.dict_id, c.role, c.type, c.status, c.dict_status,
       n.name AS next_deadline, n.at AS next_deadline_at, n.at - now() AS time_left,
       s.scheduled, c.pending ->> 'reason' AS pending_reason, c.problem_type, c.anomaly,
       c.possession_validated_at, c.updated_at
FROM claims c
LEFT JOIN LATERAL (
    SELECT p.name, p.at
    FROM (VALUES ('ResolutionPeriodEnd', c.resolution_period_end),
                 ('CompletionPeriodEnd', c.completion_period_end),
                 ('Day30Limit', CASE WHEN c.type = 'OWNERSHIP' THEN c.day30_limit END)) p (name, at)
    WHERE p.at > now()
    ORDER BY p.at LIMIT 1
) n ON true
LEFT JOIN LATERAL (
    SELECT string_agg(o.actor || ' ' || o.status || ' due ' || o.deliver_at::text, ', '
                      ORDER BY o.deliver_at) AS scheduled
    FROM outbox o
    WHERE o.subject = 'claim:' || c.id AND o.status IN ('pending', 'dispatched')
      AND o.kind <> 'event'
) s ON true
WHERE c.status NOT IN ('rejected', 'completed', 'cancelled');
COMMENT ON VIEW ops.claims IS $$Open claims (not rejected, completed or cancelled), one row
each: role, type, status, the DICT's status as last seen, the next period end still ahead
(ResolutionPeriodEnd, CompletionPeriodEnd and Day30Limit for OWNERSHIP), and the outbox
rows scheduled for it (timers and calls, not events). By role and status:
SELECT role, status, count(*), min(next_deadline_at) FROM ops.claims GROUP BY 1, 2.
A claim in submitting, confirming, completing or cancelling with nothing scheduled has
lost its call: see ops.orphans. What our role owes, and when: ops.deadlines_at_risk.$$;

CREATE VIEW ops.deadlines_at_risk AS
WITH scheduled AS (
    SELECT subject, string_agg(actor || ' ' || status || ' due ' || deliver_at::text, ', '
                               ORDER BY deliver_at) AS scheduled
    FROM outbox
    WHERE status IN ('pending', 'dispatched') AND kind <> 'event'
      AND (subject LIKE 'claim:%' OR subject LIKE 'infraction_report:%'
           OR subject LIKE 'refund:%')
    GROUP BY subject
), owed AS (
    -- Claims: what our role owes (app.domain.claims._DUTIES, plus the donor's
    -- acknowledgement and the portability claimer's completion, both at once), the same
    -- cases as the DictClaimDeadlineAtRisk gauge (sql/queries/claims.sql at_risk).
    SELECT 'claim' AS machine, c.id::text AS subject_id, c.role, c.status,
           d.owed, d.due_at, d.at_once, c.problem_type
    FROM claims c
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN c.role = 'DONOR' AND c.status = 'open' THEN 'acknowledge' END,
         c.inserted_at, true),
        (CASE WHEN c.role = 'DONOR' AND c.status IN ('waiting_resolution', 'confirming', 'cancelling')
              THEN CASE c.type WHEN 'OWNERSHIP' THEN 'confirm (DEFAULT_OPERATION) unless decided'
                               ELSE 'cancel (DEFAULT_OPERATION) unless decided' END END,
         c.resolution_period_end, false),
        (CASE WHEN c.role = 'CLAIMER' AND c.type = 'PORTABILITY'
                   AND c.status IN ('confirmed', 'completing') THEN 'complete' END,
         coalesce(c.dict_last_modified, c.updated_at), true),
        (CASE WHEN c.role = 'CLAIMER' AND c.type = 'OWNERSHIP' AND c.status IN ('confirmed', 'completing')
                   AND c.possession_validated_at IS NOT NULL THEN 'complete (possession proved)' END,
         c.completion_period_end, false),
        (CASE WHEN c.role = 'CLAIMER' AND c.type = 'OWNERSHIP'
                   AND c.status IN ('open', 'waiting_resolution', 'confirmed', 'cancelling')
                   AND c.possession_validated_at IS NULL
              THEN 'cancel (DEFAULT_OPERATION): possession not proved by day 30' END,
         c.day30_limit, false)
    ) d (owed, due_at, at_once)
    WHERE c.status NOT IN ('rejected', 'completed', 'cancelled') AND d.owed IS NOT NULL
    UNION ALL
    -- Infraction reports against us: our analysis, due 7 days after the DICT created them.
    SELECT 'infraction_report', r.id::text, r.role, r.status, 'close (our analysis)',
           r.due_at, false, r.problem_type
    FROM infraction_reports r
    WHERE r.role = 'COUNTERPARTY' AND r.status NOT IN ('rejected', 'closed', 'cancelled')
      AND r.due_at <= now() + interval '2 days'
    UNION ALL
    -- Refund requests against us: our analysis, due REFUND_ANALYSIS_HOURS after creation;
    -- at risk in the last quarter of that time (the warning timer's 75 %).
    SELECT 'refund', f.id::text, f.role, f.status, 'close (our analysis)', f.due_at, false,
           f.problem_type
    FROM refunds f
    WHERE f.role = 'CONTESTED' AND f.status NOT IN ('rejected', 'closed', 'cancelled')
      AND f.due_at <= now() + (f.due_at - coalesce(f.dict_created_at, f.inserted_at)) / 4
)
SELECT o.machine, o.subject_id, o.role, o.status, o.owed, o.due_at, o.due_at - now() AS time_left,
       s.scheduled, o.problem_type
FROM owed o
LEFT JOIN scheduled s ON s.subject = o.machine || ':' || o.subject_id
WHERE o.machine <> 'claim'
   OR (o.at_once AND o.due_at < now() - interval '5 minutes')
   OR (NOT o.at_once AND o.due_at < now() + interval '1 day');
COMMENT ON VIEW ops.deadlines_at_risk IS $$Subjects whose legal or analysis deadline is near
or past and whose action is not done, one row per action owed: claims where our role
owes an action (a donor's acknowledgement or an "at once" completion more than 5 minutes
late; a period duty due within a day or past), infraction reports against us due within
2 days or past, refund requests against us in the last quarter of their time or past.
scheduled lists the timers and calls waiting for the subject: a timer or a call there
means the action will happen (or is out); nothing there with time_left near zero means
nobody will act: ask for the action (ops.request) or hand it to the analyst (MED closes
go through the API). Negative time_left is a deadline missed.$$;

CREATE VIEW ops.outbox_backlog AS
SELECT actor, queue,
       count(*) FILTER (WHERE status = 'pending' AND deliver_at <= now()) AS due,
       now() - min(deliver_at) FILTER (WHERE status = 'pending' AND deliver_at <= now())
           AS oldest_due_age,
       count(*) FILTER (WHERE status = 'dispatched') AS in_flight,
       count(*) FILTER (WHERE status = 'dispatched' AND lease_until < now()) AS lease_expired,
       count(*) FILTER (WHERE status = 'failed') AS dead,
       count(*) FILTER (WHERE status = 'pending' AND deliver_at > now()) AS waiting,
       min(deliver_at) FILTER (WHERE status = 'pending' AND deliver_at > now()) AS next_at
FROM outbox
WHERE status IN ('pending', 'dispatched', 'failed')
GROUP BY actor, queue;
COMMENT ON VIEW ops.outbox_backlog IS $$The outbox per actor and queue: due (pending and due,
not handed to Dramatiq yet) with the oldest one's age, in_flight (dispatched) and how
many of those are past their lease, dead (failed: dead letters), waiting (timers not due
yet) and the next one's time. due growing with an old oldest_due_age: the relay does
not run (the scheduler, or every worker of the cron queue, is down). in_flight growing
with lease_expired: workers of that queue are down or Redis lost the messages (the
relay takes them back when the lease passes; ops.release_leases at once). dead above 0:
ops.dead_letters.$$;

CREATE VIEW ops.dead_letters AS
SELECT id, actor, queue, kind, subject, attempts, last_error, created_at, finished_at,
       args - 'payload' AS args
FROM outbox
WHERE status = 'failed';
COMMENT ON VIEW ops.dead_letters IS $$Outbox rows that failed for good: retries ran out, the
error said retrying cannot help, or a bug raised. Their work (a DICT call, a timer's
action, an event) has not happened. args without an event's payload (it holds customer
data). Read last_error (and the worker log at finished_at), fix the cause, then
SELECT ops.retry(id, 'why') (or ops.retry_dead_letters(actor, since, 'why') for many):
the actor re-reads its subject and does nothing if the work was already done.$$;

CREATE VIEW ops.stale_leases AS
SELECT id, actor, queue, subject, attempts, deliver_at, dispatched_at, lease_until,
       now() - lease_until AS expired_for, last_error
FROM outbox
WHERE status = 'dispatched' AND lease_until < now();
COMMENT ON VIEW ops.stale_leases IS $$Outbox rows handed to Dramatiq whose lease has passed
with no outcome recorded: the message was lost (Redis lost it, a worker was killed
mid-message) or its worker still runs it. The relay takes each back at its next pass
(every 10 s in each scheduler); rows
here for more than two minutes mean the relay does not run (the scheduler or the cron
queue's workers are down). Nothing to do once the relay runs; ops.retry(id, 'why')
hands one back at once.$$;

CREATE VIEW ops.orphans AS
WITH live AS (
    SELECT DISTINCT subject FROM outbox
    WHERE status IN ('pending', 'dispatched') AND kind <> 'event' AND subject IS NOT NULL
), waiting (machine, subject_id, status, updated_at, waits_for) AS (
    SELECT 'entry', e.id::text, e.status, e.updated_at,
           CASE e.status WHEN 'registering' THEN 'register_entry'
                         WHEN 'updating' THEN 'update_entry' ELSE 'delete_entry' END
    FROM entries e WHERE e.status IN ('registering', 'updating', 'deleting')
    UNION ALL
    SELECT 'claim', c.id::text, c.status, c.updated_at,
           CASE WHEN c.status = 'submitting' THEN 'create_claim'
                WHEN c.status = 'confirming' THEN 'confirm_claim'
                WHEN c.status = 'completing' THEN 'complete_claim'
                WHEN c.status = 'cancelling' THEN 'cancel_claim'
                WHEN c.role = 'DONOR' THEN 'claim_deadline (ResolutionPeriodEnd)'
                WHEN c.type = 'PORTABILITY' THEN 'complete_claim (or its claim_retry)'
                WHEN c.possession_validated_at IS NULL THEN 'claim_deadline (Day30Limit)'
                ELSE 'claim_deadline (CompletionPeriodEnd) or claim_retry' END
    FROM claims c
    WHERE c.status IN ('submitting', 'confirming', 'completing', 'cancelling')
       OR (c.role = 'DONOR' AND c.status = 'waiting_resolution')
       OR (c.role = 'CLAIMER' AND c.status = 'confirmed')
       OR (c.role = 'CLAIMER' AND c.type = 'OWNERSHIP' AND c.possession_validated_at IS NULL
           AND c.status IN ('open', 'waiting_resolution'))
    UNION ALL
    SELECT 'sync_run', r.id::text, r.status, r.updated_at,
           CASE r.status WHEN 'verifying' THEN 'verify_sync' WHEN 'collecting' THEN 'collect_sync'
                         WHEN 'comparing' THEN 'compare_sync' ELSE 'reconcile_sync' END
    FROM sync_runs r
    WHERE r.status IN ('verifying', 'collecting', 'comparing', 'reconciling')
      AND r.updated_at < now() - interval '15 minutes'
    UNION ALL
    SELECT 'infraction_report', r.id::text, r.status, r.updated_at,
           CASE r.status WHEN 'submitting' THEN 'create_infraction_report'
                         WHEN 'acknowledging' THEN 'acknowledge_infraction_report'
                         WHEN 'closing' THEN 'close_infraction_report'
                         WHEN 'cancelling' THEN 'cancel_infraction_report'
                         ELSE 'update_infraction_report' END
    FROM infraction_reports r
    WHERE r.status IN ('submitting', 'acknowledging', 'closing', 'cancelling', 'updating')
    UNION ALL
    SELECT 'refund', f.id::text, f.status, f.updated_at,
           CASE f.status WHEN 'submitting' THEN 'create_refund' WHEN 'closing' THEN 'close_refund'
                         ELSE 'cancel_refund' END
    FROM refunds f WHERE f.status IN ('submitting', 'closing', 'cancelling')
    UNION ALL
    SELECT 'fraud_marker', m.id::text, m.status, m.updated_at,
           CASE m.status WHEN 'submitting' THEN 'create_fraud_marker' ELSE 'cancel_fraud_marker' END
    FROM fraud_markers m WHERE m.status IN ('submitting', 'cancelling')
)
SELECT w.machine, w.subject_id, w.status, w.waits_for, w.updated_at, now() - w.updated_at AS idle,
       o.id AS last_outbox_id, o.actor AS last_actor, o.status AS last_outbox_status,
       o.last_error
FROM waiting w
LEFT JOIN LATERAL (
    SELECT id, actor, status, last_error FROM outbox
    WHERE subject = w.machine || ':' || w.subject_id AND kind <> 'event'
    ORDER BY id DESC LIMIT 1
) o ON true
WHERE NOT EXISTS (SELECT 1 FROM live WHERE live.subject = w.machine || ':' || w.subject_id);
COMMENT ON VIEW ops.orphans IS $$Subjects waiting for an outbox row of theirs that does not
exist: no task or timer pending or dispatched, so nothing will move them. waits_for names
what should be scheduled; last_outbox_* is the subject's newest row (usually a dead
letter: ops.retry it once its cause is fixed). Not listed, because the DICT's polls move
them: a donor claim in open (the claims poll acknowledges it), a claim waiting for the
other side (a claimer's portability not yet confirmed, an ownership claim whose
possession was proved, a donor's confirmed claim), an infraction report or refund
request open or acknowledged (the analyst or the other PSP acts; deadlines:
ops.deadlines_at_risk), a sync run in awaiting_approval (an operator decides) or idle
for less than 15 minutes (the scheduler gives a stalled run a new message after 10).$$;

CREATE VIEW ops.sync_last_runs AS
SELECT k.key_type, r.id AS run_id, r.status, r.cause, r.source, r.started_at, r.finished_at,
       CASE WHEN r.finished_at IS NULL THEN now() - r.updated_at END AS open_idle,
       r.divergences, r.repaired, r.problem, ok.last_ok_at, now() - ok.last_ok_at AS last_ok_age,
       ok.last_ok_at + interval '36 hours' AS limit_36h
FROM (SELECT DISTINCT key_type FROM vsyncs) k
LEFT JOIN LATERAL (
    SELECT * FROM sync_runs s WHERE s.key_type = k.key_type
    ORDER BY s.started_at DESC, s.id DESC LIMIT 1
) r ON true
LEFT JOIN LATERAL (
    SELECT max(verified_at) AS last_ok_at FROM sync_runs s
    WHERE s.key_type = k.key_type AND s.status = 'ok'
) ok ON true;
COMMENT ON VIEW ops.sync_last_runs IS $$Each key type's last sync run (the open one if any:
only one is open per key type), how long an open run has been idle, and the DICT's last
OK with the 36-hour limit it sets (NULL: never verified OK). A run in awaiting_approval
waits for an operator (docs/runbooks/sync.md); one idle for more than 15 minutes with
nothing scheduled is in ops.orphans; a failed one says why in problem.$$;

CREATE VIEW ops.rate_limit_latest AS
SELECT p.name AS policy, p.level, r.available_tokens, p.capacity,
       round((100.0 * r.available_tokens / p.capacity)::numeric, 1) AS pct_left,
       p.warning_pct, p.critical_pct, p.refill_tokens, p.refill_period_s, p.category,
       p.last_read_at AS read_at, now() - p.last_read_at AS read_ago
FROM rate_limit_policies p
LEFT JOIN rate_limit_readings r ON r.policy = p.name AND r.read_at = p.last_read_at;
COMMENT ON VIEW ops.rate_limit_latest IS $$Each of the DICT's rate-limit policies of ours as
its latest reading left it (poll_rate_limits, every RATE_LIMIT_POLL_S): tokens left (in
debt when negative), capacity, the share left, our thresholds and the level they give,
and how old the reading is. A level warning or critical: find what spends the bucket
(docs/runbooks/rate_limits.md). read_ago over a few minutes: the poll does not run.$$;

-- -------------------------------------------------------------- the functions

-- The status of a machine's subject, or NULL when the subject is not a machine's row
-- (an unknown machine, a malformed id, a row that does not exist).
CREATE FUNCTION ops.subject_status(machine text, subject_id text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
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
END $$;

-- Record an ops change of an outbox row: `was` is the row as it was (ops.before).
-- ops.actions always; the subject's state_history when the subject is a machine's row.
CREATE FUNCTION ops.record(was jsonb, action text, reason text, detail text)
RETURNS void LANGUAGE plpgsql AS $$
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

-- What ops.actions keeps of an outbox row before an ops change (no args: an event's
-- payload holds customer data).
CREATE FUNCTION ops.before(outbox_id bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', id, 'actor', actor, 'subject', subject, 'status', status,
                              'deliver_at', deliver_at, 'attempts', attempts,
                              'last_error', last_error)
    FROM outbox WHERE id = outbox_id
$$;

-- A reason is required: it is what the history keeps of why.
CREATE FUNCTION ops.check_reason(fn text, reason text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION '%: reason must say why (the history keeps it)', fn
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('e.g. SELECT %s(…, ''bridge back after INC-1234'').', fn);
    END IF;
END $$;

-- Hand a failed or dispatched row (locked by the caller) back to the relay, due now (a
-- row deferred to a later instant keeps it): the row a fresh pending one is (no
-- dispatch, no lease, not finished), attempts and last_error kept. False, with a
-- notice, when its dedupe key is held by another live row (that row does the same
-- work, and the unique index outbox_dedupe allows one).
CREATE FUNCTION ops.hand_back(outbox_id bigint, action text, reason text)
RETURNS boolean LANGUAGE plpgsql AS $$
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

CREATE FUNCTION ops.retry(outbox_id bigint, reason text)
RETURNS text LANGUAGE plpgsql AS $$
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
COMMENT ON FUNCTION ops.retry(bigint, text) IS
    'A dead letter (failed) or a row stuck in flight (dispatched) back to the relay, due now; attempts and last_error kept, finished_at and the lease cleared. Records who and why (ops.actions, the subject''s state_history).';

CREATE FUNCTION ops.retry_dead_letters(actor text, since timestamptz, reason text)
RETURNS integer LANGUAGE plpgsql AS $$
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
COMMENT ON FUNCTION ops.retry_dead_letters(text, timestamptz, text) IS
    'ops.retry for every dead letter of one actor that died at or after since; returns how many were retried (one whose dedupe key another live row holds is skipped, with a notice).';

CREATE FUNCTION ops.reschedule(outbox_id bigint, at timestamptz, reason text)
RETURNS text LANGUAGE plpgsql AS $$
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
COMMENT ON FUNCTION ops.reschedule(bigint, timestamptz, text) IS
    'Move a pending row (a timer, or work not handed out yet) to deliver at `at`; the relay dispatches it then. A timer''s actor re-checks its rules when it fires (a claim deadline fired early is scheduled again for its instant). Records who and why.';

CREATE FUNCTION ops.release_leases(reason text)
RETURNS integer LANGUAGE plpgsql AS $$
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
COMMENT ON FUNCTION ops.release_leases(text) IS
    'Every dispatched (unfinished) row back to pending, due now (a row deferred to a later instant keeps that instant), for the relay''s next tick: after a restore from backup or a lost Redis, when the messages carrying them are gone. Actors are idempotent and DICT writes carry their RequestId, so a message that did survive does no harm. Returns how many; records who and why per row.';
