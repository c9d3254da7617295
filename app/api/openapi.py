"""The OpenAPI document: bearer scheme, and errors documented as they really are.

Litestar documents a ``400`` in its own error shape for every route with inputs,
while this API answers problem+json (``400`` malformed body, ``422`` rule broken,
``401``/``403`` for keys and scopes). Rather than repeat ``responses=`` on every
route, ``document_problems`` rewrites the generated document once at startup:
every error response points at one ``Problem`` schema, secured routes list 401 and
403, and secured POSTs declare the ``Idempotency-Key`` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
    Tag,
)
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from app.api.auth import BEARER_SCHEME
from app.api.errors import PROBLEM_MEDIA_TYPE
from app.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from app.domain import keys
from app.domain.claims import ClaimReason, ClaimType
from statemachines import claim, entry


def _enum(values: Any) -> dict[str, Any]:
    return {"enum": [str(v) for v in values]}


def _pattern(regex: Any) -> dict[str, Any]:
    """A domain pattern (used with fullmatch) as a JSON Schema pattern."""
    return {"pattern": f"^(?:{regex.pattern})$"}


_NAME = {"max_length": keys.NAME_MAX_LENGTH}
FIELD_RULES: dict[tuple[str, str], dict[str, Any]] = {
    ("EntryCreate", "key_type"): _enum(keys.KeyType),
    ("EntryCreate", "key"): {"max_length": keys.KEY_MAX_LENGTH},
    ("ClaimCreate", "type"): _enum(ClaimType),
    ("ClaimCreate", "key_type"): _enum(keys.KeyType),
    ("ClaimCreate", "key"): {"max_length": keys.KEY_MAX_LENGTH},
    ("AccountIn", "participant"): _pattern(keys.ISPB_PATTERN),
    ("AccountIn", "branch"): _pattern(keys.BRANCH_PATTERN),
    ("AccountIn", "account_number"): _pattern(keys.ACCOUNT_NUMBER_PATTERN),
    ("AccountIn", "account_type"): _enum(keys.AccountType),
    ("OwnerIn", "type"): _enum(keys.PersonType),
    ("OwnerIn", "tax_id"): {"pattern": "^(?:[0-9]{11}|[0-9]{14})$"},
    ("OwnerIn", "name"): _NAME,
    ("OwnerIn", "trade_name"): {"max_length": keys.TRADE_NAME_MAX_LENGTH},
    ("EntryUpdate", "reason"): _enum(keys.UPDATE_REASONS),
    ("EntryUpdate", "name"): _NAME,
    ("EntryUpdate", "trade_name"): {"max_length": keys.TRADE_NAME_MAX_LENGTH},
    ("Decision", "reason"): _enum(ClaimReason),
}
"""(schema, field) -> constraints shown in the OpenAPI document. They document what the
domain validators check (which name every broken rule at once); msgspec does not
enforce them, so one answer still lists every field to fix."""

QUERY_RULES: dict[str, dict[str, dict[str, Any]]] = {
    "listEntries": {"key_type": _enum(keys.KeyType), "status": _enum(entry.SPEC.states)},
    "deleteEntry": {"reason": _enum(keys.DELETE_REASONS)},
    "listClaims": {
        "role": _enum(("CLAIMER", "DONOR")),
        "status": _enum(claim.SPEC.states),
        "type": _enum(ClaimType),
    },
}
"""operationId -> query parameter -> constraints (an unknown value answers 422)."""

_STRING = Schema(type=OpenAPIType.STRING)
_PROBLEM = Reference(ref="#/components/schemas/Problem")

_SECURED_ERRORS = {
    "401": "No valid API key (problem type unauthorized)",
    "403": "The API key lacks the route's scope (problem type forbidden)",
}
_INPUT_ERRORS = {
    "400": "Malformed request body (problem type malformed-request)",
    "422": "A field breaks a rule: `errors` name the field and the rule",
}
_IDEMPOTENT_ERRORS = {
    "409": "A state conflict (`current`, `allowed`), or the first request with this "
    "Idempotency-Key is still running",
}
_CHANGE_ERRORS = {
    "409": "A state conflict: the subject's status does not allow this now (`current`, "
    "`allowed`), or the key is already registered (problem type key-already-registered)",
}
_BODY_ERRORS = {"413": "The body is over 64 KiB (problem type request-entity-too-large)"}
_PATH_ERRORS = {"404": "No such resource (problem type not-found)"}
_SERVICE_ERRORS = {"503": "The database is unavailable; retry after `Retry-After` seconds"}


ASSETS_PATH = "/schema/assets"
"""Where the API serves Swagger UI's files itself: the docs page needs no internet."""


def assets() -> ControllerRouterHandler:
    """The static route of Swagger UI's files (the ``swagger-ui-bundle`` package)."""
    from swagger_ui_bundle import swagger_ui_path

    return create_static_files_router(
        path=ASSETS_PATH, directories=[swagger_ui_path], include_in_schema=False
    )


