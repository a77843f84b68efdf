"""POST /api/v1/sessions/{session_id}/messages:batch: import up to 98 messages, all or nothing."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import PayloadTooLarge, SessionNotActive
from session_service.idempotency import WriteGuard
from session_service.models import MessageBatchCreate, MessageBatchResult
from session_service.wiring import repository

app = http.make_resolver()


@app.post(
    "/api/v1/sessions/<session_id>/messages:batch",
    summary="Import up to 98 messages into an active session in one transaction: all or none",
    tags=["messages"],
    responses=http.create_responses(PayloadTooLarge, SessionNotActive, *http.SESSION_ERRORS),
)
def add_messages_batch(
    session_id: http.SessionIdPath,
    body: MessageBatchCreate,
    user_id: http.UserIdQuery = None,
    key: http.IdempotencyKey = None,
) -> Response[MessageBatchResult]:
    owner = http.caller(app, user_id)

    def write(guard: WriteGuard | None) -> MessageBatchResult:
        messages = repository().append_messages(session_id, owner, body.messages, guard)
        return MessageBatchResult(messages=messages, total=len(messages))

    return http.create_once(app, f"add_messages_batch:{session_id}", owner, key, body, write)


lambda_handler = http.entry(app)
