"""The Strands repository given a ``client=`` (a trusted backend's, made once for every user, or one naming another
user) acts for its own ``user_id`` on every call: the sessions, agents and messages it writes are that user's, and
it leaves the given client open (the caller's to close)."""

from __future__ import annotations

import uuid

import pytest
from session_service_client import SessionServiceClient
from session_service_client.errors import NotFound
from session_service_client.strands import SessionServiceRepository
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType


def test_a_given_clients_calls_name_the_repositorys_user(base_url: str, user: str, namespace: str) -> None:
    backend = SessionServiceClient(base_url, user_id=f"{user}_backend")
    mine = SessionServiceClient(base_url, user_id=user)
    try:
        repository = SessionServiceRepository(client=backend, user_id=user, namespace=namespace)
        sid = f"s-{uuid.uuid4().hex[:8]}"
        repository.create_session(Session(session_id=sid, session_type=SessionType.AGENT))
        agent = SessionAgent(agent_id="a1", state={"k": 1}, conversation_manager_state={})
        repository.create_agent(sid, agent)
        message = SessionMessage(message={"role": "user", "content": [{"text": "hi"}]}, message_id=0)
        repository.create_message(sid, "a1", message)

        service_id = repository.service_session_id(sid)
        assert mine.get_session(service_id).message_count == 1  # the repository's user owns it
        with pytest.raises(NotFound):
            backend.get_session(service_id)
        assert repository.read_agent(sid, "a1").state == {"k": 1}
        assert [m.message for m in repository.list_messages(sid, "a1")] == [message.message]

        repository.close()
        assert backend.health().status == "healthy"  # the given client is still open
    finally:
        backend.close()
        mine.close()
