"""GET /api/v1/sessions/{session_id}/agents/{agent_id}/messages: an agent's messages from a position, in order."""

from session_service import http
from session_service.models.responses import AgentMessageList
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/agents/<agent_id>/messages",
    summary="List an agent's messages from a position (offset), in order, page by page (next_offset)",
    tags=["agents"],
    responses=http.responses_for(*http.SESSION_ERRORS),
)
def list_agent_messages(
    session_id: http.SessionIdPath,
    agent_id: http.AgentIdPath,
    user_id: http.UserIdQuery = None,
    offset: http.OffsetQuery = 0,
    limit: http.LimitQuery = 100,
) -> AgentMessageList:
    owner = http.caller(app, user_id)
    return repository().list_agent_messages(session_id, owner, agent_id, offset=offset, limit=limit)


lambda_handler = http.entry(app)
