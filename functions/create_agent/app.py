"""PUT /api/v1/sessions/{session_id}/agents/{agent_id}: create an agent of the session with its state (409 when
it exists)."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from session_service import http
from session_service.errors import AgentExists, PayloadTooLarge, SessionNotActive
from session_service.models.state import AgentCreate, StateDocument
from session_service.wiring import repository

app = http.make_resolver()


@app.put(
    "/api/v1/sessions/<session_id>/agents/<agent_id>",
    summary="Create an agent of the session with its state document (409 when the session has it already)",
    tags=["agents"],
    responses=http.responses_for(
        PayloadTooLarge,
        AgentExists,
        SessionNotActive,
        *http.SESSION_ERRORS,
        *http.BODY_ERRORS,
        success={HTTPStatus.CREATED.value: {"description": "Created, with its ETag"}},
    ),
)
def create_agent(
    session_id: http.SessionIdPath, agent_id: http.AgentIdPath, body: AgentCreate, user_id: http.UserIdQuery = None
) -> Response[StateDocument]:
    document = repository().create_agent(session_id, http.caller(app, user_id), agent_id, body)
    return http.state_response(document, HTTPStatus.CREATED)


lambda_handler = http.entry(app)
