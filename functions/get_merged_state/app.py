"""GET /api/v1/sessions/{session_id}/state/merged: the session's state document with its user's and its
namespace's, read in one request."""

from session_service import http
from session_service.models.state import MergedState
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/state/merged",
    summary="Get the session's state document with the user's and the namespace's (every scope, one request)",
    tags=["agents"],
    responses=http.responses_for(*http.SESSION_ERRORS),
)
def get_merged_state(session_id: http.SessionIdPath, user_id: http.UserIdQuery = None) -> MergedState:
    return repository().get_merged_state(session_id, http.caller(app, user_id))


lambda_handler = http.entry(app)
