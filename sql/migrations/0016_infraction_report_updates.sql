-- The reporter's update of a report (updateInfractionReport: SituationType,
-- ContactInformation, ReportDetails while OPEN or ACKNOWLEDGED) is a call in flight like
-- the others: status 'updating', its new values in pending (statemachines/infraction_report.py).

ALTER TABLE infraction_reports DROP CONSTRAINT infraction_reports_in_flight_has_pending;
ALTER TABLE infraction_reports ADD CONSTRAINT infraction_reports_in_flight_has_pending
    CHECK (status NOT IN ('acknowledging', 'closing', 'cancelling', 'updating')
           OR pending IS NOT NULL);

COMMENT ON COLUMN infraction_reports.status IS $$An infraction report as reporter or
counterparty (statemachines/infraction_report.py): the DICT's statuses in lowercase plus
our calls in flight. Who moves it out:
submitting:    reporter: CreateInfractionReport to send (create_infraction_report -> open | rejected)
rejected:      reporter: the DICT refused the creation (terminal)
open:          OPEN (counterparty: acknowledged at once by the poll -> acknowledging;
               reporter: cancel -> cancelling, update -> updating)
acknowledging: counterparty: AcknowledgeInfractionReport sent (-> acknowledged | open)
acknowledged:  ACKNOWLEDGED (counterparty: close -> closing, day-5 and day-7 timers;
               reporter: cancel -> cancelling, update -> updating)
closing:       counterparty: CloseInfractionReport sent, the analysis in pending (-> closed | acknowledged)
closed:        CLOSED (reporter: cancel -> cancelling; the creator may cancel after close)
cancelling:    reporter: CancelInfractionReport sent (-> cancelled | back)
updating:      reporter: UpdateInfractionReport sent, the new values in pending (-> back)
cancelled:     CANCELLED (terminal)
What the other side does arrives through the infraction poll and moves the same machine,
never backwards (statemachines.infraction_report.CATCH_UP).$$;
COMMENT ON COLUMN infraction_reports.counterparty_participant IS
    'the other PSP: what we named on create until the DICT says (it takes it from the SPI)';
