"""DELETE /api/v1/sessions/{session_id}/messages/{message_id}: delete one message, counters adjusted atomically."""

from session_service import http
from session_service.errors import MessageNotFound, SessionNotActive
from session_service.models import DeleteResult
from session_service.wiring import repository

app = http.make_resolver()


@app.delete(
    "/api/v1/sessions/<session_id>/messages/<message_id>",
    summary="Delete one message and take its tokens and cost off the session's counters",
    tags=["messages"],
    responses=http.responses_for(MessageNotFound, SessionNotActive, *http.SESSION_ERRORS),
)
def delete_message(
    session_id: http.SessionIdPath, message_id: http.MessageIdPath, user_id: http.UserIdQuery = None
) -> DeleteResult:
    deleted = repository().delete_message(session_id, http.caller(app, user_id), message_id)
    return DeleteResult(deleted=deleted)


lambda_handler = http.entry(app)
