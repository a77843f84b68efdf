"""POST /api/v1/sessions/{session_id}/memory: add a memory record (the type sent is echoed)."""

from aws_lambda_powertools.event_handler import Response

from session_service.http import SessionIdPath, UserIdQuery, caller, created, entry, make_resolver
from session_service.models import Memory, MemoryCreate
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions/<session_id>/memory")
def add_memory(session_id: SessionIdPath, body: MemoryCreate, user_id: UserIdQuery = None) -> Response[Memory]:
    return created(repository().add_memory(session_id, caller(app, user_id), body))


lambda_handler = entry(app)
