-- The relay notices when Redis lost its messages (issue 15), and hands every dispatched
-- row back at once instead of waiting for the rows' leases (10 minutes).
--
-- Each relay pass (app/outbox.py, recover_redis) compares three things: the run id of the
-- Redis server it talks to (INFO server), the sentinel key it wrote to that Redis, and
-- the epoch recorded here. All three equal: nothing was lost. The sentinel gone (Redis
-- flushed, or restarted without persistence) or a new run id (restarted, failed over,
-- so the last second of writes may be missing): every dispatched row is handed back
-- (outbox.hand_back_all), and the new run id is recorded here and written as the
-- sentinel, in the same locked transaction, so two relays hand back once.
--
-- Why in PostgreSQL: Redis cannot remember that it forgot. A sentinel missing from a
-- Redis never written to is no loss, and only a memory outside Redis tells the two apart
-- (a fresh install or a fresh test database hands nothing back).

CREATE TABLE relay_redis (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch      text,
    changed_at timestamptz
);
COMMENT ON TABLE relay_redis IS
    'One row: the Redis the relay last saw (app/outbox.py, recover_redis). Setting epoch to NULL makes the next pass record the current Redis and hand nothing back';
COMMENT ON COLUMN relay_redis.epoch IS
    'Run id of the Redis server when the relay last wrote its sentinel key (dict-connect:relay:epoch) there; NULL: never yet';
COMMENT ON COLUMN relay_redis.changed_at IS 'When a relay pass last recorded a new epoch';
INSERT INTO relay_redis DEFAULT VALUES;

COMMENT ON COLUMN outbox.status IS $$An effect of a state change (app/outbox.py). Who moves it:
pending    -> dispatched  the relay (after commit, and every pass: 10 s)
dispatched -> done        the worker middleware, when the actor succeeds
dispatched -> failed      the worker middleware, when retries are exhausted (dead letter)
dispatched -> pending     the relay, when the lease expired (the message was lost), or
                          all at once when Redis lost its messages (relay_redis)
pending    -> cancelled   cancel_timer (a deadline that no longer applies)$$;
