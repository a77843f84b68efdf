"""State documents and agents' conversations on DynamoDB Local, which checks expressions as DynamoDB does (moto
lets an unused value or a doubled item pass): every write and read of them once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from session_service.errors import AgentExists, PayloadTooLarge, PreconditionFailed
from session_service.models import MessageCreate, MessageRole, MessageUpdate, SessionCreate, SessionTag
from session_service.models.state import AgentCreate, AppendState, StateChange

pytestmark = pytest.mark.dynamodb_local


def test_every_state_and_agent_request_is_valid_dynamodb(local_repo: Any) -> None:
    user = f"it_agents_{uuid.uuid4().hex[:8]}"
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    sid = session.session_id
    assert local_repo.get_state(sid, user).version == 0
    odd = {"PK": 1, "a.b": [1, 2.5], "#x": None, ":y": {"z": "w"}}
    never, first = SessionTag(0, session.created_at), SessionTag(1, session.created_at)
    assert local_repo.change_state(sid, user, StateChange(set=odd), if_match=never).state == odd
    changed = local_repo.change_state(sid, user, StateChange(set={"n": 1}, remove=["PK", "absent"]), if_match=first)
    assert changed.state == {"a.b": [1, 2.5], "#x": None, ":y": {"z": "w"}, "n": 1} and changed.version == 2
    with pytest.raises(PreconditionFailed):
        local_repo.change_state(sid, user, StateChange(set={"n": 2}), if_match=first)
    local_repo.create_agent(sid, user, "a", AgentCreate(state={"goal": "x"}))
    with pytest.raises(AgentExists):
        local_repo.create_agent(sid, user, "a", AgentCreate())
    turn = MessageCreate(
        role=MessageRole.ASSISTANT, content="t", agent_id="a", state=AppendState(set={"goal": "y"}, if_version=1)
    )
    (message,) = local_repo.append_messages(sid, user, [turn])
    assert message.position == 0 and local_repo.get_state(sid, user, "a").state == {"goal": "y"}
    session_turn = MessageCreate(role=MessageRole.USER, content="s", state=AppendState(remove=["n"]))
    local_repo.append_messages(sid, user, [session_turn])
    assert "n" not in local_repo.get_state(sid, user).state
    batch = [MessageCreate(role=MessageRole.USER, content=f"b{i}", agent_id="ab"[i % 2]) for i in range(4)]
    assert [m.position for m in local_repo.append_messages(sid, user, batch)] == [1, 0, 2, 1]
    assert local_repo.get_agent_message(sid, user, "a", 2).content == "b2"
    redacted = local_repo.update_agent_message(sid, user, "a", 2, MessageUpdate(content="[redacted]"))
    assert redacted.content == "[redacted]" and redacted.position == 2
    page = local_repo.list_agent_messages(sid, user, "a", offset=1, limit=1)
    assert [m.content for m in page.messages] == ["b0"] and page.next_offset == 2
    assert local_repo.get_session(sid, user).message_count == 6


def test_a_change_past_dynamodbs_item_limit_stores_nothing(local_repo: Any) -> None:
    user = f"it_agents_{uuid.uuid4().hex[:8]}"
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    sid = session.session_id
    big = {f"part{i}": "x" * (90 * 1024) for i in range(4)}
    assert local_repo.change_state(sid, user, StateChange(set=big)).version == 1
    with pytest.raises(PayloadTooLarge):
        local_repo.change_state(sid, user, StateChange(set={"more": "y" * (60 * 1024)}))
    assert local_repo.get_state(sid, user).state == big
