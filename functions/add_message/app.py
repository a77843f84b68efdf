"""POST /api/v1/sessions/{session_id}/messages: append one message and count it, atomically (If-Match: only on
the session's version read; the answer carries the new ETag)."""

from collections.abc import Mapping

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from session_service import http
from session_service.data.guard import WriteGuard
from session_service.errors import (
    Forbidden,
    MessageConflict,
    NoNamespace,
    PayloadTooLarge,
    PreconditionFailed,
    SessionNotActive,
)
from session_service.models import Message, MessageCreate, SessionTag
from session_service.observability import count_messages
from session_service.wiring import repository

app = http.make_resolver()

APPENDED: Mapping[int, OpenAPIResponse] = {
    200: {
        "description": "The message's client-chosen `message_id` was stored with this body before: unchanged",
        "headers": http.APPEND_ETAG,
    },
    201: {"description": "Created", "headers": http.APPEND_ETAG},
}
"""Created, or (SPEC section 8) the same `message_id` and body again finding the stored message."""


@app.post(
    "/api/v1/sessions/<session_id>/messages",
    summary="Append a message to an active session, counting its tokens and cost",
    tags=["messages"],
    responses=http.create_responses(
        MessageConflict,
        SessionNotActive,
        PreconditionFailed,
        PayloadTooLarge,
        NoNamespace,
        Forbidden,
        *http.SESSION_ERRORS,
        success=APPENDED,
    ),
)
def add_message(
    session_id: http.SessionIdPath,
    body: MessageCreate,
    user_id: http.UserIdQuery = None,
    key: http.IdempotencyKey = None,
    if_match: http.IfMatch = None,
) -> Response[Message]:
    owner = http.caller(app, user_id)
    if body.namespace_state is not None:  # a namespace's shared state: a trusted caller's only
        http.require_trusted_caller(app)
    version = http.parse_session_if_match(if_match)

    def write(guard: WriteGuard | None) -> tuple[Message, bool, SessionTag | None]:
        appended = repository().append_messages(session_id, owner, [body], guard, if_match=version)
        (message,) = appended
        if appended.created:
            count_messages(appended)
        return message, appended.created, appended.version

    return http.create_once(app, f"add_message:{session_id}", owner, key, body, write)


lambda_handler = http.entry(app)
