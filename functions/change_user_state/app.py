"""PATCH /api/v1/users/{user_id}/state: set and remove keys of the user's state document of a namespace."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import Forbidden, PayloadTooLarge, PreconditionFailed, Unauthorized, UserErasing
from session_service.models import USER_ID_PATTERN
from session_service.models.state import SharedStateDocument, StateChange
from session_service.wiring import repository

app = http.make_resolver()


@app.patch(
    "/api/v1/users/<user_id>/state",
    summary="Set and remove keys of the user's state document of a namespace, atomically (If-Match: conditional)",
    tags=["agents"],
    responses=http.responses_for(
        PayloadTooLarge,
        PreconditionFailed,
        UserErasing,
        Unauthorized,
        Forbidden,
        *http.PARAMETER_ERRORS,
        *http.BODY_ERRORS,
        *http.STORE_ERRORS,
        success=http.STATE,
    ),
)
def change_user_state(
    user_id: http.UserIdPath,
    body: StateChange,
    namespace: http.NamespaceQuery = None,
    caller_id: Annotated[
        str | None,
        Query(alias="user_id", pattern=USER_ID_PATTERN, max_length=128, description="The caller: the same user"),
    ] = None,
    if_match: http.IfMatch = None,
) -> Response[SharedStateDocument]:
    owner = http.user_caller(app, user_id, caller_id)
    document = repository().change_shared_state(owner, namespace, body, if_match=http.parse_if_match(if_match))
    return http.state_response(document)


lambda_handler = http.entry(app)
