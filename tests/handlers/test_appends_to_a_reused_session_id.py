"""An append of a session whose id an older session held (deleted, its items not yet removed by the stream
function) numbers its agents' messages from 0 and changes the new session's documents, never the older session's:
the agent and the state it writes are the new owner's, read back as written."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

OLD = {"user_id": "append_old_owner"}
NEW = {"user_id": "append_new_owner"}


@pytest.fixture
def base(api: Any, new_session: Callable[..., dict[str, Any]]) -> str:
    sid = str(uuid.uuid4())
    base = f"/api/v1/sessions/{sid}"
    # Given a session with an agent's messages and state documents, deleted for good before the stream ran
    new_session(OLD["user_id"], session_id=sid)
    for text in ("one", "two"):
        turn = {"role": "user", "content": text, "agent_id": "a1", "state": {"set": {"secret": "old-agent"}}}
        assert api("POST", f"{base}/messages", query=OLD, json_body=turn)[0] == 201
    assert api("PATCH", f"{base}/state", query=OLD, json_body={"set": {"secret": "old"}})[0] == 200
    assert api("POST", "/api/v1/sessions:batchDelete", query=OLD, json_body={"session_ids": [sid]})[0] == 200
    # When another user creates a session with the same id
    new_session(NEW["user_id"], session_id=sid)
    return base


def test_an_agents_append_starts_a_new_agent(api: Any, base: str) -> None:
    turn = {"role": "user", "content": "mine", "agent_id": "a1", "state": {"set": {"z": 1}}}
    status, message, _ = api("POST", f"{base}/messages", query=NEW, json_body=turn)
    assert status == 201 and message["position"] == 0
    status, agent, _ = api("GET", f"{base}/agents/a1", query=NEW)
    assert status == 200 and agent["state"] == {"z": 1} and agent["message_count"] == 1
    status, found, _ = api("GET", f"{base}/agents/a1/messages/0", query=NEW)
    assert status == 200 and found["content"] == "mine"
    status, page, _ = api("GET", f"{base}/agents/a1/messages", query=NEW)
    assert status == 200 and [m["content"] for m in page["messages"]] == ["mine"]


def test_a_state_change_in_an_append_lands_in_the_new_document(api: Any, base: str) -> None:
    turn = {"role": "user", "content": "mine", "state": {"set": {"w": 1}, "if_version": 0}}
    assert api("POST", f"{base}/messages", query=NEW, json_body=turn)[0] == 201
    status, state, _ = api("GET", f"{base}/state", query=NEW)
    assert status == 200 and state["state"] == {"w": 1} and state["version"] == 1
