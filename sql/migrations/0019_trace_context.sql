-- Traces (docs/architecture.md, "Traces"): an outbox row carries the trace context of the
-- transaction that wrote it, so the actor that runs it (and its DICT calls) joins the trace
-- of the API request, or of the actor, that asked for the work.
--
-- The value is passed explicitly by app.outbox.params() (each effect's own context), not
-- taken from a column DEFAULT reading a transaction-local setting: registrations are
-- written in batches (app.batcher), one statement for the requests of many traces, and a
-- setting holds one value per transaction. With tracing off (the default) the parameter is
-- NULL and nothing else changes. Adding a nullable column with no default rewrites nothing.

ALTER TABLE outbox ADD COLUMN trace_context text;

COMMENT ON COLUMN outbox.trace_context IS
    'W3C traceparent of the span that wrote the row (00-<trace id>-<span id>-<flags>), handed to the actor in the message options; NULL when tracing is off or the row came from psql';
