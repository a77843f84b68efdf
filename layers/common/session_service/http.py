"""HTTP wiring shared by every handler: the resolver factory, typed parameters, and the one error table.

A handler module does ``app = make_resolver()``, declares its one route with the typed parameters below
(and ``responses=responses_for(<the errors it can raise>)``), calls one layer function, and exports
``lambda_handler = entry(app)``.

Every HTTP status the service answers is decided here: :data:`ERROR_ANSWERS` maps each exception type
to its status, headers and body, and feeds both the one exception handler and each route's documented
``responses``; success statuses come from :func:`create_once`, :func:`session_response` and
:func:`health_response`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
    OpenAPIResponseValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.constants import DEFAULT_OPENAPI_RESPONSE_DESCRIPTION
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ValidationException,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field

from session_service import errors
from session_service.data.guard import WriteGuard, guard_for
from session_service.errors import IdempotencyKeyReused, MessageNotFound, SessionNotFound
from session_service.idempotency import MAX_KEY_CHARS, IdempotencyInProgress, run_once
from session_service.identity import MissingUserId, resolve_caller
from session_service.models import (
    EXACT_NUMBERS,
    ITEM_ID_PATTERN,
    MAX_EXPORT_LINES,
    SESSION_ID_PATTERN,
    USER_ID_PATTERN,
    HealthDetailed,
    Session,
    exact_json,
    load_json,
)
from session_service.observability import logger, metrics, publish_metrics
from session_service.wiring import settings


class IdPath(Path):  # type: ignore[misc]  # Powertools' Param classes are untyped
    """A path parameter naming a resource: a value that is not a valid id answers as a missing resource.

    SPEC section 4: a path ``session_id`` or ``message_id`` that is not a valid id answers 404 like a
    missing one (so the id's format tells a caller nothing more than a lookup would). ``not_found``
    builds the domain error to raise; the request validation below raises it before anything else runs.
    """

    def __init__(self, *, not_found: Callable[[], Exception], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.not_found = not_found


SessionIdPath = Annotated[
    str, IdPath(not_found=SessionNotFound, pattern=SESSION_ID_PATTERN, max_length=200, description="Session id")
]
MessageIdPath = Annotated[
    str, IdPath(not_found=MessageNotFound, pattern=ITEM_ID_PATTERN, max_length=36, description="Message id (a UUID)")
]
UserIdPath = Annotated[str, Path(pattern=USER_ID_PATTERN, max_length=128, description="User id")]
UserIdQuery = Annotated[
    str | None,
    Query(pattern=USER_ID_PATTERN, max_length=128, description="The caller; optional with the authorizer"),
]
UserIdAlsoQuery = Annotated[
    str | None,
    Query(
        alias="user_id",
        pattern=USER_ID_PATTERN,
        max_length=128,
        description="The caller: the path's user (optional; another user is 403)",
    ),
]
PageQuery = Annotated[int, Query(ge=1, le=10_000, description="Page number, from 1")]
PageSizeQuery = Annotated[int, Query(ge=1, le=200, description="Items per page, at most 200 (SPEC section 3)")]
ExportPageSizeQuery = Annotated[
    int, Query(ge=1, le=MAX_EXPORT_LINES, description="Lines per page, at most 10,000 (SPEC section 9)")
]
NextTokenQuery = Annotated[
    str | None, Query(max_length=2048, description="Opaque cursor from the previous page's next_token")
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        min_length=1,
        max_length=MAX_KEY_CHARS,
        description="Makes a retried create safe: the same key and body return the first response",
    ),
]
IfMatch = Annotated[
    str | None, Header(alias="if-match", max_length=64, description="The session's ETag, for a conditional write")
]


JSON_MEDIA_TYPE = "application/json"


class _StrictRequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, stricter where the API needs it (SPEC section 4).

    * A query parameter the route does not declare is 422 (:func:`_refuse_unknown_query_parameters`).
    * An :class:`IdPath` parameter that is not a valid id answers as a missing resource (404).
    * The body is JSON (``application/json``, any case, any parameters; else 415), read by
      :func:`~session_service.models.load_json`: a duplicate key, ``NaN``, an integer beyond 4,300 digits or
      nesting deeper than the interpreter's stack is 422, never a 500 (Powertools catches only
      ``JSONDecodeError``), and decimals stay exact.
    * The body is a JSON object: Powertools would validate the first element of a JSON array against the
      body model (it unwraps lists for non-list fields), so ``[{...}, {...}]`` would create one thing and
      ignore the rest.
    """

    def handler(self, app: Any, next_middleware: Any) -> Any:
        route = app.context["_route"]
        _refuse_unknown_query_parameters(route, app.current_event.resolved_query_string_parameters or {})
        _raise_not_found_for_invalid_ids(route, app.context.get("_route_args") or {})
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> dict[str, Any]:
        content_type = app.current_event.headers.get("content-type") or ""
        media_type = content_type.split(";", 1)[0].strip().lower()  # RFC 9110 8.3.1: case-insensitive
        if media_type not in ("", JSON_MEDIA_TYPE):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[
                    {
                        "type": "unsupported_content_type",
                        "loc": ("header", "content-type"),
                        "msg": f"Unsupported content type: {content_type[:100]}; send {JSON_MEDIA_TYPE}",
                    }
                ],
            )
        return self._parse_json_data(app)

    def _parse_json_data(self, app: Any) -> dict[str, Any]:
        try:
            text = app.current_event.decoded_body
            body = load_json(text) if text else None
        except UnicodeDecodeError as exc:
            raise _body_error("json_invalid", "Body is not UTF-8 JSON") from exc
        except RecursionError as exc:
            raise _body_error("json_invalid", "JSON nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, a duplicate key, NaN, an integer over 4,300 digits
            raise _body_error("json_invalid", f"Invalid JSON: {str(exc)[:200]}") from exc
        if not isinstance(body, dict):
            raise _body_error("model_attributes_type", "Input should be a JSON object")
        return body


def invalid_query(name: str, message: str) -> RequestValidationError:
    """The 422 of a query parameter that contradicts another: ``detail`` names it (``["query", name]``)."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message, "input": {}}])


def invalid_body(location: tuple[str, ...], message: str) -> RequestValidationError:
    """The 422 of a body field that contradicts the request (``location``: ``("body", ...)``)."""
    return RequestValidationError([{"type": "value_error", "loc": location, "msg": message, "input": {}}])


def _body_error(kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message, "input": {}}])


def _refuse_unknown_query_parameters(route: Any, received: dict[str, Any]) -> None:
    """Raise a 422 ``RequestValidationError`` naming each query parameter ``route`` does not declare.

    The declared names come from the route's own signature (a pydantic model parameter declares its
    fields), so a parameter added to a handler is accepted without touching this function.
    """
    declared: set[str] = set()
    for field in route.dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            declared.update(info.alias or name for name, info in annotation.model_fields.items())
        else:
            declared.add(field.alias)
    unknown = sorted(set(received) - declared)
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter", "input": {}}
                for name in unknown
            ]
        )


def _raise_not_found_for_invalid_ids(route: Any, path_values: dict[str, Any]) -> None:
    """Raise the ``not_found`` error of the first :class:`IdPath` parameter whose value is not a valid id."""
    for field in route.dependant.path_params:
        info = field.field_info
        if isinstance(info, IdPath):
            _, errors = field.validate(path_values.get(field.alias), loc=("path", field.alias))
            if errors:
                raise info.not_found()


class _ExactNumbersResponse(OpenAPIResponseValidationMiddleware):
    """Powertools' response validation, writing money with all of its digits as a JSON number.

    A double holds 15-17 significant digits; a cost has up to 12 decimals below 10^6 and a total more
    (SPEC section 3). :data:`~session_service.models.Money` serialises a value that a double cannot hold
    as ``{<nonce>: "<digits>"}`` when the serialization context carries this response's random nonce; the
    JSON text is then written here with each such marker replaced by the bare digits. The nonce is fresh
    per response, so no client text can forge a marker.
    """

    def _serialize_response_with_validation(self, *, field: Any, response_content: Any, **options: Any) -> Any:
        nonce = secrets.token_hex(16)
        marking: Any = _ContextField(field, {EXACT_NUMBERS: nonce})
        body = super()._serialize_response_with_validation(field=marking, response_content=response_content, **options)
        return exact_json(body, nonce)

    def _handle_response(self, *, route: Any, response: Response[Any]) -> Any:
        # A body that is not JSON (the export's NDJSON text) is the route's own, already serialized.
        return response if not response.is_json() else super()._handle_response(route=route, response=response)


class _ContextField:
    """A Powertools ``ModelField`` (3.37) whose ``serialize`` passes a pydantic serialization context."""

    def __init__(self, field: Any, context: dict[str, Any]) -> None:
        self._field, self._context = field, context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._field, name)

    def serialize(self, value: Any, *, mode: str = "json", **options: Any) -> Any:
        return self._field._type_adapter.dump_python(value, mode=mode, context=self._context, **options)


# -- errors: one table, by exception type -----------------------------------------------------------------


class ErrorDetail(BaseModel):
    """Every error that is not about the request's shape: a human-readable `detail`."""

    detail: str = Field(description="What went wrong, in a sentence")


