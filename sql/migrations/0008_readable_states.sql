-- The states documented where they live (sql/schema.sql shows these comments), and the
-- columns tied to the status by CHECK constraints: the database is the last guard.

COMMENT ON COLUMN entries.status IS $$A key of ours (statemachines/entry.py). Who moves it out:
registering: waiting for the DICT's answer to CreateEntry (register_entry -> active | rejected)
active:      in the DICT; its CID is part of the VSync (API update/delete -> updating | deleting;
             a claim confirmed on it -> deleted)
updating:    UpdateEntry sent, the new data in pending (update_entry -> active)
deleting:    DeleteEntry sent, the reason in pending (delete_entry -> deleted | active)
deleted:     out of the DICT; its CID left the VSync (terminal)
rejected:    the DICT refused the creation; problem_type says why (terminal)$$;

COMMENT ON COLUMN claims.status IS $$A claim as claimer or donor (statemachines/claim.py): the
DICT's statuses in lowercase plus our calls in flight. Who moves it out:
submitting:         claimer: CreateClaim to send (create_claim -> open | rejected)
rejected:           claimer: the DICT refused the creation (terminal)
open:               OPEN: not acknowledged yet (donor: the claims poll acknowledges)
waiting_resolution: WAITING_RESOLUTION: the donor's user decides (donor: day-7 claim_deadline)
confirming:         donor: ConfirmClaim sent (confirm_claim -> confirmed | waiting_resolution)
confirmed:          CONFIRMED: the key left the donor (claimer: complete_claim, day-30 cancel)
completing:         claimer: CompleteClaim sent (complete_claim -> completed | confirmed)
cancelling:         CancelClaim sent, either role (cancel_claim -> cancelled | back)
completed:          COMPLETED (terminal)
cancelled:          CANCELLED (terminal)
What the other side does arrives through the claims poll (poll_claims) and moves the same
machine, never backwards (statemachines.claim.CATCH_UP).$$;

COMMENT ON COLUMN outbox.status IS $$An effect of a state change (app/outbox.py). Who moves it:
pending    -> dispatched  the relay (after commit, and every minute)
dispatched -> done        the worker middleware, when the actor succeeds
dispatched -> failed      the worker middleware, when retries are exhausted (dead letter)
dispatched -> pending     the relay, when the lease expired (the message was lost)
pending    -> cancelled   cancel_timer (a deadline that no longer applies)$$;

COMMENT ON COLUMN claims.pending IS 'the call in flight: {"reason", "from", "deadline"?, "attempt"?}';

-- A finished outbox row says when it finished; an unfinished one does not.
ALTER TABLE outbox ADD CONSTRAINT outbox_finished_at_when_finished
    CHECK ((finished_at IS NOT NULL) = (status IN ('done', 'failed', 'cancelled')));

-- A claim's reasons come with the status that needs them.
ALTER TABLE claims ADD CONSTRAINT claims_confirmed_has_its_reason
    CHECK (status <> 'confirmed' OR confirm_reason IS NOT NULL);
ALTER TABLE claims ADD CONSTRAINT claims_cancelled_has_its_reason
    CHECK (status <> 'cancelled' OR (cancel_reason IS NOT NULL AND cancelled_by IS NOT NULL));
-- A call in flight says what it is.
ALTER TABLE claims ADD CONSTRAINT claims_in_flight_has_pending
    CHECK (status NOT IN ('confirming', 'completing', 'cancelling') OR pending IS NOT NULL);

-- One open claim per key and role: the DICT allows one claim in progress per key.
CREATE UNIQUE INDEX claims_one_open_per_key_role ON claims (key, role)
    WHERE status NOT IN ('rejected', 'completed', 'cancelled');
DROP INDEX claims_open_key;  -- the unique index serves its lookups
