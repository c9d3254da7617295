"""The connector's claim rules against the spec's own tables (DICT.md §2).

``tests/conformance/spec_tables`` states, from the spec text alone, who may call what on a
claim, from which status, with which reason and when. The simulator is checked against
those rows over gRPC (``tests/conformance``); here the same rows check the connector's
rule functions (``app.domain.claims``, ``app.domain.keys.claimable``), so that a rule the
connector got wrong is caught even where the simulator got it right.

The functions say allowed or not, never which problem type, so a row reads here as
"accepted" or "refused". Where the connector disagrees with the spec the row is an
``xfail(strict=True)`` naming what is wrong: fixing the connector turns it into an
unexpected pass, and the mark must then go.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.claims import (
    ClaimPeriods,
    allowed_cancel_reasons,
    allowed_confirm_reasons,
    completion_allowed,
    may_call,
)
from app.domain.keys import claimable
from tests.conformance.spec_tables import (
    ACCEPTED,
    CLAIM_CALLS,
    CLAIMABLE,
    Claimable,
    ClaimCall,
)

CREATED = datetime(2020, 1, 10, 10, tzinfo=UTC)  # the spec's CreateClaimResponse example

# Rows where app.domain.claims disagrees with the spec: id -> what is wrong. None today.
# (Until commit 4b7735e the donor could not cancel an OPEN claim: the four rows "donor
# cancels OPEN ... : accepted" were marked here.)
CONNECTOR_DISAGREES: dict[str, str] = {}


def _params(cases: list[ClaimCall]) -> list[object]:
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=CONNECTOR_DISAGREES[c.id])]
            if c.id in CONNECTOR_DISAGREES
            else [],
        )
        for c in cases
    ]


def connector_accepts(case: ClaimCall) -> bool:
    """Whether the connector's rules let ``case.role`` make the call: its status may move
    that way, and the reason (or, for complete, the instant) is allowed then. The claim
    is in the state the spec tables' setup leaves it (``spec_tables.AT``, a DEFAULT
    confirm for a CONFIRMED ownership, which keeps CompletionPeriodEnd)."""
    now = CREATED + timedelta(seconds=case.at)
    periods = ClaimPeriods.of(case.claim_type, CREATED)
    if not may_call(case.role, case.operation, case.status):
        return False
    if case.operation == "cancel":
        allowed = allowed_cancel_reasons(case.claim_type, case.role, case.status, now, periods)
        return case.reason in allowed
    if case.operation == "confirm":
        allowed = allowed_confirm_reasons(case.claim_type, now, periods.resolution_end)
        return case.reason in allowed
    if case.operation == "complete":
        return completion_allowed(case.claim_type, now, periods)
    return True  # acknowledge: the status alone decides


@pytest.mark.parametrize("case", _params(CLAIM_CALLS))
def test_the_connector_allows_a_claim_call_as_the_spec_does(case: ClaimCall) -> None:
    assert connector_accepts(case) == (case.expected == ACCEPTED)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CLAIMABLE])
def test_the_connector_claims_the_key_types_the_spec_allows(case: Claimable) -> None:
    assert claimable(case.key_type, case.claim_type) == (case.expected == ACCEPTED)
