"""GET /api/v1/sessions/{session_id}/agents/{agent_id}/messages/{position}: an agent's message by position."""

from session_service import http
from session_service.errors import MessageNotFound
from session_service.models import Message
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/agents/<agent_id>/messages/<position>",
    summary="Get the message at a position (from 0) of an agent's conversation",
    tags=["agents"],
    responses=http.responses_for(MessageNotFound, *http.SESSION_ERRORS),
)
def get_agent_message(
    session_id: http.SessionIdPath,
    agent_id: http.AgentIdPath,
    position: http.PositionPath,
    user_id: http.UserIdQuery = None,
) -> Message:
    return repository().get_agent_message(session_id, http.caller(app, user_id), agent_id, position)


lambda_handler = http.entry(app)
