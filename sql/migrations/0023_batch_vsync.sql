-- A batch of transitions in one transaction moves the VSync once, at its end (issue 16).
--
-- The worker applies a batch of outbox rows in one transaction (actors/batch.py). Each
-- entry's CID move XORs into one of its key type's 16 VSync shards (entries_cid_moved,
-- migration 0009), and an UPDATE holds that shard's row lock until the commit: a batch of
-- 50 transitions held most of the 16 shards for its whole length, so concurrent batches
-- ran one after the other and deadlocked on the shards taken in different orders.
--
-- Inside a batch's transaction (the transaction-local setting dict.vsync_deferred = 'on',
-- set by outbox.lock_batch) the trigger only records the move in vsync_deltas, under the
-- transaction's id; vsync_flush(), run just before the commit (outbox.end_batch), locks
-- the shards it touches in (key_type, shard) order and applies each shard's XOR and count
-- in one UPDATE, then forgets the deltas. A savepoint rolled back takes its deltas with
-- it. Other transactions never see the deltas (they are inserted and deleted in the same
-- transaction), so the VSync readers are unchanged. Everywhere else the trigger updates
-- the shard at once, as before.

CREATE UNLOGGED TABLE vsync_deltas (
    xact     xid8 NOT NULL DEFAULT pg_current_xact_id(),
    key_type text NOT NULL,
    shard    smallint NOT NULL,
    delta    bit(256) NOT NULL,
    entries  integer NOT NULL,
    at       timestamptz NOT NULL
);
COMMENT ON TABLE vsync_deltas IS
    'CID moves of a batch transaction not yet applied to vsyncs: written and emptied within that transaction (vsync_flush), so never seen by another; unlogged, as nothing here outlives its transaction';
CREATE INDEX vsync_deltas_xact ON vsync_deltas (xact);

CREATE FUNCTION vsync_move(kind text, cid text, n integer, at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION entries_cid_moved() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE FUNCTION vsync_flush() RETURNS void LANGUAGE plpgsql AS $$
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
