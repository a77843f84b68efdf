"""GET /api/v1/users/{user_id}/state: the user's state document of a namespace, with its ETag."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from session_service import http
from session_service.errors import Forbidden, Unauthorized
from session_service.models import USER_ID_PATTERN
from session_service.models.state import SharedStateDocument
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/users/<user_id>/state",
    summary="Get the user's state document of a namespace (shared by the user's sessions there), with its ETag",
    tags=["agents"],
    responses=http.responses_for(
        Unauthorized, Forbidden, *http.PARAMETER_ERRORS, *http.STORE_ERRORS, success=http.STATE
    ),
)
def get_user_state(
    user_id: http.UserIdPath,
    namespace: http.NamespaceQuery = None,
    caller_id: Annotated[
        str | None,
        Query(alias="user_id", pattern=USER_ID_PATTERN, max_length=128, description="The caller: the same user"),
    ] = None,
) -> Response[SharedStateDocument]:
    owner = http.user_caller(app, user_id, caller_id)
    return http.state_response(repository().get_shared_state(owner, namespace))


lambda_handler = http.entry(app)
