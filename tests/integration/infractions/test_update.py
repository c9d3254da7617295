"""The reporter's update (situation, contact, details while OPEN or ACKNOWLEDGED): a call
in flight like the others, through the machine and through PUT."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from app import db
from app.api import auth
from app.api.app import create_app
from app.security import create_api_key
from tests.integration.claims.conftest import World
from tests.integration.infractions.conftest import (
    dict_report,
    history,
    ours_for,
    paid,
    poll,
    request,
    row,
    submit,
    they,
    they_report,
)

NEW = {
    "situation_type": "OTHER",
    "contact_email": "novo@banco.example",
    "contact_phone": "+5521911112222",
    "report_details": "o cliente lembrou de um boleto falso",
}


def _opened(world: World, n: int) -> tuple[str, str]:
    paid(world, n)
    report_id = submit(n)
    world.run_due()
    dict_id = row(report_id).dict_id
    assert dict_id
    return report_id, dict_id


def test_our_open_report_is_updated_in_the_dict(world: World) -> None:
    report_id, dict_id = _opened(world, 60)
    request(report_id, "update", **NEW)
    assert row(report_id).status == "updating"
    world.run_due()
    ours = row(report_id)
    assert (ours.status, ours.situation_type, ours.contact_email) == (
        "open",
        "OTHER",
        "novo@banco.example",
    )
    the_dict = dict_report(world, dict_id)
    assert (the_dict.situation_type, the_dict.report_details) == ("OTHER", NEW["report_details"])
    assert the_dict.contact_information.phone == NEW["contact_phone"]
    assert history(report_id)[-2:] == ["updating", "open"]
    assert [e["situation_type"] for e in world.events("infractions.updated")] == ["OTHER"]


def test_an_update_while_they_close_ends_closed(world: World) -> None:
    """The counterparty closed it as our update left: the DICT refuses the update (only
    OPEN or ACKNOWLEDGED), the report goes back and on to closed."""
    report_id, dict_id = _opened(world, 61)
    they(world, "acknowledge", dict_id)
    world.pass_time(6)
    poll()
    assert row(report_id).status == "acknowledged"
    request(report_id, "update", **NEW)
    they(world, "close", dict_id, analysis_result="DISAGREED", analysis_details="legítima")
    world.run_due()
    ours = row(report_id)
    assert (ours.status, ours.situation_type) == ("closed", "SCAM")
    assert history(report_id)[-3:] == ["updating", "acknowledged", "closed"]


@pytest.fixture
def api(world: World, database_url: str) -> Iterator[TestClient[Any]]:
    auth.cache.clear()
    with db.connect(database_url, autocommit=True) as conn:
        key = create_api_key(
            conn, f"k-{uuid.uuid4().hex[:8]}", ["infractions:read", "infractions:write"]
        )
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    auth.cache.clear()


def test_put_checks_the_report_as_it_would_become(api: TestClient[Any], world: World) -> None:
    report_id, _ = _opened(world, 62)
    location = f"/v1/infraction-reports/{report_id}"
    empty = api.put(location, json={})
    assert empty.status_code == 422 and empty.json()["errors"][0]["rule"] == "nothing_to_update"
    bad = api.put(
        location,
        json={"situation_type": "OTHER", "contact_information": {"email": "x", "phone": "1"}},
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "report_details",
        "contact_information.email",
        "contact_information.phone",
    }
    ok = api.put(location, json={"situation_type": "COERCION"})
    assert ok.status_code == 202 and ok.json()["status"] == "updating"
    assert api.put(location, json={"situation_type": "SCAM"}).status_code == 409  # in flight
    world.run_due()
    got = api.get(location).json()
    assert (got["status"], got["situation_type"]) == ("open", "COERCION")


def test_only_the_reporter_updates(api: TestClient[Any], world: World) -> None:
    dict_id = they_report(world, 63).id
    poll()
    r = api.put(f"/v1/infraction-reports/{ours_for(dict_id).id}", json={"situation_type": "SCAM"})
    assert r.status_code == 409
