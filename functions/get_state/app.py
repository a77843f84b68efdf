"""GET /api/v1/sessions/{session_id}/state: the session's state document, with its ETag."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.models.state import StateDocument
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/state",
    summary="Get the session's state document (empty, version 0, until its first change), with its ETag",
    tags=["agents"],
    responses=http.responses_for(*http.SESSION_ERRORS, success=http.STATE),
)
def get_state(session_id: http.SessionIdPath, user_id: http.UserIdQuery = None) -> Response[StateDocument]:
    return http.state_response(repository().get_state(session_id, http.caller(app, user_id)))


lambda_handler = http.entry(app)