def _said(exc: Any) -> str:
    return str(exc.detail)  # a SessionServiceError's own sentence


def _says(text: str) -> Callable[[Any], str]:
    return lambda _exc: text  # never the exception's text: it may name our internals


def _errors(exc: ValidationException) -> list[dict[str, Any]]:
    return [
        {"type": e.get("type", "value_error"), "loc": list(e.get("loc", ())), "msg": e.get("msg", "Invalid value")}
        for e in exc.errors()
    ]


def _missing(exc: MissingUserId) -> list[dict[str, Any]]:
    return [{"type": "missing", "loc": list(exc.location), "msg": exc.detail}]  # FastAPI's "missing" shape


def _key_reused(exc: IdempotencyKeyReused) -> list[dict[str, Any]]:
    return [{"type": "idempotency_key_reused", "loc": ["header", "idempotency-key"], "msg": exc.detail}]


@dataclass(frozen=True)
class ErrorAnswer:
    """How the API answers one exception type (SPEC section 4: every error body is JSON with ``detail``).

    ``detail`` builds the body's ``detail`` from the exception: a sentence, or, when ``listed``, a list of
    ``{type, loc, msg}`` like a validation error. ``description`` documents the case in OpenAPI.
    ``retry_after`` (seconds) adds ``Retry-After``. ``metric`` names the ``Error.<metric>`` count (default:
    the exception's class name); ``counted=False`` counts nothing.
    """

    status: HTTPStatus
    description: str
    detail: Callable[[Any], str | list[dict[str, Any]]] = _said
    listed: bool = False
    retry_after: int | None = None
    metric: str | None = None
    counted: bool = True

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


