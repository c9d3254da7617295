-- Synchronisation with the DICT (DICT.md §3; statemachines/sync_run.py): our CIDs kept as
-- data, the sync runs that verify each key type's VSync, the divergences they find and
-- what was done about each, and the DICT's CID file staged for comparison.

-- Our CIDs: one row per entry of ours in the DICT (status active, updating or deleting),
-- with the RequestId that keys its HMAC. Kept by entries_cid_moved() below, in the
-- transaction of every entry change, together with the VSync shards: no code path can
-- change an entry's CID and forget either.
CREATE TABLE cids (
    key_type   text NOT NULL,
    cid        text COLLATE "C" NOT NULL,
    entry_id   uuid NOT NULL,
    request_id uuid NOT NULL,
    added_at   timestamptz NOT NULL,   -- when it became ours: newer ones are not compared
    PRIMARY KEY (key_type, cid)
);
CREATE UNIQUE INDEX cids_entry_id ON cids (entry_id);

INSERT INTO cids (key_type, cid, entry_id, request_id, added_at)
SELECT key_type, cid, id, request_id, updated_at FROM entries WHERE cid IS NOT NULL;

CREATE FUNCTION entries_cid_moved() RETURNS trigger LANGUAGE plpgsql AS $$
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
        UPDATE vsyncs SET vsync = vsync # ('x' || gone)::bit(256), entries = entries - 1,
                          updated_at = at
        WHERE key_type = OLD.key_type AND shard = ('x' || substr(gone, 1, 1))::bit(4)::int;
    END IF;
    IF came IS NOT NULL THEN
        INSERT INTO cids (key_type, cid, entry_id, request_id, added_at)
        VALUES (NEW.key_type, came, NEW.id, NEW.request_id, at);
        UPDATE vsyncs SET vsync = vsync # ('x' || came)::bit(256), entries = entries + 1,
                          updated_at = at
        WHERE key_type = NEW.key_type AND shard = ('x' || substr(came, 1, 1))::bit(4)::int;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER entries_cid_moved
    AFTER INSERT OR DELETE OR UPDATE OF cid ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_cid_moved();

-- A key only the DICT has may be one our base lost (a restore from an old backup): the
-- entry a sync run adds back carries the creating RequestId of the one we marked gone.
-- Among live entries a RequestId stays unique.
ALTER TABLE entries DROP CONSTRAINT entries_request_id_key;
CREATE UNIQUE INDEX entries_request_id_live ON entries (request_id)
    WHERE status NOT IN ('deleted', 'rejected');

-- A sync run: one verification of one key type's VSync and, when the DICT answers NOK,
-- the search for divergences (CID events or the CID file), their repair and a second
-- verification.
CREATE TABLE sync_runs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_type          text NOT NULL
                      CHECK (key_type IN ('CPF', 'CNPJ', 'PHONE', 'EMAIL', 'EVP')),
    status            text NOT NULL,
    cause             text NOT NULL CHECK (cause IN ('scheduled', 'catch_up', 'requested')),
    requested_by      text,
    source            text CHECK (source IN ('events', 'file')),
    threshold         integer NOT NULL CHECK (threshold >= 0),
    vsync             text,          -- the VSync we sent last
    verification_id   bigint,        -- the DICT's id of our last SyncVerification
    verifications     integer NOT NULL DEFAULT 0,
    verified_at       timestamptz,   -- when the DICT answered OK
    since             timestamptz,   -- events: the last OK verification, the window's start
    snapshot_at       timestamptz,   -- CIDs of ours added after this are not compared
    events_after      timestamptz,   -- events: where the next page starts
    event_pages       integer NOT NULL DEFAULT 0,
    file_id           bigint,        -- the DICT's CID file
    file_requested_at timestamptz,
    file_polls        integer NOT NULL DEFAULT 0,
    file_bytes        bigint,
    file_sha256       text,
    file_cids         bigint,        -- lines staged in dict_cids
    shard             smallint NOT NULL DEFAULT 0 CHECK (shard BETWEEN 0 AND 16),
    divergences       integer NOT NULL DEFAULT 0,
    repaired          integer NOT NULL DEFAULT 0,
    decided_by        text,          -- who approved or rejected a large reconciliation
    problem           text,          -- why it failed or was rejected
    started_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    finished_at       timestamptz,
    version           integer NOT NULL DEFAULT 0,
    CONSTRAINT sync_runs_finished CHECK (
        (finished_at IS NOT NULL) = (status IN ('ok', 'failed', 'rejected'))),
    CONSTRAINT sync_runs_failed_has_problem CHECK (
        status NOT IN ('failed', 'rejected') OR problem IS NOT NULL)
);
CREATE UNIQUE INDEX sync_runs_one_open_per_key_type ON sync_runs (key_type)
    WHERE status NOT IN ('ok', 'failed', 'rejected');
