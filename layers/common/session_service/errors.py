"""Domain exceptions. Each carries its HTTP status; :mod:`session_service.http` maps them in one place."""

from __future__ import annotations


class SessionServiceError(Exception):
    """Base of every error the API answers with a 4xx/5xx and a ``detail``."""

    status_code = 500
    detail = "Internal server error"

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers (for example ``Retry-After``)."""
        return {}


class SessionNotFound(SessionServiceError):
    """404: the session does not exist, belongs to someone else, or has expired (SPEC section 5)."""

    status_code = 404
    detail = "Session not found"


class SessionIdTaken(SessionServiceError):
    """409: a create named a ``session_id`` that another user owns or that is still being expired."""

    status_code = 409
    detail = "Session id already exists"


class InvalidStatusTransition(SessionServiceError):
    """409: the requested status is not reachable from the current one (seed 002's state machine)."""

    status_code = 409

    def __init__(self, current: str, requested: str) -> None:
        self.current, self.requested = current, requested
        super().__init__(f"Cannot change session status from '{current}' to '{requested}'")


class SessionNotActive(SessionServiceError):
    """409: messages and memory records are accepted only by an ``active`` session."""

    status_code = 409
    detail = "Session is not active"


class SessionReadOnly(SessionServiceError):
    """409: an ``ended`` session is read-only."""

    status_code = 409
    detail = "Session is ended and read-only"


class PreconditionFailed(SessionServiceError):
    """412: ``If-Match`` named a version (ETag) that is no longer current."""

    status_code = 412
    detail = "Session was modified: ETag does not match"


class InvalidCursor(SessionServiceError):
    """400: a ``next_token`` that was tampered with, or issued for another caller or listing."""

    status_code = 400
    detail = "Invalid next_token"


class Unauthorized(SessionServiceError):
    """401: the authorizer is on but the request carries no verified identity."""

    status_code = 401
    detail = "Not authenticated"


class Forbidden(SessionServiceError):
    """403: the request names a ``user_id`` other than the verified caller, or lacks the admin group."""

    status_code = 403
    detail = "Forbidden"


class PayloadTooLarge(SessionServiceError):
    """413: a batch larger than one DynamoDB transaction can carry (4 MB, an AWS limit)."""

    status_code = 413
    detail = "Request too large"


class ServiceUnavailable(SessionServiceError):
    """503 with ``Retry-After``: DynamoDB throttled us or a transaction kept conflicting."""

    status_code = 503
    detail = "Service temporarily unavailable, retry later"
    retry_after_seconds = 1

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class StoreUnavailable(SessionServiceError):
    """503: the table cannot be reached at all (seed 002's "not initialized" answer)."""

    status_code = 503
    detail = "Session service not initialized"
