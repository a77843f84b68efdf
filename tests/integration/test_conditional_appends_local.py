"""Conditional appends against DynamoDB Local, which really conflicts transactions (ADK's
``StaleSessionError``): ten appends on the same session version, each with changes of the session's, the user's
and the namespace's state: one is stored, the other nine get 412 and store nothing (no message, no count, no key
of any of their state changes)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from session_service.errors import PreconditionFailed
from session_service.models import MessageCreate, MessageRole, SessionCreate, SessionTag
from session_service.models.state import AppendState

pytestmark = pytest.mark.dynamodb_local

WRITERS = 10


def test_one_of_ten_appends_on_the_same_version_is_stored_with_all_its_changes(local_repo: Any) -> None:
    user, namespace = f"it_cond_{uuid.uuid4().hex[:8]}", f"ns-{uuid.uuid4().hex[:8]}"
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user, namespace=namespace))
    start = threading.Barrier(WRITERS)
    read = SessionTag(session.version, session.created_at)

    def append(number: int) -> Any:
        mine = AppendState(set={"winner": number, f"mine{number}": True})
        request = MessageCreate(
            role=MessageRole.USER,
            content=f"turn {number}",
            state=mine,
            user_state=mine,
            namespace_state=mine,
        )
        start.wait()  # every writer names the version read at creation, at once
        try:
            return local_repo.append_messages(session.session_id, user, [request], if_match=read)
        except PreconditionFailed as failed:
            return failed

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(append, range(WRITERS)))

    stored = [result for result in results if not isinstance(result, Exception)]
    assert len(stored) == 1 and stored[0].version == SessionTag(session.version + 1, session.created_at)
    assert sum(isinstance(result, PreconditionFailed) for result in results) == WRITERS - 1
    winner = int(stored[0][0].content.split()[-1])
    expected = {"winner": winner, f"mine{winner}": True}
    merged = local_repo.get_merged_state(session.session_id, user)
    assert merged.session.state == expected and merged.user.state == expected
    assert merged.namespace is not None and merged.namespace.state == expected
    read = local_repo.get_session(session.session_id, user)
    assert read.message_count == 1 and read.version == session.version + 1
