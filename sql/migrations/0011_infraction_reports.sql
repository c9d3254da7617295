-- Infraction reports of the special return mechanism (MED), as reporter and as
-- counterparty (DICT.md §5; statemachines/infraction_report.py).
--
-- The DICT's report has no RequestId: request_id is ours (the simulator takes it; a real
-- bridge does not send it), and a lost CreateInfractionReport answer is recovered by
-- listing our reports as reporter (actors/infractions.py). Counterparty reports arrive
-- through the infraction poll (poll_infractions), which acknowledges them at once; their
-- analysis is due 7 days after the DICT created them (due_at, the deadline timers).

CREATE TABLE infraction_reports (
    id                       uuid PRIMARY KEY,
    dict_id                  text,              -- the DICT's report id (NULL while submitting)
    role                     text NOT NULL CHECK (role IN ('REPORTER', 'COUNTERPARTY')),
    status                   text NOT NULL,
    dict_status              text,              -- the DICT's status as last seen
    transaction_id           text NOT NULL,     -- EndToEndId (RtrId for REFUND_CANCELLED)
    reason                   text NOT NULL CHECK (reason IN ('REFUND_REQUEST', 'REFUND_CANCELLED')),
    situation_type           text NOT NULL,
    report_details           text,
    contact_email            text NOT NULL,
    contact_phone            text NOT NULL,
    transaction_at           timestamptz,       -- when the transaction settled, if we were told
    reporter_participant     text NOT NULL,
    counterparty_participant text NOT NULL,
    analysis_result          text CHECK (analysis_result IN ('AGREED', 'DISAGREED')),
    analysis_details         text,
    fraud_type               text,              -- given on close (the DICT's report has none)
    fraud_marker_id          text,              -- the marker an AGREED close created
    dict_created_at          timestamptz,       -- the DICT's CreationTime
    dict_last_modified       timestamptz,       -- the DICT's LastModified as last seen
    due_at                   timestamptz,       -- counterparty: the analysis deadline (7 days)
    request_id               uuid NOT NULL,
    pending                  jsonb,             -- the call in flight: {"from", ...its arguments}
    problem_type             text,              -- the DICT's last refusal, by its DICT name
    problem_detail           text,
    version                  integer NOT NULL DEFAULT 0,
    inserted_at              timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    CONSTRAINT infraction_reports_dict_id_role UNIQUE (dict_id, role),
    CONSTRAINT infraction_reports_dict_id_after_submit
        CHECK (dict_id IS NOT NULL OR status IN ('submitting', 'rejected')),
    CONSTRAINT infraction_reports_counterparty_has_due_at
        CHECK (role <> 'COUNTERPARTY' OR due_at IS NOT NULL),
    CONSTRAINT infraction_reports_in_flight_has_pending
        CHECK (status NOT IN ('acknowledging', 'closing', 'cancelling') OR pending IS NOT NULL),
    CONSTRAINT infraction_reports_closed_has_its_analysis
        CHECK (status <> 'closed' OR analysis_result IS NOT NULL),
    CONSTRAINT infraction_reports_marker_only_when_agreed
        CHECK (fraud_marker_id IS NULL OR analysis_result = 'AGREED'),
    CONSTRAINT infraction_reports_rejected_says_why
        CHECK (status <> 'rejected' OR problem_type IS NOT NULL)
);
-- One live report of ours per transaction and reason, as the DICT allows.
CREATE UNIQUE INDEX infraction_reports_one_live_per_transaction
    ON infraction_reports (transaction_id, reason)
    WHERE role = 'REPORTER' AND status NOT IN ('rejected', 'cancelled');
CREATE INDEX infraction_reports_listing ON infraction_reports (inserted_at, id);
CREATE INDEX infraction_reports_role_status ON infraction_reports (role, status);

CREATE TRIGGER infraction_reports_enforce_transition
    BEFORE INSERT OR UPDATE OF status ON infraction_reports
    FOR EACH ROW EXECUTE FUNCTION enforce_transition('infraction_report');
CREATE TRIGGER infraction_reports_record_transition
    AFTER INSERT OR UPDATE OF status ON infraction_reports
    FOR EACH ROW EXECUTE FUNCTION record_transition('infraction_report');

COMMENT ON COLUMN infraction_reports.status IS $$An infraction report as reporter or
counterparty (statemachines/infraction_report.py): the DICT's statuses in lowercase plus
our calls in flight. Who moves it out:
submitting:    reporter: CreateInfractionReport to send (create_infraction_report -> open | rejected)
rejected:      reporter: the DICT refused the creation (terminal)
open:          OPEN (counterparty: acknowledged at once by the poll -> acknowledging;
               reporter: cancel -> cancelling)
acknowledging: counterparty: AcknowledgeInfractionReport sent (-> acknowledged | open)
acknowledged:  ACKNOWLEDGED (counterparty: close -> closing, day-5 and day-7 timers;
               reporter: cancel -> cancelling)
closing:       counterparty: CloseInfractionReport sent, the analysis in pending (-> closed | acknowledged)
closed:        CLOSED (reporter: cancel -> cancelling; the creator may cancel after close)
cancelling:    reporter: CancelInfractionReport sent (-> cancelled | back)
cancelled:     CANCELLED (terminal)
What the other side does arrives through the infraction poll and moves the same machine,
never backwards (statemachines.infraction_report.CATCH_UP).$$;
COMMENT ON COLUMN infraction_reports.due_at IS
    'counterparty: the DICT''s CreationTime + 7 days (app.domain.infractions.deadline)';
COMMENT ON COLUMN infraction_reports.request_id IS
    'ours: the DICT''s CreateInfractionReportRequest has no RequestId (see the bridge contract)';
