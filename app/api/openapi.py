"""The OpenAPI document: bearer scheme, and errors documented as they really are.

Litestar documents a ``400`` in its own error shape for every route with inputs,
while this API answers problem+json (``400`` malformed body, ``422`` rule broken,
``401``/``403`` for keys and scopes). Rather than repeat ``responses=`` on every
route, ``document_problems`` rewrites the generated document once at startup:
every error response points at one ``Problem`` schema, secured routes list 401 and
403, and secured POSTs declare the ``Idempotency-Key`` header.
"""

from __future__ import annotations

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

from app.api.auth import BEARER_SCHEME
from app.api.errors import PROBLEM_MEDIA_TYPE
from app.api.idempotency import HEADER as IDEMPOTENCY_HEADER

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
        render_plugins=[SwaggerRenderPlugin()],
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


def _document(operation: Operation, method: str) -> None:
    responses = operation.responses if operation.responses is not None else {}
    errors: dict[str, str] = {}
    if "400" in responses:  # Litestar adds it exactly when the route takes inputs
        errors.update(_INPUT_ERRORS)
    if operation.security:
        errors.update(_SECURED_ERRORS)
        if method == "post":
            errors.update(_IDEMPOTENT_ERRORS)
            operation.parameters = [*(operation.parameters or []), _idempotency_header()]
    for status, description in errors.items():
        responses[status] = _response(description)
    operation.responses = responses


def document_problems(openapi: OpenAPI) -> None:
    """Point every error response of ``openapi`` at the ``Problem`` schema."""
    if openapi.components is None:
        openapi.components = Components()
    components = openapi.components
    components.schemas = {**(components.schemas or {}), **problem_schemas()}
    for path_item in (openapi.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method, None)
            if isinstance(operation, Operation):
                _document(operation, method)
