"""GET /api/v1/users/{user_id}/sessions: the user's sessions, most recent activity first."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service.http import NextTokenQuery, PageQuery, UserIdPath, caller, entry, make_resolver
from session_service.models import SessionList, SessionStatus
from session_service.wiring import repository

app = make_resolver()


@app.get("/api/v1/users/<user_id>/sessions")
def list_user_sessions(
    user_id: UserIdPath,
    active_only: Annotated[bool, Query(description="Only active sessions")] = False,
    page: PageQuery = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: NextTokenQuery = None,
) -> SessionList:
    return repository().list_user_sessions(
        caller(app, user_id, ("path", "user_id")),
        status=SessionStatus.ACTIVE if active_only else None,
        page=page,
        page_size=page_size,
        next_token=next_token,
    )


lambda_handler = entry(app)