CREATE INDEX sync_runs_key_type_started ON sync_runs (key_type, started_at DESC);
CREATE INDEX sync_runs_listing ON sync_runs (started_at, id);

CREATE TRIGGER sync_runs_enforce_transition
    BEFORE INSERT OR UPDATE OF status ON sync_runs
    FOR EACH ROW EXECUTE FUNCTION enforce_transition('sync_run');
CREATE TRIGGER sync_runs_record_transition
    AFTER INSERT OR UPDATE OF status ON sync_runs
    FOR EACH ROW EXECUTE FUNCTION record_transition('sync_run');

COMMENT ON COLUMN sync_runs.status IS $$A sync run (statemachines/sync_run.py). Who moves it out:
verifying:         CreateSyncVerification to send (verify_sync -> ok | collecting | failed)
collecting:        NOK: reading the DICT's CID events or its CID file (collect_sync -> comparing | failed)
comparing:         our CIDs against the DICT's, 16 ranges of CIDs (compare_sync -> reconciling | awaiting_approval)
awaiting_approval: more divergences than the threshold: an operator decides (approve -> reconciling,
                   reject -> rejected; POST /v1/sync-runs/{id}/approve or ops.request)
reconciling:       our base moved to the DICT's state, divergence by divergence (reconcile_sync -> verifying)
ok:                the DICT answered OK (terminal)
failed:            could not verify or repair; problem says why (terminal)
rejected:          an operator rejected the reconciliation (terminal)$$;

-- Every divergence a run found, and what was done about it (docs/reconciliation.md).
CREATE TABLE sync_divergences (
    run_id      bigint NOT NULL REFERENCES sync_runs (id),
    cid         text COLLATE "C" NOT NULL,
    side        text NOT NULL CHECK (side IN ('dict_only', 'ours_only')),
    entry_id    uuid,          -- our entry it concerns, when there is one
    key         text,
    outcome     text NOT NULL DEFAULT 'found'
                CHECK (outcome IN ('found', 'in_flight', 'inserted', 'updated', 'removed',
                                   'resolved', 'unresolved')),
    detail      text,
    attempts    integer NOT NULL DEFAULT 0,
    retry_at    timestamptz,
    found_at    timestamptz NOT NULL,
    handled_at  timestamptz,
    PRIMARY KEY (run_id, cid),
    CONSTRAINT sync_divergences_handled CHECK (
        (handled_at IS NULL) = (outcome IN ('found', 'in_flight')))
);
CREATE INDEX sync_divergences_open ON sync_divergences (run_id, side, cid)
    WHERE outcome IN ('found', 'in_flight');

COMMENT ON COLUMN sync_divergences.outcome IS $$What reconciliation did (docs/reconciliation.md):
found:      not handled yet
in_flight:  its entry has an operation of ours in flight: looked at again later (retry_at)
inserted:   the DICT's entry was added to our base
updated:    our entry now holds the DICT's data
removed:    our entry left our base (the DICT does not have it)
resolved:   no longer a divergence when handled (the DICT or we moved since the comparison)
unresolved: left for an operator; detail says why$$;

-- The DICT's CIDs of one key type, from its CID file, while a run compares them: one
-- partition per key type (at most one open run per key type), emptied when the next file
-- is staged, itself split in 16 UNLOGGED ranges by first hex digit, the ranges
-- compare_sync walks one per transaction (a range reads only its own rows). A crash
-- empties them; compare_sync then stages the file again.
CREATE TABLE dict_cids (
    key_type text NOT NULL,
    cid      text COLLATE "C" NOT NULL
) PARTITION BY LIST (key_type);

DO $$
DECLARE
    kt     text;
    digits text := '0123456789abcdef';
    i      int;
BEGIN
    FOREACH kt IN ARRAY ARRAY['CPF', 'CNPJ', 'PHONE', 'EMAIL', 'EVP'] LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF dict_cids (key_type DEFAULT %L) '
                       'FOR VALUES IN (%L) PARTITION BY RANGE (cid)',
                       'dict_cids_' || lower(kt), kt, kt);
        FOR i IN 1..16 LOOP
            -- from the digit to the next character: a line starting with anything but a
            -- lowercase hex digit fits no range, and the COPY (the run) fails cleanly
            EXECUTE format('CREATE UNLOGGED TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           'dict_cids_' || lower(kt) || '_' || substr(digits, i, 1),
                           'dict_cids_' || lower(kt), substr(digits, i, 1),
                           chr(ascii(substr(digits, i, 1)) + 1));
        END LOOP;
    END LOOP;
END $$;

-- The DICT's CID events of a run's window, the last one per CID.
CREATE TABLE dict_cid_events (
    run_id bigint NOT NULL REFERENCES sync_runs (id),
    cid    text COLLATE "C" NOT NULL,
    type   text NOT NULL CHECK (type IN ('ADDED', 'REMOVED')),
    at     timestamptz NOT NULL,
    PRIMARY KEY (run_id, cid)
);
