"""PATCH /api/v1/sessions/{session_id}/agents/{agent_id}/messages/{position}: change an agent's message by
position."""

from session_service import http
from session_service.errors import MessageConflict, MessageNotFound, PayloadTooLarge, SessionNotActive
from session_service.models import Message, MessageUpdate
from session_service.wiring import repository

app = http.make_resolver()


@app.patch(
    "/api/v1/sessions/<session_id>/agents/<agent_id>/messages/<position>",
    summary="Change the message at a position of an agent's conversation (as PATCH of a message by id)",
    tags=["agents"],
    responses=http.responses_for(
        MessageNotFound, MessageConflict, PayloadTooLarge, SessionNotActive, *http.SESSION_ERRORS, *http.BODY_ERRORS
    ),
)
def update_agent_message(
    session_id: http.SessionIdPath,
    agent_id: http.AgentIdPath,
    position: http.PositionPath,
    body: MessageUpdate,
    user_id: http.UserIdQuery = None,
) -> Message:
    owner = http.caller(app, user_id)
    return repository().update_agent_message(session_id, owner, agent_id, position, body)


lambda_handler = http.entry(app)
