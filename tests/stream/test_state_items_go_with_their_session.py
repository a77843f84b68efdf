"""State documents, agents and agents' messages are items of the session's partition: a permanent delete and a
user's erasure remove them with the rest (the stream function's clean-up), and the session's statistics count
every agent's messages."""

from __future__ import annotations

import os
from typing import Any

import pytest

from devserver.streams import StreamReader
from session_service.models import MessageCreate, MessageRole, SessionCreate
from session_service.models.state import AgentCreate, StateChange
from tests.support import settle

pytestmark = pytest.mark.fresh_table  # the stream is read from its start


def _items(ddb: Any, sid: str) -> list[str]:
    table = os.environ["TABLE_NAME"]
    found = ddb.query(
        TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": f"SESSION#{sid}"}}
    )
    return sorted(item["SK"]["S"] for item in found["Items"])


def _agents_session(repo: Any, user: str) -> str:
    session, _ = repo.create_session(user, SessionCreate(user_id=user))
    sid = session.session_id
    repo.change_state(sid, user, StateChange(set={"plan": "x"}))
    repo.create_agent(sid, user, "planner", AgentCreate(state={"goal": "y"}))
    messages = [MessageCreate(role=MessageRole.USER, content=f"m{i}", agent_id="ab"[i % 2]) for i in range(4)]
    repo.append_messages(sid, user, messages)
    return str(sid)


def test_a_permanent_delete_removes_state_and_agents(repo: Any, ddb: Any, reader: StreamReader, handler: Any) -> None:
    sid = _agents_session(repo, "sam")
    settle(reader, handler)
    assert {"STATE#SESSION", "STATE#AGENT#planner", "STATE#AGENT#a", "STATE#AGENT#b"} <= set(_items(ddb, sid))
    repo.delete_session(sid, "sam")
    settle(reader, handler)
    assert _items(ddb, sid) == []


def test_an_erasure_removes_state_and_agents(repo: Any, ddb: Any, reader: StreamReader, handler: Any) -> None:
    sid = _agents_session(repo, "eve")
    settle(reader, handler)
    repo.erase_user("eve")
    settle(reader, handler)
    assert _items(ddb, sid) == []
    assert repo.erasure("eve").status == "erased"
