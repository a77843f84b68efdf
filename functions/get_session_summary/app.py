"""GET /api/v1/sessions/{session_id}/summary: counters and the generated summary text."""

from session_service import http
from session_service.models import SessionSummary
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/summary",
    summary="Get a session's counters (messages, tokens, cost) and its generated summary",
    tags=["sessions"],
    responses=http.responses_for(*http.SESSION_ERRORS),
)
def get_session_summary(session_id: http.SessionIdPath, user_id: http.UserIdQuery = None) -> SessionSummary:
    return repository().get_summary(session_id, http.caller(app, user_id))


lambda_handler = http.entry(app)
