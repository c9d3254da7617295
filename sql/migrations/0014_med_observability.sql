-- migrate: no-transaction
-- The MED gauges (app/outbox.py BacklogCollector, sql/queries/med.sql) read, at every
-- scrape, the infraction reports and refund requests the DICT refused: our creations it
-- rejected (terminal, kept for ever) and the items whose last call it refused (back in
-- the status they left, problem_type set until their next transition). A refused cancel
-- of a closed report is one of them, and closed reports are most of the table, so the
-- (role, status) indexes that serve the other gauges cannot find these: each table gets
-- a partial index of the few rows that carry a refusal. Built concurrently: both tables
-- take writes from the polls and the API while this runs.

CREATE INDEX CONCURRENTLY IF NOT EXISTS infraction_reports_refused
    ON infraction_reports (updated_at) WHERE problem_type IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS refunds_refused
    ON refunds (updated_at) WHERE problem_type IS NOT NULL;
