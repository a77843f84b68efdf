"""GET /api/v1/sessions/{session_id}/agents/{agent_id}: an agent of the session and its state, with its ETag."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import AgentNotFound
from session_service.models.state import StateDocument
from session_service.wiring import repository

app = http.make_resolver()


@app.get(
    "/api/v1/sessions/<session_id>/agents/<agent_id>",
    summary="Get an agent of the session: its state document, with its ETag",
    tags=["agents"],
    responses=http.responses_for(AgentNotFound, *http.SESSION_ERRORS, success=http.STATE),
)
def get_agent(
    session_id: http.SessionIdPath, agent_id: http.AgentIdPath, user_id: http.UserIdQuery = None
) -> Response[StateDocument]:
    return http.state_response(repository().get_state(session_id, http.caller(app, user_id), agent_id))


lambda_handler = http.entry(app)
