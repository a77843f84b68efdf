"""POST /api/v1/sessions/{session_id}/messages/{message_id}/chunks: the next chunk of a streamed reply."""

from session_service import http
from session_service.errors import MessageConflict, MessageNotFound, PayloadTooLarge, SessionNotActive
from session_service.models import ChunkCreate, Message
from session_service.wiring import repository

app = http.make_resolver()


@app.post(
    "/api/v1/sessions/<session_id>/messages/<message_id>/chunks",
    summary="Append the next chunk (consecutive index from 0) to a streamed reply; answers the content so far",
    tags=["messages"],
    responses=http.responses_for(
        MessageNotFound,
        MessageConflict,
        SessionNotActive,
        PayloadTooLarge,
        *http.SESSION_ERRORS,
        *http.BODY_ERRORS,
    ),
)
def add_message_chunk(
    session_id: http.SessionIdPath,
    message_id: http.MessageIdPath,
    body: ChunkCreate,
    user_id: http.UserIdQuery = None,
) -> Message:
    return repository().add_chunk(session_id, http.caller(app, user_id), message_id, body)


lambda_handler = http.entry(app)
