-- A run's second verification can meet a key moving at that instant: a claim completed
-- at the DICT whose change our base takes a moment later, or the reverse. The VSyncs then
-- differ for seconds, and a run that has just repaired everything from the CID file
-- failed (the bank day of issue 16: PHONE, 12 claims moving keys during its 4 minutes).
-- Now a NOK after a repair from the file is verified again SYNC_RECHECK_AFTER_S later, up
-- to SYNC_RECHECKS times, before the run fails; rechecks counts them.
ALTER TABLE sync_runs ADD COLUMN rechecks integer NOT NULL DEFAULT 0
    CHECK (rechecks >= 0);
COMMENT ON COLUMN sync_runs.rechecks IS
    'NOK answers after the repair from the CID file that were verified again later (SYNC_RECHECKS)';
