"""GET /api/v1/sessions/{session_id}/summary: counters and the generated summary text."""

from session_service.http import SessionIdPath, UserIdQuery, caller, entry, make_resolver
from session_service.models import SessionSummary
from session_service.wiring import repository

app = make_resolver()


@app.get("/api/v1/sessions/<session_id>/summary")
def get_session_summary(session_id: SessionIdPath, user_id: UserIdQuery = None) -> SessionSummary:
    return repository().get_summary(session_id, caller(app, user_id))


lambda_handler = entry(app)
