-- name: insert
INSERT INTO entries (id, key, key_type, status, participant, branch, account_number,
                     account_type, opening_date, owner_type, owner_tax_id, owner_name,
                     owner_trade_name, request_id, created_at, updated_at)
VALUES (%(id)s, %(key)s, %(key_type)s, %(status)s, %(participant)s, %(branch)s,
        %(account_number)s, %(account_type)s, %(opening_date)s, %(owner_type)s,
        %(owner_tax_id)s, %(owner_name)s, %(owner_trade_name)s, %(request_id)s,
        %(now)s, %(now)s)
RETURNING *;

-- name: create
-- Registrations as one statement, its own transaction (app.batcher: the requests
-- waiting at one moment share it): tag the transaction for state_history, insert
-- each entry as registering (the history trigger records it) unless its key already
-- has a live entry, and the outbox row of each entry inserted (rows of
-- app.outbox.params, subject 'entry:<id>'). Answers the entries inserted.
WITH tagged AS (
    SELECT dict_tag(%(tag_actor)s, %(tag_trigger)s, %(tag_reason)s, %(now)s) AS ok
), e AS (
    INSERT INTO entries (id, key, key_type, status, participant, branch, account_number,
                         account_type, opening_date, owner_type, owner_tax_id, owner_name,
                         owner_trade_name, request_id, created_at, updated_at)
    SELECT r.id, r.key, r.key_type, r.status, r.participant, r.branch, r.account_number,
           r.account_type, r.opening_date, r.owner_type, r.owner_tax_id, r.owner_name,
           r.owner_trade_name, r.request_id, r.created_at, r.updated_at
    FROM jsonb_populate_recordset(NULL::entries, %(entries)s) r, tagged
    WHERE tagged.ok
    ON CONFLICT (key) WHERE status NOT IN ('deleted', 'rejected') DO NOTHING
    RETURNING *
), o AS (
    INSERT INTO outbox (actor, queue, args, kind, subject, dedupe_key, status, deliver_at,
                        created_at, dispatched_at, lease_until, attempts, trace_context)
    SELECT r.actor, r.queue, r.args, r.kind, r.subject, r.dedupe_key, r.status, r.deliver_at,
           r.created_at, r.dispatched_at, r.lease_until, r.attempts, r.trace_context
    FROM jsonb_populate_recordset(NULL::outbox, %(outbox)s) r
    JOIN e ON r.subject = 'entry:' || e.id
    RETURNING id, subject
)
SELECT e.*, o.id AS outbox_id FROM e JOIN o ON o.subject = 'entry:' || e.id;

-- name: get
SELECT * FROM entries WHERE id = %(id)s;

-- name: lock
-- Lock the entry and tag the transaction for state_history in one round trip.
SELECT e.* FROM entries e, (SELECT dict_tag(%(tag_actor)s, %(tag_trigger)s, %(tag_reason)s,
                                            %(now)s) AS ok) t
WHERE e.id = %(id)s AND t.ok
FOR UPDATE OF e;

-- name: live_by_key
SELECT * FROM entries WHERE key = %(key)s AND status NOT IN ('deleted', 'rejected');

-- name: latest_by_key
SELECT * FROM entries WHERE key = %(key)s ORDER BY created_at DESC, id DESC LIMIT 1;

-- name: list
-- Cursor pagination on (created_at, id); every filter optional.
SELECT * FROM entries
WHERE (%(participant)s::text IS NULL OR participant = %(participant)s)
  AND (%(account_number)s::text IS NULL OR account_number = %(account_number)s)
  AND (%(branch)s::text IS NULL OR branch = %(branch)s)
  AND (%(owner_tax_id)s::text IS NULL OR owner_tax_id = %(owner_tax_id)s)
  AND (%(key_type)s::text IS NULL OR key_type = %(key_type)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(after_created)s::timestamptz IS NULL
       OR (created_at, id) > (%(after_created)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: set_status
-- The guarded transition: zero rows means someone else moved the entry first.
UPDATE entries
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s
WHERE id = %(id)s AND status = %(from_status)s;

-- name: set_active
-- The entry is in the DICT; its CID joins cids and the VSync (trigger entries_cid_moved).
UPDATE entries
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s,
    key = %(key)s, cid = %(cid)s, pending = NULL, problem_type = NULL, problem_detail = NULL
WHERE id = %(id)s AND status = %(from_status)s;

-- name: set_updated
UPDATE entries
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s, cid = %(cid)s,
    pending = NULL, problem_type = NULL, problem_detail = NULL,
    branch = %(branch)s, account_number = %(account_number)s, account_type = %(account_type)s,
    opening_date = %(opening_date)s, owner_name = %(owner_name)s,
    owner_trade_name = %(owner_trade_name)s
WHERE id = %(id)s AND status = %(from_status)s;

-- name: set_reconciled
-- A sync run moved our entry to the DICT's attributes (and its RequestId, so its CID).
UPDATE entries
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s, cid = %(cid)s,
    request_id = %(request_id)s, participant = %(participant)s, branch = %(branch)s,
    account_number = %(account_number)s, account_type = %(account_type)s,
    opening_date = %(opening_date)s, owner_type = %(owner_type)s,
    owner_tax_id = %(owner_tax_id)s, owner_name = %(owner_name)s,
    owner_trade_name = %(owner_trade_name)s, pending = NULL, problem_type = NULL,
    problem_detail = NULL
WHERE id = %(id)s AND status = %(from_status)s;

-- name: set_pending
UPDATE entries
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s,
    pending = %(pending)s, problem_type = NULL, problem_detail = NULL
WHERE id = %(id)s AND status = %(from_status)s;

-- name: set_refused
-- The DICT refused: keep its problem type; a refused update or deletion leaves the entry as it was.
UPDATE entries
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s, pending = NULL,
    problem_type = %(problem_type)s, problem_detail = %(problem_detail)s
WHERE id = %(id)s AND status = %(from_status)s;

-- name: set_deleted
UPDATE entries
SET status = %(to_status)s, version = version + 1, updated_at = %(now)s, cid = NULL,
    pending = NULL
WHERE id = %(id)s AND status = %(from_status)s;

-- name: vsyncs
SELECT key_type, bit_xor(vsync)::text AS bits, sum(entries)::bigint AS entries,
       max(updated_at) AS updated_at
FROM vsyncs GROUP BY key_type ORDER BY key_type;

-- name: live_ids_by_keys
SELECT key, id FROM entries WHERE key = ANY(%(keys)s) AND status NOT IN ('deleted', 'rejected');
