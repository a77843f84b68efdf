"""GET /api/v1/users/{user_id}/sessions: the user's sessions (of one status, or of one namespace), most recent
activity first."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import Forbidden, InvalidCursor, Unauthorized
from session_service.models import USER_ID_PATTERN, SessionList, SessionStatus
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/users/<user_id>/sessions",
    summary="List a user's sessions (all, or of one status), most recent activity first, by page or next_token",
    tags=["sessions"],
    responses=http.responses_for(InvalidCursor, Unauthorized, Forbidden, *http.PARAMETER_ERRORS, *http.STORE_ERRORS),
)
def list_user_sessions(
    user_id: http.UserIdPath,
    active_only: Annotated[bool, Query(description="Only active sessions (the same as status=active)")] = False,
    status: Annotated[
        SessionStatus | None, Query(description="Only the sessions in this status (served by the GSI2 index)")
    ] = None,
    namespace: Annotated[
        str | None,
        Query(
            pattern=USER_ID_PATTERN,
            max_length=128,
            description="Only the sessions created in this namespace (served by the GSI3 index; not with a status)",
        ),
    ] = None,
    page: http.PageQuery = 1,
    page_size: http.PageSizeQuery = 50,
    next_token: http.NextTokenQuery = None,
    include: http.IncludeQuery = None,
) -> SessionList:
    owner = http.caller(app, user_id, ("path", "user_id"))
    if active_only and status not in (None, SessionStatus.ACTIVE):
        raise http.invalid_query("status", "active_only=true asks for active sessions only")
    if namespace is not None and (active_only or status is not None):
        raise http.invalid_query("namespace", "a namespace's listing is of every status")
    return repository().list_user_sessions(
        owner,
        status=SessionStatus.ACTIVE if active_only else status,
        namespace=namespace,
        page=page,
        page_size=page_size,
        next_token=next_token,
        include_state=include == "state",
    )


lambda_handler = http.entry(app)
