-- The MED gauges (app/outbox.py BacklogCollector, app/repo/med.py): infraction reports
-- and refund requests, read at every scrape in one statement.

-- name: gauges
-- One row per kind and role, zeros included: the items not finished (report_live,
-- refund_live: every status but rejected, closed and cancelled, from the machines); of
-- those ours to analyse (COUNTERPARTY reports, CONTESTED refunds: not finished means not
-- closed) the ones due within the warning window, past due, and the nearest due_at; the
-- DICT's refusals (our creations rejected within the last hour, and items whose last
-- call was refused and not redone); when the role's poll last went through the
-- DICT's list (poll_cursors), and the items it could not apply (poll_failures).
-- "Not finished": a closed report counts as finished although its reporter may still
-- cancel it (the machine's only terminal statuses are rejected and cancelled).
-- Index use: (role, status) of each table for the items not finished, the partial
-- indexes *_refused (migration 0014) for the refusals, poll_cursors' key.
WITH live AS (
    SELECT 'infraction_report' AS kind, role, due_at, role = 'COUNTERPARTY' AS ours,
           %(report_warning)s::interval AS warning
    FROM infraction_reports
    WHERE role IN ('REPORTER', 'COUNTERPARTY') AND status = ANY(%(report_live)s::text[])
    UNION ALL
    SELECT 'refund', role, due_at, role = 'CONTESTED', %(refund_warning)s::interval
    FROM refunds
    WHERE role IN ('REQUESTING', 'CONTESTED') AND status = ANY(%(refund_live)s::text[])
), live_by_role AS (
    SELECT kind, role, count(*) AS open,
           count(*) FILTER (WHERE ours AND due_at > %(now)s
                                  AND due_at <= %(now)s::timestamptz + warning) AS due_soon,
           count(*) FILTER (WHERE ours AND due_at <= %(now)s) AS overdue,
           min(due_at) FILTER (WHERE ours) AS nearest_due
    FROM live GROUP BY kind, role
), refused AS (
    SELECT 'infraction_report' AS kind, role FROM infraction_reports
    WHERE problem_type IS NOT NULL
      AND (status <> 'rejected' OR updated_at > %(now)s::timestamptz - interval '1 hour')
    UNION ALL
    SELECT 'refund', role FROM refunds
    WHERE problem_type IS NOT NULL
      AND (status <> 'rejected' OR updated_at > %(now)s::timestamptz - interval '1 hour')
), refused_by_role AS (
    SELECT kind, role, count(*) AS rejected FROM refused GROUP BY kind, role
)
SELECT w.kind, w.role, w.cursor,
       coalesce(l.open, 0) AS open,
       coalesce(l.due_soon, 0) AS due_soon,
       coalesce(l.overdue, 0) AS overdue,
       l.nearest_due,
       coalesce(r.rejected, 0) AS rejected,
       p.polled_at,
       coalesce(f.failures, 0) AS poll_failures
FROM (VALUES ('infraction_report', 'REPORTER', 'infraction_reports.reporter'),
             ('infraction_report', 'COUNTERPARTY', 'infraction_reports.counterparty'),
             ('refund', 'REQUESTING', 'refunds.requesting'),
             ('refund', 'CONTESTED', 'refunds.contested')) AS w (kind, role, cursor)
LEFT JOIN live_by_role l ON l.kind = w.kind AND l.role = w.role
LEFT JOIN refused_by_role r ON r.kind = w.kind AND r.role = w.role
LEFT JOIN poll_cursors p ON p.name = w.cursor
LEFT JOIN (SELECT poller, count(*) AS failures FROM poll_failures GROUP BY poller) f
       ON f.poller = w.cursor
ORDER BY w.kind, w.role;
