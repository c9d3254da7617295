-- Items of the MED lists (infraction reports, refund requests) a poll could not apply:
-- isolated so the poll and its cursor go on, retried (read again by id) by every poll of
-- that list until they apply, counted by the dict_poll_failures gauge (actors/listing.py).
-- The claims poll keeps its own table, claim_poll_failures (0006).

CREATE TABLE poll_failures (
    poller    text NOT NULL,               -- the poll's cursor name (poll_cursors.name)
    dict_id   text NOT NULL,               -- the DICT's id of the item
    error     text NOT NULL,               -- the exception's type and message, without customer data
    attempts  integer NOT NULL DEFAULT 1,
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL,
    PRIMARY KEY (poller, dict_id)
);
