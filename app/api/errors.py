"""Every error the API answers, as RFC 9457 ``application/problem+json``.

Controllers and the layers below never build HTTP error responses: they raise
domain exceptions and this module, the one place that knows HTTP, turns them into
problems. A 4xx names the field and the rule it broke (``errors``) so a client can
act on it; a DICT problem keeps its DICT name in ``type`` (``…/EntryLockedByClaim``);
a 5xx says nothing about internals and is logged with its traceback instead.

State-machine errors are recognised by shape, not by class, so ``app.api`` needs no
import of ``statemachines`` to map them: an exception with ``current`` and
``allowed`` is a 409 (an illegal trigger, or a row changed under us), one with
``violations`` of (field, rule, message) is a 422 (``app.domain`` validation).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import msgspec
import psycopg
import redis
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap

from app.domain.problems import DictProblem
from app.logging import request_id_var
from app.repo.errors import domain_error

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://dict-connect/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024
"""A request body above this answers 413 (the largest real body, an entry, is ~1 KiB)."""


class FieldError(msgspec.Struct, frozen=True):
    """One broken rule: ``field`` is a dotted path into the body, or a parameter name."""

    field: str
    rule: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """The RFC 9457 body, with ``errors`` and, for conflicts, ``current``/``allowed``."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[FieldError] = msgspec.field(default_factory=list)
    current: str | None = None
    allowed: list[str] | None = None
    request_id: str | None = None


class ApiError(Exception):
    """A problem the API answers with; subclasses fix the status and problem name."""

    status: int = 400
    name: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str = "",
        *,
        errors: Iterable[FieldError] = (),
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors)
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})


class ValidationFailed(ApiError):
    """Input breaks rules: ``ValidationFailed([("owner.tax_id", "cpf_check_digits", "…")])``.

    ``status=409`` suits a rule about existing state (the key is already registered).
    """

    status, name, title = 422, "validation-error", "The request breaks validation rules"

    def __init__(
        self,
        errors: Iterable[tuple[str, str, str] | FieldError],
        *,
        status: int | None = None,
        detail: str = "",
    ) -> None:
        found = [e if isinstance(e, FieldError) else FieldError(*e) for e in errors]
        super().__init__(
            detail or "; ".join(f"{e.field}: {e.message}" for e in found),
            errors=found,
            status=status,
        )


def one_of(field: str, value: str | None, allowed: Iterable[str]) -> None:
    """A filter value outside its set is a 422 naming the field, not an empty page."""
    options = sorted(allowed)
    if value is not None and value not in options:
        raise ValidationFailed([(field, "one_of", f"one of {', '.join(options)}")])


def refuse(violations: Iterable[Any]) -> None:
    """A 422 naming every broken rule (``app.domain`` Violations), if there is any."""
    found = [(v.field, v.rule, v.message) for v in violations]
    if found:
        raise ValidationFailed(found)


class NotFoundError(ApiError):
    """``NotFoundError("entry", ref)``: no such resource."""

    status, name, title = 404, "not-found", "Not found"

    def __init__(self, resource: str, ref: object) -> None:
        super().__init__(f"no {resource} {ref}")
        self.resource, self.ref = resource, ref


class ConflictError(ApiError):
    """The subject's state forbids the request; ``current`` and ``allowed`` say why."""

    status, name, title = 409, "conflict", "Conflict with the current state"

    def __init__(self, detail: str, current: str, allowed: Iterable[str] = ()) -> None:
        super().__init__(detail)
        self.current, self.allowed = current, sorted(allowed)


class KeyAlreadyRegistered(ApiError):
    """A registration for a key that already has a live entry here."""

    status, name, title = 409, "key-already-registered", "The key is already registered here"


class Unauthorized(ApiError):
    status, name, title = 401, "unauthorized", "A valid API key is required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="dict-connect"'})


class Forbidden(ApiError):
    status, name, title = 403, "forbidden", "The API key lacks a scope"


