"""PUT /api/v1/sessions/{session_id}: title, metadata, conversation_data, status; honours If-Match."""

from aws_lambda_powertools.event_handler import Response

from session_service.http import (
    IfMatchHeader,
    SessionIdPath,
    UserIdQuery,
    caller,
    entry,
    make_resolver,
    parse_if_match,
    session_response,
)
from session_service.models import Session, SessionUpdate
from session_service.wiring import repository

app = make_resolver()


@app.put("/api/v1/sessions/<session_id>")
def update_session(
    session_id: SessionIdPath, body: SessionUpdate, user_id: UserIdQuery = None, if_match: IfMatchHeader = None
) -> Response[Session]:
    session = repository().update_session(session_id, caller(app, user_id), body, if_match=parse_if_match(if_match))
    return session_response(session)


lambda_handler = entry(app)
