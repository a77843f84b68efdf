"""PUT /api/v1/sessions/{session_id}: title, metadata, conversation_data, status; honours If-Match."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import InvalidStatusTransition, PreconditionFailed, SessionReadOnly
from session_service.models import Session, SessionUpdate
from session_service.wiring import repository

app = http.make_resolver()


@app.put(
    "/api/v1/sessions/<session_id>",
    summary="Change a session's title, metadata, conversation data or status (If-Match for a conditional write)",
    tags=["sessions"],
    responses=http.responses_for(
        InvalidStatusTransition,
        SessionReadOnly,
        PreconditionFailed,
        *http.SESSION_ERRORS,
        *http.BODY_ERRORS,
        success=http.SESSION,
    ),
)
def update_session(
    session_id: http.SessionIdPath, body: SessionUpdate, user_id: http.UserIdQuery = None, if_match: http.IfMatch = None
) -> Response[Session]:
    owner = http.caller(app, user_id)
    session = repository().update_session(session_id, owner, body, if_match=http.parse_session_if_match(if_match))
    return http.session_response(session)


lambda_handler = http.entry(app)
