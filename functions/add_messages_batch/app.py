"""POST /api/v1/sessions/{session_id}/messages:batch: import up to 99 messages, all or nothing."""

from aws_lambda_powertools.event_handler import Response

from session_service.http import SessionIdPath, UserIdQuery, caller, created, entry, make_resolver
from session_service.models import MessageBatchCreate, MessageBatchResult
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions/<session_id>/messages:batch")
def add_messages_batch(
    session_id: SessionIdPath, body: MessageBatchCreate, user_id: UserIdQuery = None
) -> Response[MessageBatchResult]:
    messages = repository().append_messages(session_id, caller(app, user_id), body.messages)
    return created(MessageBatchResult(messages=messages, total=len(messages)))


lambda_handler = entry(app)
