"""GET /api/v1/sessions/{session_id}/messages/{message_id}: one message (a streamed reply with its content so far)."""

from session_service import http
from session_service.errors import MessageNotFound
from session_service.models import Message
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/messages/<message_id>",
    summary="Get one message by id (a streamed reply in progress shows its content so far)",
    tags=["messages"],
    responses=http.responses_for(MessageNotFound, *http.SESSION_ERRORS),
)
def get_message(
    session_id: http.SessionIdPath, message_id: http.MessageIdPath, user_id: http.UserIdQuery = None
) -> Message:
    return repository().get_message(session_id, http.caller(app, user_id), message_id)


lambda_handler = http.entry(app)
