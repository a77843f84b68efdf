"""GET /api/v1/sessions/{session_id}: the caller's session, with its ETag."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.models import Session
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>",
    summary="Get a session, with its ETag",
    tags=["sessions"],
    responses=http.responses_for(*http.SESSION_ERRORS, success=http.SESSION),
)
def get_session(session_id: http.SessionIdPath, user_id: http.UserIdQuery = None) -> Response[Session]:
    return http.session_response(repository().get_session(session_id, http.caller(app, user_id)))


lambda_handler = http.entry(app)
