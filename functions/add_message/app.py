"""POST /api/v1/sessions/{session_id}/messages: append one message and count it, atomically."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import SessionNotActive
from session_service.idempotency import WriteGuard
from session_service.models import Message, MessageCreate
from session_service.wiring import repository

app = http.make_resolver()


@app.post(
    "/api/v1/sessions/<session_id>/messages",
    summary="Append a message to an active session, counting its tokens and cost",
    tags=["messages"],
    responses=http.create_responses(SessionNotActive, *http.SESSION_ERRORS),
)
def add_message(
    session_id: http.SessionIdPath,
    body: MessageCreate,
    user_id: http.UserIdQuery = None,
    key: http.IdempotencyKey = None,
) -> Response[Message]:
    owner = http.caller(app, user_id)

    def write(guard: WriteGuard | None) -> Message:
        (message,) = repository().append_messages(session_id, owner, [body], guard)
        return message

    return http.create_once(app, f"add_message:{session_id}", owner, key, body, write)


lambda_handler = http.entry(app)