ERROR_ANSWERS: dict[type[Exception], ErrorAnswer] = {
    errors.InvalidCursor: ErrorAnswer(
        HTTPStatus.BAD_REQUEST, "Invalid `next_token`: tampered with, or issued for another caller or listing"
    ),
    errors.Unauthorized: ErrorAnswer(HTTPStatus.UNAUTHORIZED, "Not authenticated (only with the authorizer on)"),
    errors.Forbidden: ErrorAnswer(
        HTTPStatus.FORBIDDEN,
        "`user_id` differs from the verified caller, or the caller lacks the admin group (authorizer on)",
    ),
    errors.SessionNotFound: ErrorAnswer(HTTPStatus.NOT_FOUND, "Session not found: missing, another user's, or expired"),
    NotFoundError: ErrorAnswer(
        HTTPStatus.NOT_FOUND, "No route matches the path", detail=_says("Not Found"), counted=False
    ),
    errors.ErasureNotFound: ErrorAnswer(HTTPStatus.NOT_FOUND, "No erasure of this user was asked for (or it expired)"),
    errors.UserErasing: ErrorAnswer(HTTPStatus.CONFLICT, "The user's data is being erased"),
    errors.TooManyModels: ErrorAnswer(
        HTTPStatus.UNPROCESSABLE_ENTITY, "The session's messages would name more than 16 (provider, model) pairs"
    ),
    errors.SessionIdTaken: ErrorAnswer(HTTPStatus.CONFLICT, "The `session_id` is another user's, or being expired"),
    errors.InvalidStatusTransition: ErrorAnswer(HTTPStatus.CONFLICT, "That status cannot follow the current one"),
    errors.SessionNotActive: ErrorAnswer(HTTPStatus.CONFLICT, "The session is not active"),
    errors.MessageNotFound: ErrorAnswer(
        HTTPStatus.NOT_FOUND, "Message not found: missing, deleted, or in another user's or an expired session"
    ),
    errors.MessageConflict: ErrorAnswer(
        HTTPStatus.CONFLICT, "The message is in another state: another body for its id, a chunk out of order, ..."
    ),
    errors.SessionReadOnly: ErrorAnswer(HTTPStatus.CONFLICT, "The session is ended and read-only"),
    IdempotencyInProgress: ErrorAnswer(
        HTTPStatus.CONFLICT,
        "A request with this `Idempotency-Key` is still running; retry after `Retry-After` seconds",
        retry_after=1,
    ),
    errors.PreconditionFailed: ErrorAnswer(
        HTTPStatus.PRECONDITION_FAILED, "`If-Match` does not name the session's current ETag"
    ),
    errors.PayloadTooLarge: ErrorAnswer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request too large for one transaction"),
    RequestUnsupportedContentType: ErrorAnswer(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "The body is not `application/json`",
        detail=_errors,
        listed=True,
        metric="UnsupportedMediaType",
    ),
    RequestValidationError: ErrorAnswer(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "The request breaks the schema: `detail` lists each problem as `{type, loc, msg}`",
        detail=_errors,
        listed=True,
        metric="Validation",
    ),
    MissingUserId: ErrorAnswer(
        HTTPStatus.UNPROCESSABLE_ENTITY, "No `user_id` and no verified caller", detail=_missing, listed=True
    ),
    IdempotencyKeyReused: ErrorAnswer(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "The `Idempotency-Key` was already used with a different body",
        detail=_key_reused,
        listed=True,
    ),
    errors.ServiceUnavailable: ErrorAnswer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "DynamoDB is throttling, or a transaction kept conflicting; retry after `Retry-After` seconds",
        retry_after=1,
    ),
    # botocore has already retried by then: a table that is missing or unreachable is rarely back within a second.
    errors.StoreUnavailable: ErrorAnswer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "The table is unreachable or missing; retry after `Retry-After` seconds",
        retry_after=5,
    ),
    Exception: ErrorAnswer(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "A bug of ours, logged; never an answer to input",
        detail=_says("Internal server error"),
        metric="Unhandled",
    ),
}
"""The answer to every exception a handler lets out, looked up along the exception's MRO; ``Exception``
catches the rest (a bug: logged with its traceback, answered 500 without its text)."""


