-- The outbox is a queue that also keeps its finished rows for OUTBOX_RETENTION_DAYS, so
-- its live rows are many days of work while every new row is updated twice (dispatched,
-- then done) within seconds. Autovacuum's default waits until 20 % of the table is dead
-- rows: days of dead versions that the relay's partial indexes (outbox_due,
-- outbox_leased) step over on every pass. Vacuum and analyze it at 2 % instead (issue 16:
-- the bank day, with autovacuum off, had 415,000 dead rows beside 143,000 live by day 17).
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);
