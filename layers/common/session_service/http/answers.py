"""The one error table: every HTTP status the service answers, and the responses each route documents.

:data:`ERROR_ANSWERS` maps each exception type to its status, headers and body, and feeds both the one
exception handler (:func:`error_response`) and each route's documented ``responses``
(:func:`responses_for`); success statuses come from :mod:`session_service.http.responses`, documented here
beside the errors (:data:`OK`, :data:`SESSION`, :data:`CREATED`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.constants import DEFAULT_OPENAPI_RESPONSE_DESCRIPTION
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ValidationException,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field

from session_service import errors
from session_service.errors import IdempotencyKeyReused
from session_service.idempotency import IdempotencyInProgress
from session_service.identity import MissingUserId
from session_service.observability import logger, metrics


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
    errors.NoNamespace: ErrorAnswer(HTTPStatus.CONFLICT, "The session is in no namespace: it has no namespace state"),
    errors.MessageNotFound: ErrorAnswer(
        HTTPStatus.NOT_FOUND, "Message not found: missing, deleted, or in another user's or an expired session"
    ),
    errors.MessageConflict: ErrorAnswer(
        HTTPStatus.CONFLICT, "The message is in another state: another body for its id, a chunk out of order, ..."
    ),
    errors.AgentNotFound: ErrorAnswer(
        HTTPStatus.NOT_FOUND, "Agent not found: the session has none with this id, or the session is not found"
    ),
    errors.AgentExists: ErrorAnswer(HTTPStatus.CONFLICT, "The session has an agent with this id already"),
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
    errors.DeletionsPending: ErrorAnswer(
        HTTPStatus.TOO_MANY_REQUESTS,
        "The session already holds 20 truncations the stream function is still applying; retry after `Retry-After`"
        " seconds",
        retry_after=2,
    ),
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


# -- the documented responses of a route, from the same table ------------------------------------------------

_JSON = content_types.APPLICATION_JSON
_RETRY_AFTER_DOC: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
_ETAG_DOC: dict[str, OpenAPIResponseHeader] = {
    "ETag": {
        "description": 'The session\'s version and incarnation (`"<version>.<incarnation>"`), for `If-Match`',
        "schema": {"type": "string"},
    }
}

OK: Mapping[int, OpenAPIResponse] = {HTTPStatus.OK.value: {"description": DEFAULT_OPENAPI_RESPONSE_DESCRIPTION}}
"""A read's success; the body is the route's return model (Powertools fills it in)."""
SESSION: Mapping[int, OpenAPIResponse] = {
    HTTPStatus.OK.value: {"description": "The session, with its ETag", "headers": _ETAG_DOC}
}
"""A success that returns a session (:func:`~session_service.http.responses.session_response`)."""
STATE: Mapping[int, OpenAPIResponse] = {
    HTTPStatus.OK.value: {
        "description": "The state document, with its ETag",
        "headers": {
            "ETag": {
                "description": "The document's version, for `If-Match`: with the session's incarnation for a"
                " session's or an agent's document (`\"<version>.<incarnation>\"`), alone for a user's or a"
                ' namespace\'s (`"<version>"`)',
                "schema": {"type": "string"},
            }
        },
    }
}
"""A success that returns a state document (:func:`~session_service.http.responses.state_response`)."""
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
                    "description": "One JSON object a line: a Session, Message, Memory, SharedStateDocument (a "
                    "user's) or StateDocument (a session's or an agent's) with `type`: `session`, `message`, "
                    "`memory`, `user_state` or `session_state`",
                }
            }
        },
    }
}
"""The export's success: NDJSON lines, the cursor in a header (SPEC section 9)."""
CREATED: Mapping[int, OpenAPIResponse] = {HTTPStatus.CREATED.value: {"description": "Created"}}
"""A create's success (:func:`~session_service.http.responses.create_once`)."""
APPEND_ETAG: dict[str, OpenAPIResponseHeader] = {
    "ETag": {
        "description": "The session's ETag (version and incarnation) after an append with `If-Match`, or its"
        " current one when the messages were stored already (a repeated append); absent otherwise",
        "schema": {"type": "string"},
    }
}
"""The header of an append's success: the new ETag when the append named the version it read, the current one
when it found its messages stored already."""
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
"""``GET /health/detailed`` (:func:`~session_service.http.responses.health_response`): the same body either way."""

Errors = tuple[type[Exception], ...]
CALLER_ERRORS: Errors = (MissingUserId, errors.Unauthorized, errors.Forbidden)
"""What :func:`~session_service.http.params.caller` raises."""
STORE_ERRORS: Errors = (errors.ServiceUnavailable, errors.StoreUnavailable)
"""What any repository call can raise."""
PARAMETER_ERRORS: Errors = (NotFoundError, RequestValidationError)
"""What a route with path or query parameters can answer: a path no route matches, a value that breaks its type."""
SESSION_ERRORS: Errors = (errors.SessionNotFound, *PARAMETER_ERRORS, *CALLER_ERRORS, *STORE_ERRORS)
"""What every route under ``/api/v1/sessions/{session_id}`` can answer."""
USER_ERRORS: Errors = (*PARAMETER_ERRORS, *CALLER_ERRORS)
"""What every route under ``/api/v1/users/{user_id}`` acting on the user's own data can answer
(:func:`~session_service.http.params.user_caller`)."""
BODY_ERRORS: Errors = (RequestValidationError, RequestUnsupportedContentType)
"""What a route with a JSON body can answer."""
CREATE_ERRORS: Errors = (*BODY_ERRORS, IdempotencyKeyReused, IdempotencyInProgress, *STORE_ERRORS)
"""What :func:`~session_service.http.responses.create_once` and a create's body can answer."""


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
    """A create's ``responses=`` (a route that answers with :func:`~session_service.http.responses.create_once`):
    :func:`responses_for` with :data:`CREATE_ERRORS` added to ``errors``."""
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
