"""Typed errors: one class per status the API answers, plus connection and timeout failures.

Every error carries ``detail``: the answer's ``detail`` (a sentence, or for 415/422 the list of
``{type, loc, msg}`` problems), or what went wrong on the way for a connection failure.
"""

from __future__ import annotations

from typing import Any

import httpx


class SessionServiceError(Exception):
    """Anything the client raises about a call; ``detail`` says what went wrong."""

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail


class APIConnectionError(SessionServiceError):
    """No answer: the connection failed or broke before a response came (retried where that is safe)."""


class APITimeoutError(APIConnectionError):
    """No answer within the client's ``timeout`` (retried where that is safe)."""


class APIStatusError(SessionServiceError):
    """The service answered with an error status; ``status_code``, ``headers`` and ``response`` are its own."""

    status_code: int = 0

    def __init__(self, detail: Any, response: httpx.Response) -> None:
        super().__init__(detail)
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers


class BadRequest(APIStatusError):
    """400: a ``next_token`` tampered with, or issued for another caller or listing."""


class Unauthorized(APIStatusError):
    """401: no verified caller (the authorizer is on and no valid token was sent)."""


class Forbidden(APIStatusError):
    """403: ``user_id`` is not the verified caller's, or the caller lacks a needed group."""


class NotFound(APIStatusError):
    """404: no such session, message or erasure (or another user's, or expired)."""


class Conflict(APIStatusError):
    """409: the resource is in another state (session not active, id taken, status transition...)."""


class PreconditionFailed(APIStatusError):
    """412: ``if_match`` does not name the session's current ETag: read it again."""


class PayloadTooLarge(APIStatusError):
    """413: the request is too large for one transaction."""


class UnsupportedMediaType(APIStatusError):
    """415: the body is not JSON (the client never sends one that is not)."""


class Unprocessable(APIStatusError):
    """422: the request breaks the schema; ``detail`` lists each problem as ``{type, loc, msg}``."""


class RateLimited(APIStatusError):
    """429: API Gateway's throttling, or the service's own: a truncation while 20 earlier ones of the session
    are still pending (``retry_after`` says when to try again). Retried where that is safe, honouring
    ``Retry-After`` (a truncation is: repeated, it answers the same count)."""

    @property
    def retry_after(self) -> float | None:
        """Seconds the answer asked to wait, if it said."""
        return retry_after_seconds(self.headers)


class ServerError(APIStatusError):
    """Another 5xx (a gateway error, a bug of the service)."""


class ServiceUnavailable(ServerError):
    """503: throttled, or the table unreachable; ``retry_after`` is the answer's ``Retry-After`` in seconds."""

    @property
    def retry_after(self) -> float | None:
        """Seconds the answer asked to wait, if it said."""
        return retry_after_seconds(self.headers)


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    429: RateLimited,
    503: ServiceUnavailable,
}
"""The error class of each status the service (or API Gateway in front of it) answers."""


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The ``Retry-After`` header in seconds (the service sends delay-seconds), or ``None``."""
    value = headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def error_for(response: httpx.Response) -> APIStatusError:
    """The typed error of an error ``response``, carrying its ``detail`` (or its text when it has none)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = (
        body["detail"] if isinstance(body, dict) and "detail" in body else (response.text or response.reason_phrase)
    )
    cls = STATUS_ERRORS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else APIStatusError
    return cls(detail, response)
