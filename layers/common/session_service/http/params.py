"""The typed parameters of a route (path, query and header), and the checks a handler makes on them: who
the caller is, what an ``If-Match`` names, the 422 of parameters that contradict each other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from session_service import errors
from session_service.data.keys import MAX_POSITION, micros_of
from session_service.errors import AgentNotFound, MessageNotFound, SessionNotFound
from session_service.idempotency import MAX_KEY_CHARS
from session_service.identity import Caller, require_trusted, resolve_caller
from session_service.models import (
    ITEM_ID_PATTERN,
    MAX_EXPORT_LINES,
    SESSION_ID_PATTERN,
    USER_ID_PATTERN,
    SessionTag,
)
from session_service.models.state import AGENT_ID_PATTERN
from session_service.observability import logger, note_caller
from session_service.wiring import settings


class IdPath(Path):  # type: ignore[misc]  # Powertools' Param classes are untyped
    """A path parameter naming a resource: a value that is not a valid id answers as a missing resource.

    SPEC section 4: a path ``session_id`` or ``message_id`` that is not a valid id answers 404 like a
    missing one (so the id's format tells a caller nothing more than a lookup would). ``not_found``
    builds the domain error to raise; the resolver's request validation (:mod:`session_service.http.resolver`)
    raises it before anything else runs.
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
AgentIdPath = Annotated[
    str, IdPath(not_found=AgentNotFound, pattern=AGENT_ID_PATTERN, max_length=128, description="Agent id")
]
PositionPath = Annotated[
    int, Path(ge=0, le=MAX_POSITION, description="A message's position in its agent's conversation, from 0")
]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_POSITION, description="The first position to read, from 0")]
LimitQuery = Annotated[int, Query(ge=1, le=200, description="Messages per page, at most 200")]
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
IncludeQuery = Annotated[
    Literal["state"] | None,
    Query(description="`state`: the session's state in every scope (session, user, namespace) with it, as `state`"),
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
NamespaceQuery = Annotated[
    str | None,
    Query(pattern=USER_ID_PATTERN, max_length=128, description="The namespace; none: the sessions of no namespace"),
]
NamespacePath = Annotated[str, Path(pattern=USER_ID_PATTERN, max_length=128, description="The namespace")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="if-match",
        max_length=64,
        description="The ETag read (the session's, or the document's), for a conditional write: any other tag, an"
        " older session's of the same id included, answers 412",
    ),
]


def invalid_query(name: str, message: str) -> RequestValidationError:
    """The 422 of a query parameter that contradicts another: ``detail`` names it (``["query", name]``)."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message, "input": {}}])


def invalid_body(location: tuple[str, ...], message: str) -> RequestValidationError:
    """The 422 of a body field that contradicts the request (``location``: ``("body", ...)``)."""
    return RequestValidationError([{"type": "value_error", "loc": location, "msg": message, "input": {}}])


def caller(app: APIGatewayRestResolver, claimed: str | None, location: tuple[str, ...] = ("query", "user_id")) -> str:
    """The user the current request acts for (see :func:`session_service.identity.resolve_caller`), named as
    ``caller`` on the invocation's later log lines (the request's own line included).

    When a trusted backend acts for another user (SPEC section 5), the request is logged with both identities
    (``acting_caller``, the verified ``sub``, and ``acting_for``, the user), once, and every later log line of
    the invocation carries them too.
    """
    config = settings()
    identity = resolve_caller(
        app.current_event.raw_event,
        claimed,
        authorizer_enabled=config.authorizer_enabled,
        trusted_groups=config.trusted_groups,
        location=location,
    )
    note_caller(identity.user_id)
    if identity.acting is not None:
        _log_acting(app, identity)
    return identity.user_id


_ACTING = "acting_caller"
"""The key of the resolver's per-request context that remembers the identity logged (a route may ask twice)."""


