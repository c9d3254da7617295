-- Idempotency-Key answers (app/api/idempotency.py).
-- created_at is also the holder's token: the request that inserted the placeholder, or
-- took it over, wrote it; the steps below match it, so a request whose key was taken
-- over can neither store an answer nor delete the placeholder of the one now holding it.

-- name: claim
-- The placeholder inserted before the handler runs: whoever inserts it executes.
INSERT INTO idempotency_keys (api_key_id, key, method, path, body_hash, created_at)
VALUES (%(api_key_id)s, %(key)s, %(method)s, %(path)s, %(body_hash)s, %(now)s)
ON CONFLICT DO NOTHING
RETURNING key;

-- name: get
SELECT body_hash, status_code, response_headers, response_body, created_at
FROM idempotency_keys
WHERE api_key_id = %(api_key_id)s AND key = %(key)s;

-- name: take_over
-- A placeholder whose request died (process killed) is taken over after a while.
UPDATE idempotency_keys SET created_at = %(now)s
WHERE api_key_id = %(api_key_id)s AND key = %(key)s AND body_hash = %(body_hash)s
  AND status_code IS NULL AND created_at < %(stale_before)s
RETURNING key;

-- name: lock
-- First statement of the work's transaction: the placeholder is still ours, and stays
-- ours until the answer commits with the work (a take-over waits for the lock, then
-- finds the answer).
SELECT key FROM idempotency_keys
WHERE api_key_id = %(api_key_id)s AND key = %(key)s AND created_at = %(token)s
  AND status_code IS NULL
FOR UPDATE;

-- name: complete
-- The answer, stored in the transaction of the work it answers.
UPDATE idempotency_keys
SET status_code = %(status_code)s, response_headers = %(response_headers)s,
    response_body = %(response_body)s
WHERE api_key_id = %(api_key_id)s AND key = %(key)s AND created_at = %(token)s
  AND status_code IS NULL;

-- name: release
-- The handler failed (4xx, 5xx or crash): forget the placeholder so a retry executes.
DELETE FROM idempotency_keys
WHERE api_key_id = %(api_key_id)s AND key = %(key)s AND created_at = %(token)s
  AND status_code IS NULL;

-- name: prune
-- Called by the maintenance cron with its `now`: answers are kept for 24 hours.
DELETE FROM idempotency_keys WHERE created_at < %(now)s::timestamptz - interval '24 hours';
