-- The DICT's rate-limit buckets of ours (app/repo/rate_limits.py): the policies with our
-- thresholds, their readings (monthly partitions, migration 0017), the gauges.

-- name: record_policies
-- The policies of one reading of ListBucketStates: new ones inserted with the default
-- thresholds, known ones take the DICT's figures (they win over app.domain.buckets).
-- Locks each row until the poll commits (names sorted by the caller: two polls lock in
-- the same order) and returns the level the previous reading left, and the thresholds.
INSERT INTO rate_limit_policies AS p
    (name, category, scope, capacity, refill_tokens, refill_period_s, updated_at)
SELECT u.name, u.category, u.scope, u.capacity, u.refill_tokens, u.refill_period_s, %(now)s
FROM unnest(%(names)s::text[], %(categories)s::text[], %(scopes)s::text[],
            %(capacities)s::bigint[], %(refill_tokens)s::bigint[], %(refill_periods)s::integer[])
     AS u (name, category, scope, capacity, refill_tokens, refill_period_s)
ON CONFLICT (name) DO UPDATE
SET category = excluded.category, scope = excluded.scope, capacity = excluded.capacity,
    refill_tokens = excluded.refill_tokens, refill_period_s = excluded.refill_period_s,
    updated_at = excluded.updated_at
RETURNING p.name, p.warning_pct, p.critical_pct, p.level;

-- name: record_readings
-- One reading per policy (a repeat at the same instant is ignored) and each policy's new
-- level, in one statement.
WITH readings AS (
    INSERT INTO rate_limit_readings
        (policy, read_at, available_tokens, capacity, refill_tokens, refill_period_s, category)
    SELECT u.name, %(now)s, u.available, u.capacity, u.refill_tokens, u.refill_period_s,
           u.category
    FROM unnest(%(names)s::text[], %(available)s::bigint[], %(capacities)s::bigint[],
                %(refill_tokens)s::bigint[], %(refill_periods)s::integer[],
                %(categories)s::text[])
         AS u (name, available, capacity, refill_tokens, refill_period_s, category)
    ON CONFLICT DO NOTHING
)
UPDATE rate_limit_policies p
SET level = u.level, last_read_at = %(now)s
FROM unnest(%(names)s::text[], %(levels)s::text[]) AS u (name, level)
WHERE p.name = u.name;

-- name: last_read_at
-- When the newest reading was taken (NULL: never).
SELECT max(last_read_at) AS last_read_at FROM rate_limit_policies;

-- name: policies
-- Every policy with its latest reading (NULL columns before its first), by name; or the
-- one named.
SELECT p.name, p.category, p.scope, p.capacity, p.refill_tokens, p.refill_period_s,
       p.warning_pct, p.critical_pct, p.level, p.last_read_at, p.updated_at,
       r.available_tokens
FROM rate_limit_policies p
LEFT JOIN rate_limit_readings r ON r.policy = p.name AND r.read_at = p.last_read_at
WHERE %(name)s::text IS NULL OR p.name = %(name)s
ORDER BY p.name;

-- name: lock_policy
SELECT name, warning_pct, critical_pct FROM rate_limit_policies WHERE name = %(name)s FOR UPDATE;

-- name: set_thresholds
UPDATE rate_limit_policies
SET warning_pct = %(warning_pct)s, critical_pct = %(critical_pct)s, updated_at = %(now)s
WHERE name = %(name)s;

-- name: readings
-- A policy's readings, newest first, read_at in [since, until) and before the cursor.
SELECT policy, read_at, available_tokens, capacity, refill_tokens, refill_period_s, category
FROM rate_limit_readings
WHERE policy = %(name)s
  AND (%(since)s::timestamptz IS NULL OR read_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR read_at < %(until)s)
  AND (%(before)s::timestamptz IS NULL OR read_at < %(before)s)
ORDER BY read_at DESC
LIMIT %(limit)s;

-- name: gauges
-- The gauges (app/outbox.py _rate_limit_gauges), one statement per scrape: the newest
-- poll's instant, and each policy that poll read (a policy the DICT stopped reporting
-- leaves the gauges) with its reading; one row with NULLs when nothing was read yet.
WITH newest AS (SELECT max(last_read_at) AS read_at FROM rate_limit_policies)
SELECT n.read_at AS newest_read_at, p.name AS policy, p.level, r.available_tokens, r.capacity
FROM newest n
LEFT JOIN rate_limit_policies p ON p.last_read_at = n.read_at
LEFT JOIN rate_limit_readings r ON r.policy = p.name AND r.read_at = n.read_at
ORDER BY p.name;

-- name: partitions
-- The maintenance step: this month's partition and the next `ahead` months', and the
-- months wholly older than the retention dropped (migration 0017).
SELECT action, partition_name
FROM rate_limit_partitions(%(now)s, %(ahead)s, %(retention_months)s);