def answer_for(error: type[BaseException]) -> tuple[type[Exception], ErrorAnswer]:
    """The table's entry for ``error`` (its own, or its nearest base class's) and the class it is keyed by."""
    for cls in error.__mro__:
        if cls in ERROR_ANSWERS:
            return cls, ERROR_ANSWERS[cls]
    return Exception, ERROR_ANSWERS[Exception]


def error_response(exc: Exception) -> Response[Any]:
    """The answer to ``exc`` from :data:`ERROR_ANSWERS`, counted as an ``Error.*`` metric and logged when 5xx."""
    matched, answer = answer_for(type(exc))
    if answer.counted:
        metrics.add_metric(name=f"Error.{answer.metric or type(exc).__name__}", unit=MetricUnit.Count, value=1)
    if matched is Exception:
        logger.exception("Unhandled error")
    elif answer.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("Request failed", extra={"error": type(exc).__name__, "status": int(answer.status)})
    return Response(
        status_code=answer.status,
        content_type=content_types.APPLICATION_JSON,
        body={"detail": answer.detail(exc)},
        headers=answer.headers or None,
    )


def make_resolver() -> APIGatewayRestResolver:
    """A REST API resolver with request validation and :func:`error_response` as its one exception handler.

    Powertools looks exception handlers up along the MRO, so the handler registered for ``Exception``
    also answers unknown routes (``NotFoundError``) and request validation. A response that breaks its
    own model is a 500 (``response_validation_error_http_code``): our bug, not a client error.
    """
    app = APIGatewayRestResolver(
        enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
    )
    app._request_validation_middleware = _StrictRequestValidation()  # type: ignore[no-untyped-call]
    app._response_validation_middleware = _ExactNumbersResponse(
        has_response_validation_error=app._has_response_validation_error
    )
    app.exception_handler(Exception)(error_response)
    return app


