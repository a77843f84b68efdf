"""GET /api/v1/sessions/{session_id}: the caller's session, with its ETag (and its state in every scope
with ?include=state)."""

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
def get_session(
    session_id: http.SessionIdPath, user_id: http.UserIdQuery = None, include: http.IncludeQuery = None
) -> Response[Session]:
    caller = http.caller(app, user_id)
    return http.session_response(repository().get_session(session_id, caller, include_state=include == "state"))


lambda_handler = http.entry(app)
