-- Refund requests of the special return mechanism (MED), as the payer's PSP (REQUESTING)
-- and as the payee's PSP (CONTESTED) (DICT.md §5; statemachines/refund.py).
--
-- The DICT's CreateRefundRequest has no RequestId: a lost create answer is recovered by
-- listing our requests (actors/refunds.py); request_id is ours, for the history only.
-- Requests against us arrive through the refund poll (poll_refunds); our analysis is due
-- REFUND_ANALYSIS_HOURS after the DICT created them (due_at, the deadline timers).

CREATE TABLE refunds (
    id                        uuid PRIMARY KEY,
    dict_id                   text,              -- the DICT's RefundId (NULL while submitting)
    role                      text NOT NULL CHECK (role IN ('REQUESTING', 'CONTESTED')),
    status                    text NOT NULL,
    dict_status               text,              -- the DICT's status as last seen
    transaction_id            text NOT NULL,     -- EndToEndId (RtrId for REFUND_CANCELLED)
    refund_reason             text NOT NULL CHECK (refund_reason IN
                                  ('FRAUD', 'OPERATIONAL_FLAW', 'REFUND_CANCELLED', 'PIX_AUTOMATICO')),
    refund_amount             numeric(15, 2) NOT NULL CHECK (refund_amount > 0),
    refund_details            text,
    transaction_at            timestamptz,       -- when the transaction settled, if we were told
    requesting_participant    text NOT NULL,
    contested_participant     text,              -- the DICT names it (from the SPI) on create
    infraction_report_id      text,              -- the DICT's id of the AGREED report it follows
    analysis_result           text CHECK (analysis_result IN
                                  ('TOTALLY_ACCEPTED', 'PARTIALLY_ACCEPTED', 'REJECTED')),
    analysis_details          text,
    rejection_reason          text,
    refund_transaction_id     text,              -- the pacs.004 RtrId that returned the funds
    refunded_amount           numeric(15, 2),    -- what our close said went back (ours)
    dict_created_at           timestamptz,       -- the DICT's CreationTime
    dict_last_modified        timestamptz,       -- the DICT's LastModified as last seen
    due_at                    timestamptz,       -- contested: when our analysis is due
    request_id                uuid NOT NULL,
    pending                   jsonb,             -- the call in flight: {"from", ...its arguments}
    problem_type              text,              -- the DICT's last refusal, by its DICT name
    problem_detail            text,
    version                   integer NOT NULL DEFAULT 0,
    inserted_at               timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    CONSTRAINT refunds_dict_id_role UNIQUE (dict_id, role),
    CONSTRAINT refunds_dict_id_after_submit
        CHECK (dict_id IS NOT NULL OR status IN ('submitting', 'rejected')),
    CONSTRAINT refunds_contested_has_due_at CHECK (role <> 'CONTESTED' OR due_at IS NOT NULL),
    CONSTRAINT refunds_in_flight_has_pending
        CHECK (status NOT IN ('closing', 'cancelling') OR pending IS NOT NULL),
    CONSTRAINT refunds_closed_has_its_analysis
        CHECK (status <> 'closed' OR analysis_result IS NOT NULL),
    CONSTRAINT refunds_rejected_says_why
        CHECK (status <> 'rejected' OR problem_type IS NOT NULL)
);
-- One request of ours in progress per transaction, as the DICT allows
-- (RefundAlreadyBeingProcessedForTransaction).
CREATE UNIQUE INDEX refunds_one_open_per_transaction ON refunds (transaction_id)
    WHERE role = 'REQUESTING' AND status IN ('submitting', 'open', 'cancelling');
CREATE INDEX refunds_listing ON refunds (inserted_at, id);
CREATE INDEX refunds_role_status ON refunds (role, status);
CREATE INDEX refunds_due ON refunds (due_at) WHERE status IN ('open', 'closing');

CREATE TRIGGER refunds_enforce_transition
    BEFORE INSERT OR UPDATE OF status ON refunds
    FOR EACH ROW EXECUTE FUNCTION enforce_transition('refund');
CREATE TRIGGER refunds_record_transition
    AFTER INSERT OR UPDATE OF status ON refunds
    FOR EACH ROW EXECUTE FUNCTION record_transition('refund');

COMMENT ON COLUMN refunds.status IS $$A refund request as requester (the payer's PSP) or
contested (the payee's PSP) (statemachines/refund.py): the DICT's statuses in lowercase
plus our calls in flight. Who moves it out:
submitting: requesting: CreateRefund to send (create_refund -> open | rejected)
rejected:   requesting: the DICT refused the request (terminal)
open:       OPEN (contested: our analysis, close -> closing, warned and due by the deadline
            timers; requesting: cancel -> cancelling, or the other side closes it)
closing:    contested: CloseRefund sent, the analysis in pending (-> closed | open)
cancelling: requesting: CancelRefund sent (-> cancelled | open)
closed:     CLOSED with its analysis (terminal)
cancelled:  CANCELLED (terminal)
What the other side does arrives through the refund poll and moves the same machine,
never backwards (statemachines.refund.CATCH_UP).$$;
COMMENT ON COLUMN refunds.due_at IS
    'contested: the DICT''s CreationTime + REFUND_ANALYSIS_HOURS (our policy: the DICT says "imediatamente")';
COMMENT ON COLUMN refunds.refunded_amount IS
    'ours: what a close said went back; the DICT learns it from the SPI, not from the close';