def config(version: str) -> OpenAPIConfig:
    """Title, ``/schema`` path and the bearer security scheme."""
    return OpenAPIConfig(
        title="dict-connect",
        version=version,
        description=(
            "Connector between a payment institution and the central bank's DICT (Pix "
            "keys). Errors are RFC 9457 problem+json naming the field and the rule; DICT "
            "problems keep their DICT name in `type`."
        ),
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' href='{ASSETS_PATH}/favicon-32x32.png'>",
            )
        ],
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="dc_<prefix>_<secret>",
                    description="An API key from `dict-connect apikey create`.",
                )
            }
        ),
        tags=[Tag(name="system", description="Open routes: health, readiness, metrics")],
    )


def problem_schemas() -> dict[str, Schema]:
    field_error = Schema(
        type=OpenAPIType.OBJECT,
        required=["field", "rule", "message"],
        properties={"field": _STRING, "rule": _STRING, "message": _STRING},
    )
    problem = Schema(
        type=OpenAPIType.OBJECT,
        description="RFC 9457 problem details",
        required=["type", "title", "status"],
        properties={
            "type": Schema(type=OpenAPIType.STRING, format="uri"),  # type: ignore[arg-type]
            "title": _STRING,
            "status": Schema(type=OpenAPIType.INTEGER),
            "detail": _STRING,
            "instance": _STRING,
            "errors": Schema(
                type=OpenAPIType.ARRAY, items=Reference(ref="#/components/schemas/FieldError")
            ),
            "current": _STRING,
            "allowed": Schema(type=OpenAPIType.ARRAY, items=_STRING),
            "request_id": _STRING,
        },
    )
    return {"Problem": problem, "FieldError": field_error}


def _response(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description, content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=_PROBLEM)}
    )


def _idempotency_header() -> Parameter:
    return Parameter(
        name=IDEMPOTENCY_HEADER,
        param_in="header",
        required=False,
        schema=Schema(type=OpenAPIType.STRING, max_length=255),
        description="Repeat a POST safely: the same key and body replay the first answer "
        "(24 h); the same key with another body is a 422.",
    )


def _document(operation: Operation, method: str, path: str) -> None:
    responses = operation.responses if operation.responses is not None else {}
    errors: dict[str, str] = {}
    if "400" in responses:  # Litestar adds it exactly when the route takes inputs
        errors.update(_INPUT_ERRORS)
    if operation.security:
        errors.update(_SECURED_ERRORS | _SERVICE_ERRORS)
        if "{" in path:
            errors.update(_PATH_ERRORS)
        if method in ("post", "patch", "delete"):
            errors.update(_CHANGE_ERRORS)
        if method == "post":
            errors.update(_IDEMPOTENT_ERRORS)
            operation.parameters = [*(operation.parameters or []), _idempotency_header()]
        if operation.request_body is not None:
            errors.update(_BODY_ERRORS)
    for status, description in errors.items():
        responses[status] = _response(description)
    operation.responses = responses
    _constrain_parameters(operation)


def document_problems(openapi: OpenAPI) -> None:
    """Point every error response of ``openapi`` at the ``Problem`` schema."""
    if openapi.components is None:
        openapi.components = Components()
    components = openapi.components
    components.schemas = {**(components.schemas or {}), **problem_schemas()}
    for name, schema in components.schemas.items():
        if isinstance(schema, Schema):
            _constrain_fields(name, schema)
    for path, path_item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method, None)
            if isinstance(operation, Operation):
                _document(operation, method, path)


def _string_member(schema: Schema | Reference) -> Schema | None:
    """The string schema of a field, also inside ``oneOf: [string, null]``."""
    if not isinstance(schema, Schema):
        return None
    if schema.type == OpenAPIType.STRING:
        return schema
    for member in schema.one_of or []:
        if isinstance(member, Schema) and member.type == OpenAPIType.STRING:
            return member
    return None


def _apply(target: Schema | None, rule: Mapping[str, Any]) -> None:
    if target is not None:
        for attribute, value in rule.items():
            setattr(target, attribute, value)


def _constrain_fields(name: str, schema: Schema) -> None:
    """Enums, patterns and lengths from the domain tables, on the request schemas."""
    for field, prop in (schema.properties or {}).items():
        rule = FIELD_RULES.get((name, field))
        if rule:
            _apply(_string_member(prop), rule)


def _constrain_parameters(operation: Operation) -> None:
    rules = QUERY_RULES.get(operation.operation_id or "", {})
    for parameter in operation.parameters or []:
        if isinstance(parameter, Parameter) and parameter.name in rules:
            _apply(_string_member(parameter.schema or _STRING), rules[parameter.name])
