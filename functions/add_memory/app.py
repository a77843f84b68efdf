"""POST /api/v1/sessions/{session_id}/memory: add a memory record (the type sent is echoed)."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import SessionNotActive
from session_service.models import Memory, MemoryCreate
from session_service.wiring import repository

app = http.make_resolver()


@app.post(
    "/api/v1/sessions/<session_id>/memory",
    summary="Add a memory record (preference, entity, summary...) to an active session",
    tags=["memory"],
    responses=http.create_responses(SessionNotActive, *http.SESSION_ERRORS),
)
def add_memory(
    session_id: http.SessionIdPath,
    body: MemoryCreate,
    user_id: http.UserIdQuery = None,
    key: http.IdempotencyKey = None,
) -> Response[Memory]:
    owner = http.caller(app, user_id)
    return http.create_once(
        app,
        f"add_memory:{session_id}",
        owner,
        key,
        body,
        lambda guard: repository().add_memory(session_id, owner, body, guard),
    )


lambda_handler = http.entry(app)
