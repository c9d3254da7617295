"""The OpenAPI document, built without a database (no request reaches one)."""

from __future__ import annotations

from litestar import post
from litestar.params import JSONBody
from litestar.testing import TestClient

from app.api.app import create_app
from app.api.auth import requires


@post("/things", operation_id="createThing", guards=[requires("things:write")])
async def create_thing(data: JSONBody[dict[str, str]]) -> dict[str, str]:
    return data


def test_every_route_has_an_operation_id_and_errors_are_problems() -> None:
    with TestClient(create_app(extra_route_handlers=[create_thing], resources=False)) as c:
        doc = c.get("/schema/openapi.json").json()

    operations = [op for item in doc["paths"].values() for op in item.values()]
    assert all(op.get("operationId") for op in operations)
    thing = doc["paths"]["/things"]["post"]
    assert thing["security"] == [{"BearerAuth": []}]
    problem = {"$ref": "#/components/schemas/Problem"}
    for status in ("400", "401", "403", "409", "422"):
        assert thing["responses"][status]["content"]["application/problem+json"]["schema"] == (
            problem
        )
    assert set(doc["components"]["schemas"]["Problem"]["properties"]) >= {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "errors",
    }
