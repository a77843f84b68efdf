"""Retries are safe: a transport that loses the answer after the server applied the write (the client sees
``ReadError``) makes the client retry only what cannot write twice, and the result is the stored one."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from session_service_client import APIConnectionError, NewMessage

from tests.client.conftest import ClientFactory


def posts_to(suffix: str) -> object:
    return lambda request: request.method == "POST" and request.url.path.endswith(suffix)


def sent(losing: object, method: str, suffix: str) -> list[httpx.Request]:
    return [r for r in losing.sent if r.method == method and r.url.path.endswith(suffix)]  # type: ignore[attr-defined]


def test_a_create_whose_answer_was_lost_is_created_once(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=posts_to("/api/v1/sessions"))
    session = client.create_session(title="once")
    attempts = sent(losing, "POST", "/api/v1/sessions")
    assert len(attempts) == 2 and attempts[0].headers["idempotency-key"] == attempts[1].headers["idempotency-key"]
    assert [row.session_id for row in client.iter_sessions()] == [session.session_id]


def test_appends_whose_answers_were_lost_are_stored_once(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda r: r.method == "POST" and "/messages" in r.url.path)
    sid = client.create_session().session_id
    first = client.append_message(sid, role="user", content="one", tokens_used=1, cost_usd=Decimal("0.1"))
    losing.left = 1
    batch = client.append_messages(sid, [NewMessage(role="user", content="two"), {"role": "user", "content": "3"}])
    losing.left = 1
    chosen = client.append_messages(sid, [{"role": "user", "content": "4", "message_id": str(uuid.uuid4())}])
    assert len(sent(losing, "POST", "/messages")) == 2 and len(sent(losing, "POST", "/messages:batch")) == 4
    stored = list(client.iter_messages(sid))
    assert [m.message_id for m in stored] == [
        first.message_id,
        *(m.message_id for m in batch.messages),
        chosen.messages[0].message_id,
    ]
    session = client.get_session(sid)
    assert (session.message_count, session.total_tokens, session.total_cost) == (4, 1, Decimal("0.1"))


def test_a_memory_record_whose_answer_was_lost_is_added_once(make_client: ClientFactory, user: str) -> None:
    client, _ = make_client(user_id=user, lose=posts_to("/memory"))
    sid = client.create_session().session_id
    memory = client.add_memory(sid, memory_type="entity", content="Rome")
    assert [m.memory_id for m in client.iter_memories(sid)] == [memory.memory_id]


def test_a_streamed_reply_survives_lost_answers_at_every_step(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: request.method in ("POST", "PATCH"))
    losing.left = 0
    sid = client.create_session().session_id
    losing.left = 1  # the creation (its message_id is the client's)
    with client.stream_reply(sid) as reply:
        losing.left = 1  # each chunk (the same index and content again is a no-op)
        reply.send("Hel")
        losing.left = 1
        reply.send("lo")
        losing.left = 1  # the finalization (the same finalization again is a no-op)
        reply.finish(tokens_used=4, cost_usd=Decimal("0.000000000004"))
    assert len(sent(losing, "POST", "/messages")) == 2 and len(sent(losing, "POST", "/chunks")) == 4
    assert len([r for r in losing.sent if r.method == "PATCH"]) == 2
    stored = client.get_message(sid, reply.message_id)
    assert (stored.content, stored.status, stored.tokens_used) == ("Hello", "completed", 4)
    session = client.get_session(sid)
    assert (session.message_count, session.total_tokens, session.total_cost) == (1, 4, Decimal("0.000000000004"))


def test_a_deletion_whose_answer_was_lost_answers_as_the_first_did(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: request.method == "DELETE")
    sid = client.create_session().session_id
    message = client.append_message(sid, role="user", content="gone", tokens_used=3)
    assert client.delete_message(sid, message.message_id).deleted == 1  # the retry met 404: the first deleted it
    assert len(sent(losing, "DELETE", message.message_id)) == 2
    assert client.get_session(sid).total_tokens == 0
    losing.left = 1
    assert client.delete_session(sid).message == "Session deleted permanently"
    assert client.session_exists(sid) is False


def test_writes_that_could_apply_twice_are_not_retried(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: request.method == "PUT")
    session = client.create_session()
    with pytest.raises(APIConnectionError):
        client.update_session(session.session_id, title="unconditional")  # applied once, its answer lost
    assert len(sent(losing, "PUT", session.session_id)) == 1
    applied = client.get_session(session.session_id)
    assert applied.title == "unconditional"  # (with if_match it is retried: test_client_confirmed_retries.py)
