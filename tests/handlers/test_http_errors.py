"""The one error table (session_service.http.ERROR_ANSWERS): every exception type answers the status, headers
and body it always has, domain exceptions carry no HTTP, and every 503 says when to retry."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from session_service import errors, idempotency, identity
from session_service.errors import (
    IdempotencyKeyReused,
    InvalidStatusTransition,
    ServiceUnavailable,
    SessionNotFound,
    StoreUnavailable,
)
from session_service.http import ERROR_ANSWERS, error_response, responses_for
from session_service.identity import MissingUserId

STATUSES = {
    "InvalidCursor": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "SessionNotFound": 404,
    "MessageNotFound": 404,
    "AgentNotFound": 404,
    "AgentExists": 409,
    "NoNamespace": 409,
    "SessionIdTaken": 409,
    "InvalidStatusTransition": 409,
    "SessionNotActive": 409,
    "SessionReadOnly": 409,
    "MessageConflict": 409,
    "IdempotencyInProgress": 409,
    "ErasureNotFound": 404,
    "UserErasing": 409,
    "TooManyModels": 422,
    "PreconditionFailed": 412,
    "PayloadTooLarge": 413,
    "DeletionsPending": 429,
    "MissingUserId": 422,
    "IdempotencyKeyReused": 422,
    "ServiceUnavailable": 503,
    "StoreUnavailable": 503,
}
"""The statuses the API answers (SPEC sections 4, 8 and 9)."""


def domain_exceptions() -> list[type[errors.SessionServiceError]]:
    found = {
        cls
        for module in (errors, identity, idempotency)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, errors.SessionServiceError) and cls is not errors.SessionServiceError
    }
    return sorted(found, key=lambda cls: cls.__name__)


def answer(exc: Exception) -> tuple[int, Any, dict[str, str]]:
    response = error_response(exc)
    extra = {name: value for name, value in response.headers.items() if name != "Content-Type"}
    return response.status_code, response.body, extra


def test_every_domain_exception_has_its_own_entry_and_status() -> None:
    assert {cls.__name__: ERROR_ANSWERS[cls].status for cls in domain_exceptions()} == STATUSES


@pytest.mark.parametrize("cls", domain_exceptions(), ids=lambda cls: cls.__name__)
def test_domain_exceptions_carry_no_http(cls: type[Exception]) -> None:
    assert not {"status_code", "headers", "retry_after_seconds"} & set(dir(cls))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (SessionNotFound(), (404, {"detail": "Session not found"}, {})),
        (
            InvalidStatusTransition("ended", "active"),
            (409, {"detail": "Cannot change session status from 'ended' to 'active'"}, {}),
        ),
        (ServiceUnavailable(), (503, {"detail": "Service temporarily unavailable, retry later"}, {"Retry-After": "1"})),
        (StoreUnavailable(), (503, {"detail": "Session service not initialized"}, {"Retry-After": "5"})),
        (
            MissingUserId(("body", "user_id")),
            (422, {"detail": [{"type": "missing", "loc": ["body", "user_id"], "msg": "Field required"}]}, {}),
        ),
        (NotFoundError(), (404, {"detail": "Not Found"}, {})),
        (KeyError("internal name"), (500, {"detail": "Internal server error"}, {})),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_answers(exc: Exception, expected: tuple[int, Any, dict[str, str]]) -> None:
    assert answer(exc) == expected


def test_a_reused_idempotency_key_is_answered_like_a_validation_error() -> None:
    status, body, _ = answer(IdempotencyKeyReused())
    assert status == 422
    assert body["detail"] == [
        {
            "type": "idempotency_key_reused",
            "loc": ["header", "idempotency-key"],
            "msg": "Idempotency-Key was already used with a different request body",
        }
    ]


def test_request_validation_keeps_type_loc_msg_only() -> None:
    exc = RequestValidationError([{"type": "missing", "loc": ("query", "x"), "msg": "Field required", "input": {}}])
    assert answer(exc) == (422, {"detail": [{"type": "missing", "loc": ["query", "x"], "msg": "Field required"}]}, {})


def test_the_lookup_walks_the_mro() -> None:
    class Gone(SessionNotFound):
        """A subclass the table does not name."""

    assert answer(Gone()) == (404, {"detail": "Session not found"}, {})


def test_a_route_may_only_declare_errors_the_table_names() -> None:
    class Unlisted(SessionNotFound):
        """Answered through its base class, but a route must declare what the table documents."""

    with pytest.raises(KeyError, match="Unlisted"):
        responses_for(Unlisted)
    assert set(responses_for(SessionNotFound, ServiceUnavailable)) == {200, 404, 503}


def test_a_missing_table_is_503_with_retry_after(aws: None, api_without_table: Any) -> None:
    api = api_without_table
    status, body, headers = api("GET", "/api/v1/users/someone/sessions")
    assert (status, body, headers["Retry-After"]) == (503, {"detail": "Session service not initialized"}, "5")
    status, body, headers = api("GET", "/health/detailed")
    assert (status, body["status"], headers["Retry-After"]) == (503, "degraded", "5")
    assert api("GET", "/health")[0] == 200


def test_a_missing_user_id_through_a_route(api: Any) -> None:
    status, body, headers = api("GET", "/api/v1/sessions/7e02708b-ad2d-44d6-a851-d02d97137757")
    assert (status, body) == (
        422,
        {"detail": [{"type": "missing", "loc": ["query", "user_id"], "msg": "Field required"}]},
    )
    assert "Retry-After" not in headers