def _log_acting(app: APIGatewayRestResolver, identity: Caller) -> None:
    if app.context.get(_ACTING) == identity:
        return
    app.context[_ACTING] = identity  # Powertools clears the context after each request
    logger.append_keys(acting_caller=identity.acting, acting_for=identity.user_id)  # cleared at the next invocation
    logger.info("A trusted caller acts for a user")


def require_trusted_caller(app: APIGatewayRestResolver) -> None:
    """Allow the current request only to a trusted backend (a member of ``TRUSTED_GROUPS``) when the authorizer is
    on (:func:`session_service.identity.require_trusted`): what changes a namespace's shared state."""
    config = settings()
    require_trusted(
        app.current_event.raw_event, authorizer_enabled=config.authorizer_enabled, trusted_groups=config.trusted_groups
    )


def user_caller(app: APIGatewayRestResolver, path_user: str, query_user: str | None) -> str:
    """The caller of a route on ``/users/{user_id}`` that acts on that user's own data (erasure, export, usage):
    the path's user, verified as :func:`caller` verifies any claim (so a trusted backend may name any user in the
    path). A ``?user_id=`` that names anyone but the path's user is
    :class:`~session_service.errors.Forbidden` (SPEC section 9: a user erases and reads only their own data)."""
    if query_user is not None and query_user != path_user:
        raise errors.Forbidden("user_id does not match the user in the path")
    return caller(app, path_user, ("path", "user_id"))


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names on a user's or a namespace's state document (its ETag is its
    version alone); ``None`` when absent or ``*``.

    ``If-Match`` uses the strong comparison (RFC 9110 13.1.1): a weak tag (``W/"3"``) never matches, nor
    does anything that is not one of our quoted ETags (an unquoted number, a list); those yield ``-1``, a
    version no document has, so the write answers 412.
    """
    if value is None or value.strip() == "*":
        return None
    inner = _quoted(value)
    return int(inner) if inner.isascii() and inner.isdigit() and len(inner) < 19 else -1


def session_etag(tag: SessionTag) -> str:
    """``"<version>.<incarnation>"``: the version in decimal, the incarnation (the session's ``created_at``) as
    its microseconds since the epoch in base 36 (digits and lower-case letters; exact, 10 characters until
    2085); :func:`parse_session_if_match` reads it back."""
    micros, digits = micros_of(tag.created_at), ""
    while True:
        micros, digit = divmod(micros, 36)
        digits = BASE36[digit] + digits
        if not micros:
            return f'"{tag.version}.{digits}"'


def parse_session_if_match(value: str | None) -> SessionTag | None:
    """The session's version and incarnation an ``If-Match`` header names on the session or on its (or its
    agents') state documents: ``"<version>.<incarnation>"``
    (:func:`session_etag`); ``None`` when absent or ``*``.

    Strong comparison, as :func:`parse_if_match`: a weak tag, a list, a bare version (``"3"``, an ETag of
    before incarnations were named) or any tag we did not make yield :data:`NO_SESSION_TAG`, which no session
    has, so the write answers 412.
    """
    if value is None or value.strip() == "*":
        return None
    version, dot, incarnation = _quoted(value).partition(".")
    canonical = incarnation[:1] != "0" or incarnation == "0"  # one spelling per tag: no leading zero
    if not (dot and _is_number(version) and canonical and 0 < len(incarnation) <= 12):
        return NO_SESSION_TAG
    if not all(char in BASE36 for char in incarnation):
        return NO_SESSION_TAG
    moment = _EPOCH + timedelta(microseconds=int(incarnation, 36))
    return SessionTag(int(version), moment) if moment.year < 10_000 else NO_SESSION_TAG


BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
"""The digits of an ETag's incarnation (:func:`session_etag`)."""
NO_SESSION_TAG = SessionTag(-1, datetime(1970, 1, 1, tzinfo=UTC))
"""What an ``If-Match`` that is not one of our session ETags names: a version no session has."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _quoted(value: str) -> str:
    text = value.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else ""


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 19 and (text[:1] != "0" or text == "0")
