"""An adapter given a ``client=`` (a trusted backend's, made once for every user, or one naming another user) acts
for the adapter's own ``user_id`` on every call: the sessions it writes are that user's (found by their reads,
export and erasure), never the client's own user's."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from session_service_client import SessionServiceClient
from session_service_client._adapters import Clients
from session_service_client.errors import NotFound


def test_calls_through_a_given_client_name_the_adapters_user(base_url: str, user: str) -> None:
    backend = SessionServiceClient(base_url, user_id=f"{user}_backend")
    mine = SessionServiceClient(base_url, user_id=user)
    try:
        clients = Clients(base_url=None, client=backend, user_id=user)
        sid = str(uuid.uuid4())
        asyncio.run(clients.call("create_session", session_id=sid, title="adapter"))
        asyncio.run(clients.call("append_messages", sid, [{"role": "user", "content": "hi"}]))
        assert mine.get_session(sid).message_count == 1  # the adapter's user owns it
        with pytest.raises(NotFound):
            backend.get_session(sid)
        page = asyncio.run(clients.call("list_messages", sid))
        assert [m.content for m in page.messages] == ["hi"]
    finally:
        backend.close()
        mine.close()
