"""GET /api/v1/sessions/{session_id}/memory: the session's memory records, optionally of one type."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import InvalidCursor
from session_service.models import MemoryList, MemoryType
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/memory",
    summary="List a session's memory records, optionally of one type, by next_token",
    tags=["memory"],
    responses=http.responses_for(InvalidCursor, *http.SESSION_ERRORS),
)
def list_memories(
    session_id: http.SessionIdPath,
    user_id: http.UserIdQuery = None,
    memory_type: Annotated[MemoryType | None, Query(description="Only records of this type")] = None,
    page_size: http.PageSizeQuery = 100,
    next_token: http.NextTokenQuery = None,
) -> MemoryList:
    return repository().list_memories(
        session_id, http.caller(app, user_id), memory_type=memory_type, page_size=page_size, next_token=next_token
    )


lambda_handler = http.entry(app)