# -- the documented responses of a route, from the same table ------------------------------------------------

_JSON = content_types.APPLICATION_JSON
_RETRY_AFTER_DOC: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
_ETAG_DOC: dict[str, OpenAPIResponseHeader] = {
    "ETag": {"description": "The session's version, for `If-Match`", "schema": {"type": "string"}}
}

OK: Mapping[int, OpenAPIResponse] = {HTTPStatus.OK.value: {"description": DEFAULT_OPENAPI_RESPONSE_DESCRIPTION}}
"""A read's success; the body is the route's return model (Powertools fills it in)."""
SESSION: Mapping[int, OpenAPIResponse] = {
    HTTPStatus.OK.value: {"description": "The session, with its ETag", "headers": _ETAG_DOC}
}
"""A success that returns a session (:func:`session_response`)."""
EXISTS: Mapping[int, OpenAPIResponse] = {HTTPStatus.OK.value: {"description": "It exists (no body)", "content": {}}}
"""``HEAD`` of a session: 200 or 404, no body (API Gateway sends none for HEAD)."""
NDJSON_MEDIA_TYPE = "application/x-ndjson"
NEXT_TOKEN_HEADER = "Next-Token"  # noqa: S105 - a header's name, not a secret
EXPORT: Mapping[int, OpenAPIResponse] = {
    HTTPStatus.OK.value: {
        "description": "A page of the user's data: NDJSON lines, at most `page_size`, within 6 MB",
        "headers": {
            NEXT_TOKEN_HEADER: {
                "description": "The next page's `next_token`; absent on the last page",
                "schema": {"type": "string"},
            }
        },
        "content": {
            NDJSON_MEDIA_TYPE: {
                "schema": {
                    "type": "string",
                    "description": "One JSON object a line: a Session, Message or Memory with `type`: "
                    "`session`, `message` or `memory`",
                }
            }
        },
    }
}
"""The export's success: NDJSON lines, the cursor in a header (SPEC section 9)."""
CREATED: Mapping[int, OpenAPIResponse] = {HTTPStatus.CREATED.value: {"description": "Created"}}
"""A create's success (:func:`create_once`)."""
SESSION_CREATED: Mapping[int, OpenAPIResponse] = {
    HTTPStatus.OK.value: {
        "description": "The caller's session of that `session_id` already existed: unchanged",
        "headers": _ETAG_DOC,
    },
    HTTPStatus.CREATED.value: {"description": "Created", "headers": _ETAG_DOC},
}
"""``POST /api/v1/sessions``: created, or seed 004's "ensure it exists" finding the caller's own."""
HEALTH: Mapping[int, OpenAPIResponse] = {
    HTTPStatus.OK.value: {"description": "Operational: the table answers"},
    ERROR_ANSWERS[errors.StoreUnavailable].status.value: {
        "description": "Degraded: the table does not answer (`status: degraded`)",
        "headers": _RETRY_AFTER_DOC,
    },
}
"""``GET /health/detailed`` (:func:`health_response`): the same body either way."""

