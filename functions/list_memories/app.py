"""GET /api/v1/sessions/{session_id}/memory: the session's memory records, optionally of one type."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service.http import NextTokenQuery, SessionIdPath, UserIdQuery, caller, entry, make_resolver
from session_service.models import MemoryList, MemoryType
from session_service.wiring import repository

app = make_resolver()


@app.get("/api/v1/sessions/<session_id>/memory")
def list_memories(
    session_id: SessionIdPath,
    user_id: UserIdQuery = None,
    memory_type: Annotated[MemoryType | None, Query(description="Only records of this type")] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 100,
    next_token: NextTokenQuery = None,
) -> MemoryList:
    return repository().list_memories(
        session_id, caller(app, user_id), memory_type=memory_type, page_size=page_size, next_token=next_token
    )


lambda_handler = entry(app)
