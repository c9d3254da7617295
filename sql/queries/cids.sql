-- name: vsync
-- A key type's VSync from the shards kept by entries_cid_moved(): O(1).
SELECT coalesce(bit_xor(vsync), repeat('0', 256)::bit(256))::text AS bits,
       coalesce(sum(entries), 0)::bigint AS entries
FROM vsyncs WHERE key_type = %(key_type)s;

-- name: recompute
-- A key type's VSync from its CIDs, row by row.
SELECT coalesce(bit_xor(('x' || cid)::bit(256)), repeat('0', 256)::bit(256))::text AS bits,
       count(*) AS entries
FROM cids WHERE key_type = %(key_type)s;

-- name: both
-- The kept VSync and the recomputed one in one statement: one snapshot, so an entry
-- change committed meanwhile cannot pass for drift.
SELECT (SELECT coalesce(bit_xor(vsync), repeat('0', 256)::bit(256))
        FROM vsyncs WHERE key_type = %(key_type)s)::text AS kept,
       (SELECT coalesce(bit_xor(('x' || cid)::bit(256)), repeat('0', 256)::bit(256))
        FROM cids WHERE key_type = %(key_type)s)::text AS fresh;

-- name: recompute_shards
-- The same per shard (to repair the shards).
SELECT ('x' || substr(cid, 1, 1))::bit(4)::int AS shard,
       bit_xor(('x' || cid)::bit(256))::text AS bits, count(*) AS entries
FROM cids WHERE key_type = %(key_type)s
GROUP BY 1 ORDER BY 1;

-- name: shards
SELECT shard, vsync::text AS bits, entries FROM vsyncs
WHERE key_type = %(key_type)s ORDER BY shard;

-- name: lock_shards
-- Entry changes of this key type wait while the shards are rewritten from cids.
SELECT shard FROM vsyncs WHERE key_type = %(key_type)s ORDER BY shard FOR UPDATE;

-- name: set_shard
UPDATE vsyncs SET vsync = %(bits)s::bit(256), entries = %(entries)s, updated_at = %(now)s
WHERE key_type = %(key_type)s AND shard = %(shard)s;
