"""Every route through both clients (sync and async, the same scenario), against the local server."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from session_service_client import (
    ExportedMemory,
    ExportedMessage,
    ExportedSession,
    NewMessage,
    NewSession,
    NotFound,
    Session,
)

from tests.client.conftest import ClientFactory


def test_health_and_statistics(make_client: ClientFactory) -> None:
    client = make_client()
    assert client.health().status == "healthy"
    detailed = client.health_detailed()
    assert (detailed.status, detailed.database_connected) == ("operational", True)
    assert client.get_stats().total_sessions >= 0


def test_a_session_from_create_to_permanent_delete(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    created = client.create_session(title="Trip", metadata={"lang": "en", "weight": 0.5}, ttl_seconds=3600)
    assert isinstance(created, Session) and created.user_id == user and created.etag
    assert created.metadata == {"lang": "en", "weight": 0.5}  # a float stays a float in a JSON object
    again = client.create_session(session_id=created.session_id)  # seed 004's "ensure it exists"
    assert again.session_id == created.session_id and again.title == "Trip"

    read = client.get_session(created.session_id)
    assert read.etag == created.etag and read.total_cost == Decimal(0)
    assert client.session_exists(created.session_id) is True
    assert client.session_exists(str(uuid.uuid4())) is False

    updated = client.update_session(created.session_id, title="Trip to Rome", if_match=read.etag)
    assert updated.title == "Trip to Rome" and updated.etag != read.etag
    summary = client.get_session_summary(created.session_id)
    assert (summary.session_id, summary.message_count, summary.has_memory) == (created.session_id, 0, False)

    listed = client.list_sessions(page_size=10)
    assert [row.session_id for row in listed.sessions] == [created.session_id] and listed.total == 1
    assert client.list_sessions(status="ended").sessions == []

    assert client.end_session(created.session_id).message == "Session ended successfully"
    assert client.get_session(created.session_id).status == "ended"
    assert client.delete_session(created.session_id).message == "Session deleted permanently"
    with pytest.raises(NotFound):
        client.get_session(created.session_id)


def test_batches_of_sessions(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    made = client.create_sessions([NewSession(title="one"), {"title": "two"}]).sessions
    assert [session.title for session in made] == ["one", "two"]
    assert {row.session_id for row in client.iter_sessions(page_size=1)} == {s.session_id for s in made}
    assert client.delete_sessions([session.session_id for session in made]).deleted == 2
    assert list(client.iter_sessions()) == []


def test_messages_as_records(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    first = client.append_message(sid, role="user", content="Hello", tokens_used=3, cost_usd=Decimal("0.000003"))
    chosen = str(uuid.uuid4())
    second = client.append_message(
        sid, role="assistant", content="Hi!", message_id=chosen, provider="bedrock", model="claude", tokens_used=5
    )
    assert second.message_id == chosen and (second.provider, second.model) == ("bedrock", "claude")
    assert (
        client.append_message(
            sid, role="assistant", content="Hi!", message_id=chosen, provider="bedrock", model="claude", tokens_used=5
        )
        == second
    )  # the same id and body: the stored one
    batch = client.append_messages(
        sid, [NewMessage(role="user", content="Two"), {"role": "assistant", "content": "Three", "tokens_used": 1}]
    )
    assert [m.content for m in batch.messages] == ["Two", "Three"] and batch.total == 2

    assert client.get_message(sid, first.message_id) == first
    edited = client.update_message(sid, first.message_id, metadata={"edited": True})
    assert edited.metadata == {"edited": True}
    page = client.list_messages(sid, order="desc", page_size=2)
    assert [m.content for m in page.messages] == ["Three", "Two"] and page.total == 4 and page.next_token
    assert [m.content for m in client.list_messages(sid, page=2, page_size=2).messages] == ["Two", "Three"]
    context = client.get_context(sid, max_messages=2)
    assert [m.content for m in context.messages] == ["Two", "Three"] and context.truncated

    assert client.truncate_messages(sid, after=batch.messages[0].message_id).deleted == 1
    assert client.delete_message(sid, first.message_id).deleted == 1
    assert [m.content for m in client.iter_messages(sid)] == ["Hi!", "Two"]
    session = client.get_session(sid)
    assert (session.message_count, session.total_tokens) == (2, 5)


def test_a_streamed_reply(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    with client.stream_reply(sid, provider="bedrock", model="claude") as reply:
        assert reply.send("Hel").content == "Hel"
        assert client.get_message(sid, reply.message_id).status == "in_progress"
        reply.send("lo")
        reply.tokens_used, reply.cost_usd = 7, Decimal("0.000000000007")
    stored = client.get_message(sid, reply.message_id)
    assert (stored.content, stored.status, stored.tokens_used, stored.cost_usd) == (
        "Hello",
        "completed",
        7,
        Decimal("0.000000000007"),
    )

    with pytest.raises(RuntimeError), client.stream_reply(sid) as failing:
        failing.send("partial")
        raise RuntimeError("the model failed")
    assert client.get_message(sid, failing.message_id).status == "incomplete"
    direct = client.append_message(sid, role="assistant", content="", status="in_progress")
    assert client.append_chunk(sid, direct.message_id, index=0, content="x").content == "x"
    assert client.update_message(sid, direct.message_id, status="completed").status == "completed"


def test_memory_records(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    made = [client.add_memory(sid, memory_type="preference", content=f"likes {n}") for n in range(3)]
    client.add_memory(sid, memory_type="entity", content="Rome", metadata={"kind": "city"})
    assert [m.memory_id for m in client.iter_memories(sid, memory_type="preference", page_size=2)] == [
        m.memory_id for m in made
    ]
    listed = client.list_memories(sid)
    assert listed.total == 4 and {m.memory_type for m in listed.memories} == {"preference", "entity"}


def _wait(check: Any, what: str, deadline: float = 60.0) -> Any:
    end = time.monotonic() + deadline
    while not (result := check()):
        assert time.monotonic() < end, what
        time.sleep(0.2)
    return result


def test_a_users_data_usage_export_and_erasure(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session(title="exported").session_id
    client.append_message(sid, role="user", content="a line", tokens_used=2, cost_usd=Decimal("0.123456789012"))
    client.add_memory(sid, memory_type="summary", content="a record")

    lines = list(client.iter_export(page_size=1))  # a page a line: the reader follows Next-Token
    assert sorted(type(line).__name__ for line in lines) == ["ExportedMemory", "ExportedMessage", "ExportedSession"]
    (message,) = [line for line in lines if isinstance(line, ExportedMessage)]
    assert message.cost_usd == Decimal("0.123456789012")
    page = client.export_user(page_size=2)
    assert len(page.lines) == 2 and page.next_token
    rest = client.export_user(next_token=page.next_token, page_size=2)
    assert len(rest.lines) == 1 and rest.next_token is None
    assert {type(line) for line in page.lines + rest.lines} == {ExportedSession, ExportedMessage, ExportedMemory}

    usage = _wait(lambda: (u := client.get_usage()).messages == 1 and u, "usage follows the append")
    assert usage.cost == Decimal("0.123456789012") and usage.user_id == user

    assert client.erase_user().status == "erasing"
    assert client.get_erasure().user_id == user
    with pytest.raises(NotFound):
        client.get_session(sid)
