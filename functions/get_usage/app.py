"""GET /api/v1/users/{user_id}/usage: what the user's sessions hold, in total and by provider and model."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import Forbidden, Unauthorized
from session_service.models import USER_ID_PATTERN, Usage
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/users/<user_id>/usage",
    summary="A user's usage: sessions, messages, tokens and cost, in total and by provider and model",
    tags=["users"],
    responses=http.responses_for(Unauthorized, Forbidden, *http.PARAMETER_ERRORS, *http.STORE_ERRORS),
)
def get_usage(
    user_id: http.UserIdPath,
    claimed: Annotated[
        str | None,
        Query(
            alias="user_id",
            pattern=USER_ID_PATTERN,
            max_length=128,
            description="The caller (optional): when given, it must be the user of the path",
        ),
    ] = None,
) -> Usage:
    owner = http.caller(app, user_id, ("path", "user_id"))
    if claimed is not None and claimed != owner:
        raise Forbidden("user_id does not match the user whose usage is asked for")
    return repository().get_usage(owner)


lambda_handler = http.entry(app)
