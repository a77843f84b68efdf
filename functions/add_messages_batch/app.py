"""POST /api/v1/sessions/{session_id}/messages:batch: import up to 99 messages, all or nothing."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from session_service.http import (
    IdempotencyKeyHeader,
    SessionIdPath,
    UserIdQuery,
    caller,
    entry,
    make_resolver,
    once,
)
from session_service.models import MessageBatchCreate, MessageBatchResult
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions/<session_id>/messages:batch")
def add_messages_batch(
    session_id: SessionIdPath,
    body: MessageBatchCreate,
    user_id: UserIdQuery = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response[MessageBatchResult]:
    owner = caller(app, user_id)

    def produce() -> tuple[int, MessageBatchResult, dict[str, str]]:
        messages = repository().append_messages(session_id, owner, body.messages)
        return HTTPStatus.CREATED, MessageBatchResult(messages=messages, total=len(messages)), {}

    return once(
        app,
        operation=f"add_messages_batch:{session_id}",
        caller=owner,
        key=idempotency_key,
        request=body,
        produce=produce,
    )


lambda_handler = entry(app)
