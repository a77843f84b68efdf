"""HEAD /api/v1/sessions/{session_id}: whether the caller's session exists (seed 003's ``session_exists``)."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.wiring import repository

app = http.make_resolver()


@app.head(
    "/api/v1/sessions/<session_id>",
    summary="Whether the caller's session exists: 200 or 404, no body",
    tags=["sessions"],
    responses=http.responses_for(*http.SESSION_ERRORS, success=http.EXISTS),
)
def session_exists(session_id: http.SessionIdPath, user_id: http.UserIdQuery = None) -> Response[None]:
    repository().session_exists(session_id, http.caller(app, user_id))
    return Response(status_code=HTTPStatus.OK, body=None)


lambda_handler = http.entry(app)
