"""GET /api/v1/sessions/{session_id}: the caller's session, with its ETag."""

from aws_lambda_powertools.event_handler import Response

from session_service.http import SessionIdPath, UserIdQuery, caller, entry, make_resolver, session_response
from session_service.models import Session
from session_service.wiring import repository

app = make_resolver()


@app.get("/api/v1/sessions/<session_id>")
def get_session(session_id: SessionIdPath, user_id: UserIdQuery = None) -> Response[Session]:
    return session_response(repository().get_session(session_id, caller(app, user_id)))


lambda_handler = entry(app)