Errors = tuple[type[Exception], ...]
CALLER_ERRORS: Errors = (MissingUserId, errors.Unauthorized, errors.Forbidden)
"""What :func:`caller` raises."""
STORE_ERRORS: Errors = (errors.ServiceUnavailable, errors.StoreUnavailable)
"""What any repository call can raise."""
PARAMETER_ERRORS: Errors = (NotFoundError, RequestValidationError)
"""What a route with path or query parameters can answer: a path no route matches, a value that breaks its type."""
SESSION_ERRORS: Errors = (errors.SessionNotFound, *PARAMETER_ERRORS, *CALLER_ERRORS, *STORE_ERRORS)
"""What every route under ``/api/v1/sessions/{session_id}`` can answer."""
USER_ERRORS: Errors = (*PARAMETER_ERRORS, *CALLER_ERRORS)
"""What every route under ``/api/v1/users/{user_id}`` acting on the user's own data can answer (:func:`user_caller`)."""
BODY_ERRORS: Errors = (RequestValidationError, RequestUnsupportedContentType)
"""What a route with a JSON body can answer."""
CREATE_ERRORS: Errors = (*BODY_ERRORS, IdempotencyKeyReused, IdempotencyInProgress, *STORE_ERRORS)
"""What :func:`create_once` and a create's body can answer."""


def responses_for(*errors: type[Exception], success: Mapping[int, OpenAPIResponse] = OK) -> dict[int, OpenAPIResponse]:
    """A route's ``responses=``: ``success``, and one response per status the ``errors`` map to in
    :data:`ERROR_ANSWERS`, described by the cases it covers.

    Each of ``errors`` must have an entry of its own (``KeyError`` otherwise); errors that share a
    status must share a body shape (``ValueError`` otherwise).
    """
    missing = [error.__name__ for error in errors if error not in ERROR_ANSWERS]
    if missing:
        raise KeyError(f"not in ERROR_ANSWERS: {missing}")
    responses = dict(success)
    cases: dict[int, list[ErrorAnswer]] = {}
    for error, answer in ERROR_ANSWERS.items():  # in the table's order, whatever the order declared
        if error in errors:
            cases.setdefault(answer.status.value, []).append(answer)
    for status, answers in cases.items():
        responses[status] = _documented(answers)
    return dict(sorted(responses.items()))


def create_responses(
    *errors: type[Exception], success: Mapping[int, OpenAPIResponse] = CREATED
) -> dict[int, OpenAPIResponse]:
    """A create's ``responses=`` (a route that answers with :func:`create_once`): :func:`responses_for` with
    :data:`CREATE_ERRORS` added to ``errors``."""
    return responses_for(*errors, *CREATE_ERRORS, success=success)


