"""HTTP wiring shared by every handler: the resolver factory, typed parameters, the one error table, responses.

A handler module does ``app = http.make_resolver()``, declares its one route with the typed parameters
(and ``responses=http.responses_for(<the errors it can raise>)``), calls one layer function, and exports
``lambda_handler = http.entry(app)``. The package, by job:

* :mod:`~session_service.http.resolver`: the resolver factory, with the strict request validation and the
  exact-numbers response serialization;
* :mod:`~session_service.http.answers`: the one error table (:data:`ERROR_ANSWERS`), the answer to an
  exception, and the responses each route documents;
* :mod:`~session_service.http.params`: typed path, query and header parameters, the caller, ``If-Match``;
* :mod:`~session_service.http.responses`: success responses, the once-only create, the Lambda entry point.

This module re-exports what handlers use as ``http.X`` (and the table, :func:`error_response` and
:class:`IdPath`, which tests use).
"""

from __future__ import annotations

from session_service.http.answers import (
    APPEND_ETAG,
    BODY_ERRORS,
    CALLER_ERRORS,
    ERROR_ANSWERS,
    EXISTS,
    EXPORT,
    HEALTH,
    PARAMETER_ERRORS,
    SESSION,
    SESSION_CREATED,
    SESSION_ERRORS,
    STATE,
    STORE_ERRORS,
    USER_ERRORS,
    create_responses,
    error_response,
    responses_for,
)
from session_service.http.params import (
    AgentIdPath,
    ExportPageSizeQuery,
    IdempotencyKey,
    IdPath,
    IfMatch,
    IncludeQuery,
    LimitQuery,
    MessageIdPath,
    NamespacePath,
    NamespaceQuery,
    NextTokenQuery,
    OffsetQuery,
    PageQuery,
    PageSizeQuery,
    PositionPath,
    SessionIdPath,
    UserIdAlsoQuery,
    UserIdPath,
    UserIdQuery,
    caller,
    invalid_body,
    invalid_query,
    parse_if_match,
    parse_session_if_match,
    require_trusted_caller,
    user_caller,
)
from session_service.http.resolver import make_resolver
from session_service.http.responses import (
    create_once,
    entry,
    health_response,
    ndjson_response,
    session_response,
    state_response,
)

__all__ = [
    "APPEND_ETAG",
    "BODY_ERRORS",
    "CALLER_ERRORS",
    "ERROR_ANSWERS",
    "EXISTS",
    "EXPORT",
    "HEALTH",
    "PARAMETER_ERRORS",
    "SESSION",
    "SESSION_CREATED",
    "SESSION_ERRORS",
    "STATE",
    "STORE_ERRORS",
    "USER_ERRORS",
    "AgentIdPath",
    "ExportPageSizeQuery",
    "IdPath",
    "IdempotencyKey",
    "IfMatch",
    "IncludeQuery",
    "LimitQuery",
    "MessageIdPath",
    "NamespacePath",
    "NamespaceQuery",
    "NextTokenQuery",
    "OffsetQuery",
    "PageQuery",
    "PageSizeQuery",
    "PositionPath",
    "SessionIdPath",
    "UserIdAlsoQuery",
    "UserIdPath",
    "UserIdQuery",
    "caller",
    "create_once",
    "create_responses",
    "entry",
    "error_response",
    "health_response",
    "invalid_body",
    "invalid_query",
    "make_resolver",
    "ndjson_response",
    "parse_if_match",
    "parse_session_if_match",
    "require_trusted_caller",
    "responses_for",
    "session_response",
    "state_response",
    "user_caller",
]
