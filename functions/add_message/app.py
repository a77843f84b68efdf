"""POST /api/v1/sessions/{session_id}/messages: append one message and count it, atomically."""

from aws_lambda_powertools.event_handler import Response

from session_service.http import SessionIdPath, UserIdQuery, caller, created, entry, make_resolver
from session_service.models import Message, MessageCreate
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions/<session_id>/messages")
def add_message(session_id: SessionIdPath, body: MessageCreate, user_id: UserIdQuery = None) -> Response[Message]:
    (message,) = repository().append_messages(session_id, caller(app, user_id), [body])
    return created(message)


lambda_handler = entry(app)
