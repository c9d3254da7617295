-- The API's own state: bearer API keys and Idempotency-Key answers.

-- A key reads `dc_<prefix>_<secret>`. Only the prefix (to find the row) and an HMAC of
-- the secret (keyed by the server pepper, API_KEY_PEPPER) are stored: the plaintext is
-- printed once by `dict-connect apikey create` and cannot be recovered from here.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL,                -- HMAC-SHA256(pepper, secret)
    scopes       text[] NOT NULL DEFAULT '{}',  -- e.g. {entries:read,entries:write}; admin = all
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,                   -- set by app.security.revoke_api_key; never cleared
    last_used_at timestamptz,                   -- refreshed at most once per cache period per process
    CONSTRAINT api_keys_name_key UNIQUE (name),
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
    CONSTRAINT api_keys_hash_length CHECK (octet_length(key_hash) = 32)
);

-- The first answer to each (API key, Idempotency-Key) pair, replayed for repeats.
--   in progress: status_code IS NULL   (inserted before the handler runs; a repeat gets 409)
--   answered:    status_code NOT NULL  (a repeat with the same body_hash gets this answer)
-- A 4xx/5xx answer deletes the row (nothing was committed) so the client may retry;
-- the prune cron deletes rows older than 24 h (named query idempotency.prune).
CREATE TABLE idempotency_keys (
    api_key_id       bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key              text NOT NULL,
    method           text NOT NULL,
    path             text NOT NULL,
    body_hash        bytea NOT NULL,             -- SHA-256 of method, path and body
    status_code      integer,
    response_headers jsonb,                      -- content-type, location
    response_body    bytea,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key),
    CONSTRAINT idempotency_keys_answer_complete
        CHECK ((status_code IS NULL) = (response_body IS NULL))
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
