"""POST /api/v1/sessions/{session_id}/messages:pop: remove the newest message(s) and return them, atomically."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from session_service import http
from session_service.data.guard import WriteGuard
from session_service.errors import SessionNotActive
from session_service.models import MessagePop, PopResult
from session_service.wiring import repository

app = http.make_resolver()

POPPED: dict[int, OpenAPIResponse] = {200: {"description": "The messages removed, newest first (none: empty)"}}


@app.post(
    "/api/v1/sessions/<session_id>/messages:pop",
    summary="Remove the session's newest 1 to 49 messages and return them, in one transaction with the counters",
    tags=["messages"],
    responses=http.create_responses(SessionNotActive, *http.SESSION_ERRORS, success=POPPED),
)
def pop_messages(
    session_id: http.SessionIdPath,
    body: MessagePop | None = None,
    user_id: http.UserIdQuery = None,
    key: http.IdempotencyKey = None,
) -> Response[PopResult]:
    owner, request = http.caller(app, user_id), body or MessagePop()

    def write(guard: WriteGuard | None) -> tuple[PopResult, bool]:
        popped = repository().pop_messages(session_id, owner, request.count, guard)
        return PopResult(messages=popped, deleted=len(popped)), False

    return http.create_once(app, f"pop_messages:{session_id}", owner, key, request, write)


lambda_handler = http.entry(app)
