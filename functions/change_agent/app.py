"""PATCH /api/v1/sessions/{session_id}/agents/{agent_id}: set and remove top-level keys of an agent's state."""

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import AgentNotFound, PayloadTooLarge, PreconditionFailed, SessionNotActive
from session_service.models.state import StateChange, StateDocument
from session_service.wiring import repository

app = http.make_resolver()


@app.patch(
    "/api/v1/sessions/<session_id>/agents/<agent_id>",
    summary="Set and remove keys of an agent's state document, atomically (If-Match for a conditional write)",
    tags=["agents"],
    responses=http.responses_for(
        PayloadTooLarge,
        AgentNotFound,
        SessionNotActive,
        PreconditionFailed,
        *http.SESSION_ERRORS,
        *http.BODY_ERRORS,
        success=http.STATE,
    ),
)
def change_agent(
    session_id: http.SessionIdPath,
    agent_id: http.AgentIdPath,
    body: StateChange,
    user_id: http.UserIdQuery = None,
    if_match: http.IfMatch = None,
) -> Response[StateDocument]:
    owner = http.caller(app, user_id)
    document = repository().change_state(
        session_id, owner, body, agent_id=agent_id, if_match=http.parse_session_if_match(if_match)
    )
    return http.state_response(document)


lambda_handler = http.entry(app)
