"""POST /api/v1/sessions/{session_id}/messages: append one message and count it, atomically."""

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
from session_service.models import Message, MessageCreate
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions/<session_id>/messages")
def add_message(
    session_id: SessionIdPath,
    body: MessageCreate,
    user_id: UserIdQuery = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response[Message]:
    owner = caller(app, user_id)

    def produce() -> tuple[int, Message, dict[str, str]]:
        (message,) = repository().append_messages(session_id, owner, [body])
        return HTTPStatus.CREATED, message, {}

    return once(
        app, operation=f"add_message:{session_id}", caller=owner, key=idempotency_key, request=body, produce=produce
    )


lambda_handler = entry(app)
