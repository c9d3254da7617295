-- Fraud markers (DICT.md §5, v2; statemachines/fraud_marker.py), both kinds:
--
-- OURS: registered by us for one of our own customers (POST /v1/fraud-markers). The
-- DICT's CreateFraudMarkerRequest carries a RequestId, so a repeat after a lost answer
-- returns the same marker (create_fraud_marker sends request_id every time).
-- INFRACTION_REPORT: created by the DICT when we, the counterparty, closed an
-- infraction report AGREED (the report row's fraud_marker_id). It is recorded already
-- registered by record_fraud_marker, which reads it from the DICT (GetFraudMarker:
-- the report does not say whom it marks), and it is cancelled with its report (the
-- DICT cancels both when the reporter cancels the report).

CREATE TABLE fraud_markers (
    id                   uuid PRIMARY KEY,
    dict_id              text,              -- the DICT's marker id (NULL while submitting)
    status               text NOT NULL,
    origin               text NOT NULL CHECK (origin IN ('OURS', 'INFRACTION_REPORT')),
    tax_id_number        text,              -- the marked customer's CPF or CNPJ
    key                  text,              -- the marked key, if the marker names one
    fraud_type           text NOT NULL CHECK (fraud_type IN
                             ('APPLICATION_FRAUD', 'MULE_ACCOUNT', 'SCAMMER_ACCOUNT', 'OTHER')),
    infraction_report_id uuid REFERENCES infraction_reports (id),
    request_id           uuid,              -- ours: CreateFraudMarker's RequestId
    pending              jsonb,             -- the call in flight: {"from", ...}
    problem_type         text,              -- the DICT's last refusal, by its DICT name
    problem_detail       text,
    dict_created_at      timestamptz,       -- the DICT's CreationTime
    dict_last_modified   timestamptz,       -- the DICT's LastModified as last seen
    version              integer NOT NULL DEFAULT 0,
    inserted_at          timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CONSTRAINT fraud_markers_dict_id UNIQUE (dict_id),
    CONSTRAINT fraud_markers_request_id UNIQUE (request_id),
    CONSTRAINT fraud_markers_one_per_report UNIQUE (infraction_report_id),
    CONSTRAINT fraud_markers_dict_id_after_submit
        CHECK (dict_id IS NOT NULL OR status IN ('submitting', 'rejected')),
    CONSTRAINT fraud_markers_ours_are_requested
        CHECK (origin <> 'OURS' OR (request_id IS NOT NULL AND tax_id_number IS NOT NULL)),
    CONSTRAINT fraud_markers_report_origin_names_its_report
        CHECK ((origin = 'INFRACTION_REPORT') = (infraction_report_id IS NOT NULL)),
    CONSTRAINT fraud_markers_in_flight_has_pending
        CHECK (status <> 'cancelling' OR pending IS NOT NULL),
    CONSTRAINT fraud_markers_rejected_says_why
        CHECK (status <> 'rejected' OR problem_type IS NOT NULL)
);
CREATE INDEX fraud_markers_listing ON fraud_markers (inserted_at, id);
CREATE INDEX fraud_markers_tax_id ON fraud_markers (tax_id_number, inserted_at, id);
CREATE INDEX fraud_markers_status ON fraud_markers (status);

CREATE TRIGGER fraud_markers_enforce_transition
    BEFORE INSERT OR UPDATE OF status ON fraud_markers
    FOR EACH ROW EXECUTE FUNCTION enforce_transition('fraud_marker');
CREATE TRIGGER fraud_markers_record_transition
    AFTER INSERT OR UPDATE OF status ON fraud_markers
    FOR EACH ROW EXECUTE FUNCTION record_transition('fraud_marker');

COMMENT ON COLUMN fraud_markers.status IS $$A fraud marker (statemachines/fraud_marker.py):
the DICT's statuses in lowercase plus our calls in flight. Who moves it out:
submitting: OURS: CreateFraudMarker to send, with our RequestId
            (create_fraud_marker -> registered | rejected)
rejected:   OURS: the DICT refused the creation (terminal)
registered: REGISTERED (cancel through the API -> cancelling; INFRACTION_REPORT: inserted
            here by record_fraud_marker, and cancelled with its report by
            report_marker_cancelled -> cancelled)
cancelling: CancelFraudMarker sent (cancel_fraud_marker -> cancelled | back to registered,
            then GetFraudMarker and what the DICT holds)
cancelled:  CANCELLED (terminal)$$;
COMMENT ON COLUMN fraud_markers.origin IS
    'OURS: registered by us for our customer; INFRACTION_REPORT: created by our AGREED close of a report';
COMMENT ON COLUMN fraud_markers.tax_id_number IS
    'NULL only for an INFRACTION_REPORT marker the DICT tied to no one';
COMMENT ON COLUMN fraud_markers.request_id IS
    'OURS: the RequestId of CreateFraudMarker (idempotent in the DICT); NULL for INFRACTION_REPORT';
COMMENT ON COLUMN fraud_markers.infraction_report_id IS
    'INFRACTION_REPORT: our infraction report (infraction_reports.id) whose close created it';