def _documented(answers: list[ErrorAnswer]) -> OpenAPIResponse:
    descriptions = [answer.description for answer in answers]
    shapes = {answer.listed for answer in answers}
    if len(shapes) > 1:
        raise ValueError(f"one status, two body shapes: {descriptions}")
    response: OpenAPIResponse = {
        "description": descriptions[0] if len(descriptions) == 1 else "\n".join(f"- {d}" for d in descriptions),
        "content": {
            _JSON: {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
            if shapes == {True}
            else {"model": ErrorDetail}
        },
    }
    if any(answer.retry_after for answer in answers):
        response["headers"] = _RETRY_AFTER_DOC
    return response


def caller(app: APIGatewayRestResolver, claimed: str | None, location: tuple[str, ...] = ("query", "user_id")) -> str:
    """The caller of the current request (see :func:`session_service.identity.resolve_caller`)."""
    return resolve_caller(
        app.current_event.raw_event, claimed, authorizer_enabled=settings().authorizer_enabled, location=location
    )


def user_caller(app: APIGatewayRestResolver, path_user: str, query_user: str | None) -> str:
    """The caller of a route on ``/users/{user_id}`` that acts on that user's own data (erasure, export, usage):
    the path's user, verified as :func:`caller` verifies any claim. A ``?user_id=`` that names someone else is
    :class:`~session_service.errors.Forbidden` (SPEC section 9: a user erases and reads only their own data)."""
    if query_user is not None and query_user != path_user:
        raise errors.Forbidden("user_id does not match the user in the path")
    return caller(app, path_user, ("path", "user_id"))


# -- success responses -----------------------------------------------------------------------------------


def etag(session: Session) -> str:
    """The session's strong ETag: its version, quoted (RFC 9110)."""
    return f'"{session.version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names; ``None`` when absent or ``*``.

    ``If-Match`` uses the strong comparison (RFC 9110 13.1.1): a weak tag (``W/"3"``) never matches, nor
    does anything that is not one of our quoted ETags (an unquoted number, a list); those yield ``-1``, a
    version no session has, so the write answers 412.
    """
    if value is None or value.strip() == "*":
        return None
    text = value.strip()
    inner = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else ""
    return int(inner) if inner.isascii() and inner.isdigit() and len(inner) < 19 else -1


def _headers_of(body: BaseModel) -> dict[str, str]:
    return {"ETag": etag(body)} if isinstance(body, Session) else {}  # a session always travels with its ETag


def session_response(session: Session) -> Response[Session]:
    """200 with a session and its ``ETag``."""
    return Response(status_code=HTTPStatus.OK, content_type=_JSON, body=session, headers=_headers_of(session))


def ndjson_response(lines: list[str], next_token: str | None) -> Response[str]:
    """200 with ``lines`` as NDJSON (each ends with a newline) and ``next_token`` in the ``Next-Token`` header
    (none on the last page)."""
    headers = {NEXT_TOKEN_HEADER: next_token} if next_token else None
    body = "".join(f"{line}\n" for line in lines)
    return Response(status_code=HTTPStatus.OK, content_type=NDJSON_MEDIA_TYPE, body=body, headers=headers)


def health_response(report: HealthDetailed) -> Response[HealthDetailed]:
    """200 when the table answered, else the same body with the 503 and ``Retry-After`` of
    :class:`~session_service.errors.StoreUnavailable`."""
    if report.database_connected:
        return Response(status_code=HTTPStatus.OK, content_type=_JSON, body=report)
    answer = ERROR_ANSWERS[errors.StoreUnavailable]
    return Response(status_code=answer.status, content_type=_JSON, body=report, headers=answer.headers)


def create_once(
    app: APIGatewayRestResolver,
    operation: str,
    caller: str,
    key: str | None,
    request: BaseModel,
    write: Callable[[WriteGuard | None], BaseModel | tuple[BaseModel, bool]],
) -> Response[Any]:
    """Answer a POST create, at most once per ``Idempotency-Key`` ``key`` (:mod:`session_service.idempotency`).

    ``operation`` names the route and its target (``"add_message:<session_id>"``), ``caller`` the user the
    record belongs to, ``request`` the body a retry must repeat. ``write`` performs the write, given the
    :class:`~session_service.idempotency.WriteGuard` that keeps a retry of an applied write from writing
    again (``None`` without a key), and returns
    what it created (201), or ``(model, created)`` when it may find the caller's existing one instead (200
    when ``created`` is false); a session travels with its ``ETag``. A retry with the same ``key`` and
    ``request`` replays the first answer without writing.
    Raises what :func:`~session_service.idempotency.run_once` raises.
    """

    payload = request.model_dump(mode="json")
    guard = guard_for(caller, operation, key, payload)

    def execute() -> dict[str, Any]:
        result = write(guard)
        body, created = result if isinstance(result, tuple) else (result, True)
        status = HTTPStatus.CREATED if created else HTTPStatus.OK
        return {"status": status.value, "body": body.model_dump(mode="json"), "headers": _headers_of(body)}

    answer = run_once(
        operation=operation,
        caller=caller,
        key=key,
        payload=payload,
        produce=execute,
        lambda_context=app.lambda_context,
    )
    return Response(
        status_code=answer["status"], content_type=_JSON, body=answer["body"], headers=answer["headers"] or None
    )


def entry(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point for ``app``: structured logs with the API Gateway request id as correlation
    id, and the metrics the invocation recorded published after it (see
    :func:`session_service.observability.publish_metrics`)."""

    @publish_metrics
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return lambda_handler
