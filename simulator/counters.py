"""Calls seen per method, and per RequestId, for GetCallCounts.

Tests of retries and crashes need to tell "the DICT saw this request three
times" from "the DICT created the key three times": every call is counted when
it reaches the simulator (even one a fault then refuses), and a creation is
counted only when it actually happened.
"""

from __future__ import annotations

# The creating calls whose RequestId is remembered.
WITH_REQUEST_ID = frozenset(
    {"CreateEntry", "CompleteClaim", "CreateFraudMarker", "CreateInfractionReport"}
)


class CallCounters:
    """Plain dicts keyed by strings: per-RequestId counts stay out of the cyclic GC's
    way (a Counter per RequestId would be one more tracked object per create)."""

    def __init__(self) -> None:
        self.by_method: dict[str, int] = {}
        self.by_request: dict[str, int] = {}  # "Method request-id" -> calls
        self.created: dict[str, int] = {}
        self.refused: dict[str, int] = {}  # DICT error type -> answers refused with it
        self.total = 0

    def seen(self, method: str, request: object) -> None:
        self.by_method[method] = self.by_method.get(method, 0) + 1
        self.total += 1
        if method in WITH_REQUEST_ID:
            request_id = getattr(request, "request_id", "")
            if request_id:
                k = f"{method} {request_id.lower()}"
                self.by_request[k] = self.by_request.get(k, 0) + 1

    def refusal(self, error_type: str) -> None:
        self.refused[error_type] = self.refused.get(error_type, 0) + 1

    def entry_created(self, request_id: str) -> None:
        k = request_id.lower()
        self.created[k] = self.created.get(k, 0) + 1

    def for_request(self, request_id: str) -> tuple[dict[str, int], int, int]:
        """(calls per method, entries created, total calls) for one RequestId, or the
        totals when it is empty."""
        if not request_id:
            return dict(self.by_method), sum(self.created.values()), self.total
        rid = request_id.lower()
        calls = {m: n for m in WITH_REQUEST_ID if (n := self.by_request.get(f"{m} {rid}", 0))}
        return calls, self.created.get(rid, 0), sum(calls.values())
