"""Listing claims: ascending LastModified, role/status/type/time filters, pages, lag."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from app.bridge import dict_bridge_pb2 as pb
from app.bridge.client import DictClient
from app.domain import problems
from simulator.admin_client import AdminClient
from tests.integration.bridge.builders import OTHER
from tests.integration.bridge.claim_steps import ack, open_claim


def listing(client: DictClient, **filters: object) -> pb.ListClaimsResponse:
    return client.list_claims(pb.ListClaimsRequest(participant=client.participant, **filters))


def three_claims(ours: DictClient, theirs: DictClient, admin: AdminClient) -> list[pb.Claim]:
    claims = []
    for n, claim_type in ((1, "OWNERSHIP"), (2, "PORTABILITY"), (3, "OWNERSHIP")):
        claims.append(open_claim(ours, theirs, claim_type, n=n))
        admin.advance_clock(60)
    return claims


def test_claims_are_listed_ascending_by_last_modified_for_both_roles(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claims = three_claims(ours, theirs, admin)
    ack(ours, claims[0])  # now the most recently modified
    ids = [c.id for c in listing(ours).claims]
    assert ids == [claims[1].id, claims[2].id, claims[0].id]
    assert [c.id for c in listing(theirs).claims] == ids
    stamps = [c.last_modified.ToNanoseconds() for c in listing(ours).claims]
    assert stamps == sorted(stamps)


def test_role_filters_are_or_ed(ours: DictClient, theirs: DictClient, admin: AdminClient) -> None:
    three_claims(ours, theirs, admin)
    assert len(listing(ours, is_donor=True).claims) == 3
    assert len(listing(ours, is_claimer=True).claims) == 0
    assert len(listing(ours, is_donor=True, is_claimer=True).claims) == 3
    assert len(listing(theirs, is_donor=True).claims) == 0


def test_status_and_type_filters(ours: DictClient, theirs: DictClient, admin: AdminClient) -> None:
    claims = three_claims(ours, theirs, admin)
    ack(ours, claims[2])
    assert [c.id for c in listing(ours, status=["WAITING_RESOLUTION"]).claims] == [claims[2].id]
    assert len(listing(ours, status=["OPEN", "WAITING_RESOLUTION"]).claims) == 3
    assert [c.id for c in listing(ours, type="PORTABILITY").claims] == [claims[1].id]


def test_modified_after_and_before_are_inclusive(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claims = three_claims(ours, theirs, admin)
    middle = claims[1].last_modified
    assert [c.id for c in listing(ours, modified_after=middle).claims] == [
        claims[1].id,
        claims[2].id,
    ]
    assert [c.id for c in listing(ours, modified_before=middle).claims] == [
        claims[0].id,
        claims[1].id,
    ]


def test_pages_say_when_more_remain(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    claims = three_claims(ours, theirs, admin)
    page = listing(ours, limit=2)
    assert [c.id for c in page.claims] == [claims[0].id, claims[1].id] and page.has_more_elements
    rest = listing(ours, limit=2, modified_after=page.claims[-1].last_modified)
    assert [c.id for c in rest.claims] == [claims[1].id, claims[2].id]
    assert not rest.has_more_elements


def test_the_list_lags_recent_writes(
    ours: DictClient, theirs: DictClient, admin: AdminClient
) -> None:
    admin.set_config(list_lag_seconds=5)
    open_claim(ours, theirs)
    assert listing(ours).claims == []
    admin.advance_clock(5)
    assert len(listing(ours).claims) == 1


def test_a_participant_lists_only_as_itself(ours: DictClient) -> None:
    with pytest.raises(problems.Forbidden):
        ours.list_claims(pb.ListClaimsRequest(participant=OTHER))


def test_limit_defaults_to_20_and_is_refused_above_200(
    ours: DictClient, theirs: DictClient
) -> None:
    """The schema's Limit: "default": 20, "maximum": 200 (refused above, not cut down)."""
    for n in range(22):
        open_claim(ours, theirs, "PORTABILITY", n=n + 1)
    assert len(listing(ours).claims) == 20
    assert len(listing(ours, limit=200).claims) == 22
    assert not listing(ours, limit=200).has_more_elements
    with pytest.raises(problems.BadRequest) as refused:
        listing(ours, limit=201)
    assert refused.value.violations == [("limit", "max")]
    assert listing(ours, modified_after=Timestamp(seconds=4_000_000_000)).claims == []
