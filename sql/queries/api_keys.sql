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

-- name: revoke
UPDATE api_keys SET revoked_at = %(now)s
WHERE name = %(name)s AND revoked_at IS NULL
RETURNING id;

-- name: list
SELECT id, name, prefix, scopes, created_at, revoked_at, last_used_at
FROM api_keys ORDER BY id;
