"""Domain exceptions: what went wrong, in the service's words.

They carry no HTTP: :data:`session_service.http.ERROR_ANSWERS` maps each type to its status, headers and
body, in one table, and the stream function raises the same types without answering anyone.
"""

from __future__ import annotations


class SessionServiceError(Exception):
    """Base of the service's own errors; ``detail`` is a sentence a caller may read."""

    detail = "Internal server error"

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


class SessionNotFound(SessionServiceError):
    """The session does not exist, belongs to someone else, or has expired (SPEC section 5)."""

    detail = "Session not found"


class TooManyModels(SessionServiceError):
    """The session's messages would name more than ``MAX_MODELS_PER_SESSION`` distinct (provider, model) pairs."""

    detail = "A session's messages name at most 16 distinct (provider, model) pairs"


class ErasureNotFound(SessionServiceError):
    """No erasure of that user was ever asked for (or its progress record expired, 30 days after it finished)."""

    detail = "No erasure of this user"


class UserErasing(SessionServiceError):
    """The caller's data is being erased (SPEC section 9): nothing new is stored until the erasure finished."""

    detail = "The user's data is being erased; retry once GET /users/{user_id}/erasure says erased"


class SessionIdTaken(SessionServiceError):
    """A create named a ``session_id`` that another user owns or that is still being expired."""

    detail = "Session id already exists"


class InvalidStatusTransition(SessionServiceError):
    """The requested status is not reachable from the current one (seed 002's state machine)."""

    def __init__(self, current: str, requested: str) -> None:
        self.current, self.requested = current, requested
        super().__init__(f"Cannot change session status from '{current}' to '{requested}'")


class NoNamespace(SessionServiceError):
    """A change of a namespace's state named a session in no namespace."""

    detail = "The session is in no namespace: it has no namespace state"


class SessionNotActive(SessionServiceError):
    """Messages and memory records are accepted only by an ``active`` session."""

    detail = "Session is not active"


class MessageNotFound(SessionServiceError):
    """No message with that id in the caller's live session (missing, deleted, or another user's)."""

    detail = "Message not found"


class AgentNotFound(SessionServiceError):
    """The session has no agent with this id (or the session is missing, another user's, or expired)."""

    detail = "Agent not found"


class AgentExists(SessionServiceError):
    """A create named an agent the session has already."""

    detail = "The session has this agent already"


class DeletionsPending(SessionServiceError):
    """A truncation of a session that already holds ``MAX_PENDING_CUTS`` truncations the stream function has not
    applied yet (:data:`~session_service.rules.MAX_PENDING_CUTS`): it waits until the stream catches up."""

    detail = (
        "Earlier deletions of this session are still being applied (the stream function is catching up); "
        "retry after Retry-After seconds"
    )


class MessageConflict(SessionServiceError):
    """A message change that contradicts the stored message (SPEC section 8): a ``message_id`` reused with
    another body, a chunk out of order or with other content, a streamed reply finalized differently, or a
    change of a reply still ``in_progress``."""

    detail = "The message is in another state"


class SessionReadOnly(SessionServiceError):
    """An ``ended`` session is read-only."""

    detail = "Session is ended and read-only"


class PreconditionFailed(SessionServiceError):
    """``If-Match`` named a version (ETag) that is no longer current."""

    detail = "Session was modified: ETag does not match"


class InvalidCursor(SessionServiceError):
    """A ``next_token`` that was tampered with, or issued for another caller or listing."""

    detail = "Invalid next_token"


class Unauthorized(SessionServiceError):
    """The authorizer is on but the request carries no verified identity."""

    detail = "Not authenticated"


class Forbidden(SessionServiceError):
    """The request names a ``user_id`` other than the verified caller, or lacks the admin group."""

    detail = "Forbidden"


class PayloadTooLarge(SessionServiceError):
    """A batch larger than one DynamoDB transaction can carry (4 MB, an AWS limit)."""

    detail = "Request too large"


class IdempotencyKeyReused(SessionServiceError):
    """An ``Idempotency-Key`` already used with a different request body."""

    detail = "Idempotency-Key was already used with a different request body"


class ServiceUnavailable(SessionServiceError):
    """DynamoDB throttled us or a transaction kept conflicting: a retry soon is likely to succeed."""

    detail = "Service temporarily unavailable, retry later"


class StoreUnavailable(SessionServiceError):
    """The table cannot be reached or does not exist (seed 002's "not initialized" answer)."""

    detail = "Session service not initialized"
