"""POST /api/v1/sessions/{session_id}/memory: add a memory record (the type sent is echoed)."""

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
from session_service.models import Memory, MemoryCreate
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions/<session_id>/memory")
def add_memory(
    session_id: SessionIdPath,
    body: MemoryCreate,
    user_id: UserIdQuery = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response[Memory]:
    owner = caller(app, user_id)

    def produce() -> tuple[int, Memory, dict[str, str]]:
        return HTTPStatus.CREATED, repository().add_memory(session_id, owner, body), {}

    return once(
        app, operation=f"add_memory:{session_id}", caller=owner, key=idempotency_key, request=body, produce=produce
    )


lambda_handler = entry(app)
