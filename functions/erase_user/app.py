"""DELETE /api/v1/users/{user_id}: erase everything of the user (GDPR right to erasure, SPEC section 9)."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response, content_types

from session_service import http
from session_service.models import ErasureAccepted
from session_service.wiring import repository

app = http.make_resolver()


@app.delete(
    "/api/v1/users/<user_id>",
    summary="Erase the user's data: gone for every reader at once, deleted from the table in the background (202)",
    tags=["users"],
    responses={
        HTTPStatus.ACCEPTED.value: {
            "description": "Accepted: the erasure runs (GET /users/{user_id}/erasure tells its progress)",
            "content": {content_types.APPLICATION_JSON: {"model": ErasureAccepted}},
        },
        **http.responses_for(*http.USER_ERRORS, *http.STORE_ERRORS),
    },
)
def erase_user(user_id: http.UserIdPath, caller_id: http.UserIdAlsoQuery = None) -> Response[ErasureAccepted]:
    repository().erase_user(http.user_caller(app, user_id, caller_id))
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type=content_types.APPLICATION_JSON,
        body=ErasureAccepted().model_dump(mode="json"),
    )


lambda_handler = http.entry(app)
