"""PATCH /api/v1/sessions/{session_id}/messages/{message_id}: change a message, or finalize a streamed reply."""

from session_service import http
from session_service.errors import MessageConflict, MessageNotFound, PayloadTooLarge, SessionNotActive
from session_service.models import Message, MessageUpdate
from session_service.wiring import repository

app = http.make_resolver()


@app.patch(
    "/api/v1/sessions/<session_id>/messages/<message_id>",
    summary="Change a message's metadata, data, model fields, content, tokens or cost, or finalize a streamed reply",
    tags=["messages"],
    responses=http.responses_for(
        MessageNotFound, MessageConflict, PayloadTooLarge, SessionNotActive, *http.SESSION_ERRORS, *http.BODY_ERRORS
    ),
)
def update_message(
    session_id: http.SessionIdPath,
    message_id: http.MessageIdPath,
    body: MessageUpdate,
    user_id: http.UserIdQuery = None,
) -> Message:
    return repository().update_message(session_id, http.caller(app, user_id), message_id, body)


lambda_handler = http.entry(app)
