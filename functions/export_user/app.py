"""GET /api/v1/users/{user_id}/export: a page of the user's data as NDJSON (GDPR right of access)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import Forbidden, InvalidCursor, Unauthorized
from session_service.models import DEFAULT_EXPORT_LINES, USER_ID_PATTERN
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/users/<user_id>/export",
    summary="Export a user's sessions, messages and memory records as NDJSON, a page at a time (Next-Token)",
    tags=["users"],
    responses=http.responses_for(
        InvalidCursor, Unauthorized, Forbidden, *http.PARAMETER_ERRORS, *http.STORE_ERRORS, success=http.EXPORT
    ),
)
def export_user(
    user_id: http.UserIdPath,
    page_size: http.ExportPageSizeQuery = DEFAULT_EXPORT_LINES,
    next_token: http.NextTokenQuery = None,
    claimed: Annotated[
        str | None,
        Query(alias="user_id", pattern=USER_ID_PATTERN, max_length=128, description="The caller: the same user"),
    ] = None,
) -> Response[str]:
    owner = http.caller(app, user_id, ("path", "user_id"))
    if claimed is not None and claimed != owner:
        raise Forbidden("user_id does not match the user exported")  # only a user's own data (SPEC section 5)
    lines, cursor = repository().export_user(owner, page_size, next_token)
    return http.ndjson_response(lines, cursor)


lambda_handler = http.entry(app)
