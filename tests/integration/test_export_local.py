"""A user's export against DynamoDB Local while the user keeps writing: no line twice, nothing that existed at the
start missing (SPEC section 9)."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from session_service.models import MemoryCreate, MemoryType, MessageCreate, MessageRole, SessionCreate

pytestmark = pytest.mark.dynamodb_local

SESSIONS, MESSAGES, MEMORIES = 4, 20, 2


def _key(line: dict[str, Any]) -> tuple[str, str]:
    return line["type"], line.get("message_id") or line.get("memory_id") or line["session_id"]


def test_an_export_while_the_user_appends_has_every_record_once(local_repo: Any) -> None:
    # Given: a user with sessions of messages and memory records
    user = f"it_export_{uuid.uuid4().hex[:8]}"
    session_ids = []
    for _ in range(SESSIONS):
        session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
        session_ids.append(session.session_id)
        batch = [MessageCreate(role=MessageRole.USER, content=f"before {i}") for i in range(MESSAGES)]
        local_repo.append_messages(session.session_id, user, batch)
        for i in range(MEMORIES):
            memory = MemoryCreate(memory_type=MemoryType.ENTITY, content=f"m{i}")
            local_repo.add_memory(session.session_id, user, memory)
    existing = {("session", sid) for sid in session_ids}
    for sid in session_ids:
        existing |= {("message", m.message_id) for m in local_repo.list_messages(sid, user, page_size=200).messages}
        existing |= {("memory", m.memory_id) for m in local_repo.list_memories(sid, user).memories}

    # When: the export pages through while a writer appends to every session and adds memory records
    stop, written = threading.Event(), []

    def write() -> None:
        for round_ in range(200):
            if stop.is_set():
                return
            sid = session_ids[round_ % SESSIONS]
            (message,) = local_repo.append_messages(sid, user, [MessageCreate(role=MessageRole.USER, content="late")])
            written.append(message.message_id)
            if round_ % 5 == 0:
                local_repo.add_memory(sid, user, MemoryCreate(memory_type=MemoryType.CUSTOM, content="late"))

    writer = threading.Thread(target=write)
    writer.start()
    lines, token, pages = [], None, 0
    try:
        while pages < 200:
            page, token = local_repo.export_user(user, 7, token)
            lines += [json.loads(line) for line in page]
            pages += 1
            if token is None:
                break
    finally:
        stop.set()
        writer.join(timeout=60)

    # Then
    keys = [_key(line) for line in lines]
    assert token is None and pages > 2
    assert len(keys) == len(set(keys)), "a record appeared twice"
    assert existing <= set(keys), "a record that existed at the start is missing"
    assert {line["user_id"] for line in lines} == {user}
    assert written, "the writer wrote while the export ran"
    sessions_in_order = [line["session_id"] for line in lines if line["type"] == "session"]
    assert sessions_in_order == sorted(session_ids)
