-- Key lookups (issue 11): what the API's Redis-side copies must learn from our base.
--
-- A lookup must not wait on PostgreSQL, so the API keeps in Redis the SHA-256 of every
-- key we hold in the DICT (a key of ours is a book transfer: never looked up, DICT.md
-- §1 "Before a call") and caches some DICT answers (manual §12, §16). Both copies must
-- follow our entry and claim changes. The triggers below note every such change here,
-- in the changing transaction (psql included), and the lookup_index cron applies the
-- notes to Redis and deletes them only once Redis took them: a note is never lost.
CREATE TABLE lookup_key_changes (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash bytea NOT NULL,   -- sha256 of the key as the DICT stores it
    held     boolean           -- true: we hold the key in the DICT now; false: we no
                               -- longer do; NULL: a claim moved, only invalidate caches
);

CREATE FUNCTION lookup_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER entries_lookup_key_changed
    AFTER INSERT OR DELETE OR UPDATE OF cid, key ON entries
    FOR EACH ROW EXECUTE FUNCTION lookup_key_changed();

CREATE TRIGGER claims_lookup_key_changed
    AFTER INSERT OR UPDATE OF status ON claims
    FOR EACH ROW EXECUTE FUNCTION lookup_key_changed();
