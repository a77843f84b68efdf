"""The export's state document lines on DynamoDB Local: a session whose partition passes one Query's 1 MB (its
documents read by a Query of their own) and a user's documents resumed across pages (a Query past the last
exported), each line once, whatever the page size."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest

from session_service.models import MAX_MESSAGE_BYTES, MessageCreate, SessionCreate
from session_service.models.state import AgentCreate, StateChange

pytestmark = pytest.mark.dynamodb_local


def _lines(repo: Any, user: str, page_size: int) -> list[dict[str, Any]]:
    lines, token = [], None
    for _ in range(500):
        page, token = repo.export_user(user, page_size, token)
        lines += [json.loads(line) for line in page]
        if token is None:
            return lines
    raise AssertionError("the export never ended")


@pytest.mark.parametrize("page_size", [1, 3, 1000])
def test_state_lines_of_a_large_session_and_of_many_namespaces_once_each(local_repo: Any, page_size: int) -> None:
    user = f"it_export_state_{uuid.uuid4().hex[:8]}"
    for namespace in (None, "ns-a", "ns-b"):
        local_repo.change_shared_state(user, namespace, StateChange(set={"n": namespace}))
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user, namespace="ns-a"))
    sid = session.session_id
    local_repo.change_state(sid, user, StateChange(set={"step": 1}))
    local_repo.create_agent(sid, user, "planner", AgentCreate(state={"plan": "p"}))
    big = [MessageCreate(role="user", content="c" * MAX_MESSAGE_BYTES) for _ in range(5)]  # past 1 MB
    local_repo.append_messages(sid, user, big)

    lines = _lines(local_repo, user, page_size)

    kinds = Counter(line["type"] for line in lines)
    assert kinds == {"user_state": 3, "session": 1, "session_state": 2, "message": 5}
    assert [line["namespace"] for line in lines[:3]] == [None, "ns-a", "ns-b"]
    assert [(line["type"], line.get("agent_id")) for line in lines[3:6]] == [
        ("session", None),
        ("session_state", "planner"),
        ("session_state", None),
    ]
    assert lines[5]["state"] == {"step": 1}
