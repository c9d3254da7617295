-- Claims as the DICT states them, and a poll that never stops on one bad claim.

-- The DICT's claim record has no creation date: both columns are derived from its
-- ResolutionPeriodEnd (creation = ResolutionPeriodEnd - 7 days, day 30 =
-- ResolutionPeriodEnd + 23 days; app.domain.claims.ClaimPeriods.from_dict).
COMMENT ON COLUMN claims.created_at IS
    'derived: the DICT''s ResolutionPeriodEnd - 7 days (the DICT sends no creation date)';
COMMENT ON COLUMN claims.day30_limit IS
    'derived: the DICT''s ResolutionPeriodEnd + 23 days (day 30 after creation)';
COMMENT ON COLUMN claims.dict_status IS
    'the DICT''s status as last seen (newest LastModified wins); our status catches up with it';

-- When a poll last went through the whole list (the stalled-poller alert reads it).
ALTER TABLE poll_cursors ADD COLUMN polled_at timestamptz;

-- A claim the poll could not apply: isolated so the poll and its cursor go on, retried
-- (GetClaim) by every poll until it applies, alerted while any row is here.
CREATE TABLE claim_poll_failures (
    dict_id   text PRIMARY KEY,           -- the DICT's claim id
    error     text NOT NULL,              -- the exception, without customer data
    attempts  integer NOT NULL DEFAULT 1,
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL
);

-- Claims in flight or unsettled are looked up by status on every poll.
CREATE INDEX claims_status ON claims (status)
    WHERE status NOT IN ('rejected', 'completed', 'cancelled');
