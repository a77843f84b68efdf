"""POST /api/v1/sessions/{session_id}/messages:batch: import up to 98 messages, in one transaction when they fit
one (all or nothing), else in transactions of 49 in order that a resend of the same batch completes (If-Match or a
`state` change: one transaction only; the answer to If-Match carries the new ETag)."""

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
from session_service.models import MessageBatchCreate, MessageBatchResult, SessionTag
from session_service.observability import count_messages
from session_service.repository import SharedChanges
from session_service.wiring import repository

app = http.make_resolver()

APPENDED: Mapping[int, OpenAPIResponse] = {
    200: {
        "description": "Every message named its `message_id` and was stored with this body before: unchanged",
        "headers": http.APPEND_ETAG,
    },
    201: {"description": "Created", "headers": http.APPEND_ETAG},
}
"""Created, or (SPEC section 8) the same batch of client-chosen `message_id`s and bodies finding the stored ones."""


@app.post(
    "/api/v1/sessions/<session_id>/messages:batch",
    summary="Import up to 98 messages into an active session: all or none when they fit one transaction",
    tags=["messages"],
    responses=http.create_responses(
        MessageConflict,
        PayloadTooLarge,
        PreconditionFailed,
        SessionNotActive,
        NoNamespace,
        Forbidden,
        *http.SESSION_ERRORS,
        success=APPENDED,
    ),
)
def add_messages_batch(
    session_id: http.SessionIdPath,
    body: MessageBatchCreate,
    user_id: http.UserIdQuery = None,
    key: http.IdempotencyKey = None,
    if_match: http.IfMatch = None,
) -> Response[MessageBatchResult]:
    owner = http.caller(app, user_id)
    if body.namespace_state is not None:  # a namespace's shared state: a trusted caller's only
        http.require_trusted_caller(app)
    version = http.parse_session_if_match(if_match)
    shared = SharedChanges(body.user_state, body.namespace_state)

    def write(guard: WriteGuard | None) -> tuple[MessageBatchResult, bool, SessionTag | None]:
        appended = repository().append_messages(
            session_id, owner, body.messages, guard, if_match=version, state=body.state, shared=shared
        )
        count_messages(appended.new())
        return MessageBatchResult(messages=appended, total=len(appended)), appended.created, appended.version

    return http.create_once(app, f"add_messages_batch:{session_id}", owner, key, body, write)


lambda_handler = http.entry(app)
