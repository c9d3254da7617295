"""Every DictBridge RPC: the operation that answers it and the bucket it draws on
(DICT.md §4 "Other policies"). ``None``: the operation charges buckets itself
(GetEntry's anti-scan costs depend on the outcome) or no DICT policy applies
(a CID file download is an HTTPS transfer, not an API call)."""

from __future__ import annotations

from simulator import buckets, claims, entries, infractions, markers, refunds, sync
from simulator.boundary import Route

ROUTES: dict[str, Route] = {
    "CreateEntry": Route(entries.create, "ENTRIES_WRITE"),
    "GetEntry": Route(entries.get),
    "UpdateEntry": Route(entries.update, "ENTRIES_UPDATE"),
    "DeleteEntry": Route(entries.delete, "ENTRIES_WRITE"),
    "CheckKeys": Route(entries.check_keys, "KEYS_CHECK"),
    "CreateClaim": Route(claims.create, "CLAIMS_WRITE"),
    "GetClaim": Route(claims.get, "CLAIMS_READ"),
    "ListClaims": Route(claims.list_claims, claims.list_policy),
    "AcknowledgeClaim": Route(claims.acknowledge, "CLAIMS_WRITE"),
    "ConfirmClaim": Route(claims.confirm, "CLAIMS_WRITE"),
    "CancelClaim": Route(claims.cancel, "CLAIMS_WRITE"),
    "CompleteClaim": Route(claims.complete, "CLAIMS_WRITE"),
    "CreateSyncVerification": Route(sync.create_sync_verification, "SYNC_VERIFICATIONS_WRITE"),
    "CreateCidSetFile": Route(sync.create_cid_set_file, "CIDS_FILES_WRITE"),
    "GetCidSetFile": Route(sync.get_cid_set_file, "CIDS_FILES_READ"),
    "DownloadCidSetFile": Route(sync.download_cid_set_file),
    "ListCidSetEvents": Route(sync.list_cid_set_events, "CIDS_EVENTS_LIST"),
    "GetEntryByCid": Route(sync.get_entry_by_cid, "CIDS_ENTRIES_READ"),
    "CreateInfractionReport": Route(infractions.create_report, "INFRACTION_REPORTS_WRITE"),
    "GetInfractionReport": Route(infractions.get_report, "INFRACTION_REPORTS_READ"),
    "ListInfractionReports": Route(infractions.list_reports, infractions.list_policy),
    "AcknowledgeInfractionReport": Route(
        infractions.acknowledge_report, "INFRACTION_REPORTS_WRITE"
    ),
    "CloseInfractionReport": Route(infractions.close_report, "INFRACTION_REPORTS_WRITE"),
    "CancelInfractionReport": Route(infractions.cancel_report, "INFRACTION_REPORTS_WRITE"),
    "UpdateInfractionReport": Route(infractions.update_report, "INFRACTION_REPORTS_WRITE"),
    "CreateFraudMarker": Route(markers.create_marker, "FRAUD_MARKERS_WRITE"),
    "GetFraudMarker": Route(markers.get_marker, "FRAUD_MARKERS_READ"),
    "CancelFraudMarker": Route(markers.cancel_marker, "FRAUD_MARKERS_WRITE"),
    "CreateRefund": Route(refunds.create_refund, "REFUNDS_WRITE"),
    "GetRefund": Route(refunds.get_refund, "REFUNDS_READ"),
    "ListRefunds": Route(refunds.list_refunds, refunds.list_policy),
    "CloseRefund": Route(refunds.close_refund, "REFUNDS_WRITE"),
    "CancelRefund": Route(refunds.cancel_refund, "REFUNDS_WRITE"),
    "ListBucketStates": Route(buckets.list_bucket_states, "POLICIES_LIST"),
    "GetBucketState": Route(buckets.get_bucket_state, "POLICIES_READ"),
}