def problem_response(
    request: Request[Any, Any, Any], problem: Problem, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    problem.instance = problem.instance or request.url.path
    return Response(
        msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _problem(status: int, name: str, title: str, detail: str = "", **members: Any) -> Problem:
    return Problem(type=PROBLEM_BASE + name, title=title, status=status, detail=detail, **members)


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    members: dict[str, Any] = {"errors": exc.errors}
    if isinstance(exc, ConflictError):
        members.update(current=exc.current, allowed=exc.allowed)
    return problem_response(
        request, _problem(exc.status, exc.name, exc.title, exc.detail, **members), exc.headers
    )


def _dict_problem(request: Request[Any, Any, Any], exc: DictProblem) -> Response[bytes]:
    """Keep the DICT's own name: clients and runbooks know ``EntryLockedByClaim``."""
    errors = [FieldError(field, reason, reason) for field, reason in exc.violations]
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    problem = _problem(exc.http_status, exc.type, exc.type, exc.detail, errors=errors)
    return problem_response(request, problem, headers)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own errors: malformed input, unknown routes, methods, guards."""
    if isinstance(exc, ValidationException):
        errors = [_from_litestar(item) for item in exc.extra or [] if isinstance(item, dict)]
        missing = _MISSING_PARAMETER.search(exc.detail or "")
        if not errors and missing:  # Litestar names a missing parameter only in its text
            kind, name = missing.groups()
            errors = [FieldError(name, "required", f"the {kind} parameter {name} is required")]
        problem = _problem(
            422,
            ValidationFailed.name,
            ValidationFailed.title,
            "; ".join(f"{e.field}: {e.message}" for e in errors),
            errors=errors,
        )
        return problem_response(request, problem)
    if isinstance(exc, NotAuthorizedException):
        return _api_error(request, Unauthorized(exc.detail))
    if isinstance(exc, PermissionDeniedException):
        return _api_error(request, Forbidden(exc.detail))
    status = exc.status_code
    if status >= 500:
        return _unhandled(request, exc)
    phrase = HTTPStatus(status).phrase
    name = "malformed-request" if status == 400 else phrase.lower().replace(" ", "-")
    errors = [FieldError("body", "malformed", exc.detail)] if status == 400 else []
    if status == 413:
        errors = [FieldError("body", "max_size", f"a body has at most {MAX_BODY_BYTES} bytes")]
    problem = _problem(status, name, phrase, exc.detail, errors=errors)
    return problem_response(request, problem, exc.headers)


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Shaped exceptions from lower layers, else a 500 that leaks nothing."""
    exc = domain_error(exc) or exc  # a database rule that held: by its constraint's name
    if hasattr(exc, "current") and hasattr(exc, "allowed"):
        problem = _problem(
            409,
            "conflict",
            ConflictError.title,
            str(getattr(exc, "detail", "") or exc),
            current=str(exc.current),
            allowed=[str(a) for a in exc.allowed or []],
        )
        return problem_response(request, problem)
    violations = getattr(exc, "violations", None)
    if isinstance(violations, list | tuple) and violations:
        errors = [_violation(v) for v in violations]
        return _api_error(request, ValidationFailed(errors))
    route = request.scope.get("path_template", "?")  # never the path: it may hold a Pix key
    unavailable = next((what for cls, what in _UNAVAILABLE.items() if isinstance(exc, cls)), None)
    if unavailable:  # the database (PoolTimeout included) or Redis is down or saturated
        log.warning(  # one line, no traceback: an outage answers every request this way
            "%s unavailable on %s %s (%s)", unavailable, request.method, route, type(exc).__name__
        )
        problem = _problem(
            503,
            "service-unavailable",
            "Service unavailable",
            f"{unavailable} is unavailable; retry later",
            request_id=request_id_var.get(),
        )
        return problem_response(request, problem, {"Retry-After": "5"})
    log.error(
        "unhandled error on %s %s",
        request.method,
        route,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    problem = _problem(
        500,
        "internal-error",
        "Internal server error",
        "an unexpected error occurred; quote request_id when reporting it",
        request_id=request_id_var.get(),
    )
    return problem_response(request, problem)


_UNAVAILABLE: dict[type[Exception], str] = {
    psycopg.OperationalError: "the database",
    redis.ConnectionError: "Redis",
    redis.TimeoutError: "Redis",
}


def _violation(v: Any) -> FieldError:
    """A domain ``Violation(field, rule, message)`` or a plain 3-tuple."""
    if isinstance(v, tuple):
        field, rule, message = (*v, "", "", "")[:3]
        return FieldError(str(field), str(rule), str(message))
    return FieldError(
        str(getattr(v, "field", "")),
        str(getattr(v, "rule", "invalid")),
        str(getattr(v, "message", "")),
    )


_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '([^']+)'")

# msgspec's messages, first match wins: (pattern, rule, whether `name` extends the path).
_MSGSPEC_RULES: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(p), rule, extends)
    for p, rule, extends in (
        (r"^Object missing required field `(?P<name>[^`]+)`", "required", True),
        (r"^Object contains unknown field `(?P<name>[^`]+)`", "unknown_field", True),
        (r"^Expected `[^`]+`, got `[^`]+`", "type", False),
        (r"of length >=", "min_length", False),
        (r"of length <=", "max_length", False),
        (r"matching regex", "pattern", False),
        (r"that is a multiple of", "multiple_of", False),
        (r"^Expected `[^`]+` >=", "minimum", False),
        (r"^Expected `[^`]+` >", "exclusive_minimum", False),
        (r"^Expected `[^`]+` <=", "maximum", False),
        (r"^Expected `[^`]+` <", "exclusive_maximum", False),
        (r"^Invalid enum value", "enum", False),
        (r"timezone", "timezone", False),
        (r"^Invalid ", "format", False),
        (r"^'[^']+'$", "required", False),  # a KeyError text: the whole body is missing
    )
)


