"""POST /api/v1/sessions/{session_id}/messages:clear: remove every message of a session, keep the session."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from session_service import http
from session_service.data.guard import WriteGuard
from session_service.errors import DeletionsPending, SessionNotActive
from session_service.models import DeleteResult
from session_service.wiring import repository

app = http.make_resolver()

CLEARED: dict[int, OpenAPIResponse] = {200: {"description": "How many messages were removed (0: nothing written)"}}


@app.post(
    "/api/v1/sessions/<session_id>/messages:clear",
    summary="Remove every message of a session in one request, counters zero at once; the session stays",
    tags=["messages"],
    responses=http.create_responses(DeletionsPending, SessionNotActive, *http.SESSION_ERRORS, success=CLEARED),
)
def clear_messages(
    session_id: http.SessionIdPath, user_id: http.UserIdQuery = None, key: http.IdempotencyKey = None
) -> Response[DeleteResult]:
    owner = http.caller(app, user_id)

    def write(guard: WriteGuard | None) -> tuple[DeleteResult, bool]:
        return DeleteResult(deleted=repository().clear_messages(session_id, owner, guard)), False

    return http.create_once(app, f"clear_messages:{session_id}", owner, key, None, write)


lambda_handler = http.entry(app)
