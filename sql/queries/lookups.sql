-- Keeping the lookups' Redis copies in step with our base (app/lookups/index.py).

-- name: held_digests
-- Every key we hold in the DICT (its entry has a CID), as the SHA-256 the index keeps.
SELECT sha256(convert_to(key, 'UTF8')) AS digest FROM entries WHERE cid IS NOT NULL;

-- name: take_changes
-- The oldest notes, locked until the transaction ends: deleted only if Redis took them.
DELETE FROM lookup_key_changes
WHERE seq IN (SELECT seq FROM lookup_key_changes ORDER BY seq LIMIT %(limit)s
              FOR UPDATE SKIP LOCKED)
RETURNING seq, key_hash, held;