def _from_litestar(item: Mapping[str, Any]) -> FieldError:
    """Litestar's ``{"key": "owner.name", "message": "Expected …"}`` as field and rule."""
    key, message = str(item.get("key") or ""), str(item.get("message") or "invalid")
    field = "" if key == "data" else key  # "data" is the whole body
    rule = "invalid"
    for pattern, name, extends in _MSGSPEC_RULES:
        match = pattern.search(message)
        if match:
            rule = name
            if extends:
                field = f"{field}.{match['name']}" if field else match["name"]
            break
    if key == "data" and rule == "required" and message.startswith("'"):
        message = "a JSON body is required"
    return FieldError(field or "body", rule, message)


def render(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The problem response for any exception (what the handlers below choose)."""
    if isinstance(exc, ApiError):
        return _api_error(request, exc)
    if isinstance(exc, DictProblem):
        return _dict_problem(request, exc)
    if isinstance(exc, HTTPException):
        return _http_exception(request, exc)
    return _unhandled(request, exc)


class ProblemBoundary:
    """Renders exceptions raised by middleware further in (auth, idempotency).

    Litestar renders a handler's exceptions inside the middleware stack, but one
    raised by a middleware escapes to the app's outermost handler, past the outer
    middleware's ``send``: the answer would lack ``X-Request-Id`` and be counted as
    a 200 by the metrics. Sitting just inside those, this keeps every answer on
    the same path.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or scope["type"] != "http":
                raise
            request: Request[Any, Any, Any] = Request(scope, receive)
            response = render(request, exc)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)


def exception_handlers() -> ExceptionHandlersMap:
    """The map given to ``Litestar(exception_handlers=…)``."""
    return {
        ApiError: _api_error,
        DictProblem: _dict_problem,
        HTTPException: _http_exception,
        Exception: _unhandled,
    }
