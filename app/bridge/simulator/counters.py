"""Calls seen per method, and per RequestId, for GetCallCounts.

Tests of retries and crashes need to tell "the DICT saw this request three
times" from "the DICT created the key three times": every call is counted when
it reaches the simulator (even one a fault then refuses), and a creation is
counted only when it actually happened.
"""

from __future__ import annotations

from collections import Counter

# The creating calls whose RequestId is remembered.
WITH_REQUEST_ID = frozenset(
    {"CreateEntry", "CompleteClaim", "CreateFraudMarker", "CreateInfractionReport"}
)


class CallCounters:
    def __init__(self) -> None:
        self.by_method: Counter[str] = Counter()
        self.by_request: dict[str, Counter[str]] = {}
        self.created: Counter[str] = Counter()
        self.total = 0

    def seen(self, method: str, request: object) -> None:
        self.by_method[method] += 1
        self.total += 1
        if method in WITH_REQUEST_ID:
            request_id = getattr(request, "request_id", "")
            if request_id:
                calls = self.by_request.get(request_id.lower())
                if calls is None:
                    calls = self.by_request[request_id.lower()] = Counter()
                calls[method] += 1

    def entry_created(self, request_id: str) -> None:
        self.created[request_id.lower()] += 1

    def for_request(self, request_id: str) -> tuple[dict[str, int], int, int]:
        """(calls per method, entries created, total calls) for one RequestId, or the
        totals when it is empty."""
        if not request_id:
            return dict(self.by_method), sum(self.created.values()), self.total
        calls = self.by_request.get(request_id.lower(), Counter())
        return dict(calls), self.created.get(request_id.lower(), 0), sum(calls.values())
