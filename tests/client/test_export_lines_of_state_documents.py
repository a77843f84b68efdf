"""The typed client reads the export's state document lines: ``user_state`` (a user's document of a namespace)
and ``session_state`` (a session's or an agent's), as the server writes them."""

from __future__ import annotations

from session_service_client import ExportedSessionState, ExportedUserState
from session_service_client._calls import parse_export_line

from session_service.models import ExportType, export_line
from session_service.models.state import SharedStateDocument, StateDocument


def test_a_users_state_line_is_an_exported_user_state() -> None:
    document = SharedStateDocument(scope="user", namespace="ns-a", user_id="u1", state={"theme": "dark"}, version=2)
    line = parse_export_line(export_line(ExportType.USER_STATE, document))
    assert isinstance(line, ExportedUserState)
    assert (line.type, line.namespace, line.user_id, line.state, line.version) == (
        "user_state",
        "ns-a",
        "u1",
        {"theme": "dark"},
        2,
    )


def test_a_sessions_and_an_agents_state_lines_are_exported_session_states() -> None:
    own = StateDocument(session_id="s1", state={"step": 1}, version=1)
    agent = StateDocument(session_id="s1", agent_id="planner", state={}, version=0, message_count=3)
    lines = [parse_export_line(export_line(ExportType.SESSION_STATE, document)) for document in (own, agent)]
    assert all(isinstance(line, ExportedSessionState) for line in lines)
    assert [(line.agent_id, line.message_count) for line in lines] == [(None, None), ("planner", 3)]
