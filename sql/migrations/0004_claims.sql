-- Claims (reivindicações), as claimer and as donor, and the polling cursors.
--
-- status (statemachines/claim.py; the DICT's statuses plus our calls in flight):
--   submitting          claimer: CreateClaim to send                     (create_claim actor)
--   rejected            claimer: the DICT refused the creation           (terminal)
--   open                OPEN: the donor has not acknowledged yet         (donor: acknowledge_claim)
--   waiting_resolution  WAITING_RESOLUTION: the donor's user decides     (donor: resolution timer)
--   confirming          donor: ConfirmClaim sent                         (confirm_claim actor)
--   confirmed           CONFIRMED: the key left the donor                (claimer: complete)
--   completing          claimer: CompleteClaim sent                      (complete_claim actor)
--   cancelling          CancelClaim sent, either role                    (cancel_claim actor)
--   completed           COMPLETED                                        (terminal)
--   cancelled           CANCELLED                                        (terminal)
-- Changes made by the other side arrive through polling (poll_claims) and move the
-- same machine; a claim never goes backwards.

CREATE TABLE claims (
    id                      uuid PRIMARY KEY,
    dict_id                 text,              -- the DICT's claim id (NULL while submitting)
    role                    text NOT NULL CHECK (role IN ('CLAIMER', 'DONOR')),
    type                    text NOT NULL CHECK (type IN ('PORTABILITY', 'OWNERSHIP')),
    key                     text NOT NULL,
    key_type                text NOT NULL,
    status                  text NOT NULL,
    dict_status             text,              -- the DICT's status as last seen
    dict_last_modified      timestamptz,       -- the DICT's LastModified as last seen
    donor_participant       text,
    claimer_participant     text NOT NULL,
    claimer_branch          text,
    claimer_account_number  text NOT NULL,
    claimer_account_type    text NOT NULL,
    claimer_opening_date    timestamptz NOT NULL,
    claimer_type            text NOT NULL,
    claimer_tax_id          text NOT NULL,
    claimer_name            text NOT NULL,
    claimer_trade_name      text,
    created_at              timestamptz,       -- the DICT's creation instant: periods count from it
    resolution_period_end   timestamptz,
    completion_period_end   timestamptz,       -- OWNERSHIP only
    day30_limit             timestamptz,
    possession_validated_at timestamptz,       -- OWNERSHIP claimer: our user proved possession
    completion_request_id   uuid NOT NULL,     -- RequestId of CompleteClaim: the new entry's CID key
    entry_id                uuid REFERENCES entries (id),  -- donor: the entry claimed;
                                                           -- claimer: the entry created at completion
    pending                 jsonb,             -- the call in flight: {"reason", "from"}
    confirm_reason          text,
    cancel_reason           text,
    cancelled_by            text,
    problem_type            text,              -- the DICT's last refusal, by its DICT name
    problem_detail          text,
    anomaly                 text,              -- a DICT status our machine cannot reach (alerted)
    version                 integer NOT NULL DEFAULT 0,
    inserted_at             timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    CONSTRAINT claims_dict_id_role UNIQUE (dict_id, role),
    CONSTRAINT claims_dict_id_after_submit CHECK (dict_id IS NOT NULL OR status IN ('submitting', 'rejected'))
);
CREATE INDEX claims_open_key ON claims (key)
    WHERE status NOT IN ('rejected', 'completed', 'cancelled');
CREATE INDEX claims_role_status ON claims (role, status);
CREATE INDEX claims_resolution_end ON claims (resolution_period_end);
CREATE INDEX claims_listing ON claims (inserted_at, id);

CREATE TRIGGER claims_enforce_transition
    BEFORE INSERT OR UPDATE OF status ON claims
    FOR EACH ROW EXECUTE FUNCTION enforce_transition('claim');
CREATE TRIGGER claims_record_transition
    AFTER INSERT OR UPDATE OF status ON claims
    FOR EACH ROW EXECUTE FUNCTION record_transition('claim');

-- Where each poller resumes (its last ModifiedAfter), so a restart loses no window.
CREATE TABLE poll_cursors (
    name           text PRIMARY KEY,
    modified_after timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
