"""An export reads at the least requests: per page the user's counts (on the first page with the user's state
documents, in one Query) and session keys, then one Query per session of its whole partition (its session items,
state documents, messages and memory records together)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_service.models import MemoryCreate, MemoryType, MessageCreate, MessageRole, SessionCreate
from session_service.repository import SessionRepository

SESSIONS, MESSAGES = 12, 2


class Clock:
    """A clock that moves a millisecond each time it is read."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) - timedelta(minutes=5)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def calls(ddb: Any) -> Iterator[list[str]]:
    sent: list[str] = []

    def log(model: Any, **_: Any) -> None:
        sent.append(model.name)

    ddb.meta.events.register("before-call.dynamodb", log)
    yield sent
    ddb.meta.events.unregister("before-call.dynamodb", log)


@pytest.fixture
def exported(store: SessionRepository, user: str) -> list[tuple[str, str]]:
    """``user``'s sessions of messages and a memory record each: every line an export must give, in order."""
    lines = []
    for _ in range(SESSIONS):
        session = store.create_session(user, SessionCreate(user_id=user))[0]
        batch = [MessageCreate(role=MessageRole.USER, content=f"m{i}") for i in range(MESSAGES)]
        messages = store.append_messages(session.session_id, user, batch)
        memory = store.add_memory(session.session_id, user, MemoryCreate(memory_type=MemoryType.ENTITY, content="x"))
        lines += [
            (session.session_id, "session"),
            *((m.message_id, "message") for m in messages),
            (memory.memory_id, "memory"),
        ]
    per_session = MESSAGES + 2
    return [lines[i] for i in sorted(range(len(lines)), key=lambda i: (lines[i // per_session * per_session][0], i))]


def _ids(page: list[str]) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in page]
    return [(row.get("message_id") or row.get("memory_id") or row["session_id"], row["type"]) for row in rows]


def test_an_export_reads_each_session_in_one_query(
    store: SessionRepository, user: str, exported: list[tuple[str, str]], calls: list[str]
) -> None:
    # One page: the counts (with the user's documents), the keys, one Query per session
    calls.clear()
    page, token = store.export_user(user, 1000)
    assert token is None and _ids(page) == exported
    assert calls == ["Query", "Query", *["Query"] * SESSIONS]

    # Pages of 7 lines: per page the counts and the keys; per session one Query, and one more for the session a
    # page resumes inside
    calls.clear()
    lines, token, pages = [], None, 0
    while pages == 0 or token is not None:
        page, token = store.export_user(user, 7, token)
        lines += _ids(page)
        pages += 1
    assert lines == exported
    assert calls.count("GetItem") == pages - 1 and set(calls) == {"GetItem", "Query"}
    assert calls.count("Query") <= 1 + pages + SESSIONS + pages
