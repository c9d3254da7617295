-- Bearer API keys (app/security.py). Only the HMAC of a key's secret is stored.

-- name: insert
INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at)
VALUES (%(name)s, %(prefix)s, %(key_hash)s, %(scopes)s, %(now)s)
RETURNING id;

-- name: by_prefix
-- The candidate row for a presented key; the hash is compared in Python, in constant time.
SELECT id, name, key_hash, scopes FROM api_keys
WHERE prefix = %(prefix)s AND revoked_at IS NULL;

-- name: touch
UPDATE api_keys SET last_used_at = %(now)s WHERE id = %(id)s;

-- name: find
-- The key `dict-connect apikey revoke` names, by name or by prefix. Both are unique,
-- but one key's name may be another's prefix: then two rows, and the caller refuses.
SELECT id, name, prefix, revoked_at FROM api_keys
WHERE name = %(name)s OR prefix = %(prefix)s
ORDER BY id;

-- name: revoke
-- A key revoked again keeps its first revocation time. Keys are never deleted.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, %(now)s)
WHERE id = %(id)s
RETURNING revoked_at;

-- name: list
-- `dict-connect apikey list`: metadata only, never key_hash.
SELECT id, name, prefix, scopes, created_at, revoked_at, last_used_at
FROM api_keys ORDER BY id;
