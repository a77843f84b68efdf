"""Pop, clear and a batch that names messages already stored, through both clients: ``pop_messages`` removes
and returns the newest (newest first), ``clear_messages`` removes every message and keeps the session, and a
retried batch skips what it stored already (issue 20's API)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from session_service_client import Conflict, NotFound, SessionServiceClient

from tests.client.conftest import ClientFactory


def test_pop_returns_the_newest_and_removes_them(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    client.append_messages(sid, [{"role": "user", "content": f"#{n}", "tokens_used": n} for n in range(5)])

    one = client.pop_messages(sid)
    assert (one.deleted, [m.content for m in one.messages]) == (1, ["#4"])
    two = client.pop_messages(sid, count=2)
    assert (two.deleted, [m.content for m in two.messages]) == (2, ["#3", "#2"])
    assert [m.content for m in client.list_messages(sid).messages] == ["#0", "#1"]
    session = client.get_session(sid)
    assert (session.message_count, session.total_tokens) == (2, 1)

    rest = client.pop_messages(sid, count=10)
    assert (rest.deleted, [m.content for m in rest.messages]) == (2, ["#1", "#0"])
    empty = client.pop_messages(sid)
    assert (empty.deleted, empty.messages) == (0, [])


def test_pop_and_clear_of_a_missing_session_are_not_found(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    with pytest.raises(NotFound):
        client.pop_messages(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        client.clear_messages(str(uuid.uuid4()))


def test_concurrent_pops_never_return_the_same_message(base_url: str, user: str) -> None:
    with SessionServiceClient(base_url, user_id=user) as client:
        sid = client.create_session().session_id
        client.append_messages(sid, [{"role": "user", "content": f"#{n}"} for n in range(10)])
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda _: client.pop_messages(sid), range(10)))
        popped = [m.content for result in results for m in result.messages]
        assert sorted(popped) == sorted(f"#{n}" for n in range(10))
        assert client.get_session(sid).message_count == 0


def test_clear_removes_every_message_and_keeps_the_session(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session(title="kept", metadata={"k": 1}).session_id
    client.append_messages(sid, [{"role": "user", "content": f"#{n}", "tokens_used": 2} for n in range(30)])
    assert client.clear_messages(sid).deleted == 30
    assert client.list_messages(sid).messages == []
    session = client.get_session(sid)
    assert (session.title, session.metadata, session.status) == ("kept", {"k": 1}, "active")
    assert (session.message_count, session.total_tokens) == (0, 0)
    assert client.clear_messages(sid).deleted == 0
    client.append_message(sid, role="user", content="after")
    assert [m.content for m in client.list_messages(sid).messages] == ["after"]


def test_a_retried_pop_whose_answer_was_lost_pops_once(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: request.url.path.endswith(":pop"))
    sid = client.create_session().session_id
    client.append_messages(sid, [{"role": "user", "content": f"#{n}"} for n in range(3)])
    popped = client.pop_messages(sid)
    assert [m.content for m in popped.messages] == ["#2"]
    assert [m.content for m in client.list_messages(sid).messages] == ["#0", "#1"]
    pops = [request for request in losing.sent if request.url.path.endswith(":pop")]
    assert len(pops) == 2 and pops[0].headers["Idempotency-Key"] == pops[1].headers["Idempotency-Key"]


def test_a_batch_skips_messages_stored_with_the_same_body(make_client: ClientFactory, user: str) -> None:
    client = make_client(user_id=user)
    sid = client.create_session().session_id
    ids = [str(uuid.uuid4()) for _ in range(4)]
    first = [{"role": "user", "content": f"#{n}", "message_id": ids[n], "data": {"n": n}} for n in range(2)]
    client.append_messages(sid, first)

    retried = first + [{"role": "assistant", "content": f"#{n}", "message_id": ids[n]} for n in range(2, 4)]
    answer = client.append_messages(sid, retried)
    assert [m.message_id for m in answer.messages] == ids and answer.total == 4
    assert [m.content for m in client.list_messages(sid).messages] == ["#0", "#1", "#2", "#3"]
    assert client.get_session(sid).message_count == 4

    assert [m.message_id for m in client.append_messages(sid, retried).messages] == ids  # all stored: nothing new
    with pytest.raises(Conflict):
        client.append_messages(sid, [{"role": "user", "content": "another body", "message_id": ids[0]}])
    assert client.get_session(sid).message_count == 4


def test_a_batch_of_named_messages_whose_answer_was_lost_is_stored_once(make_client: ClientFactory, user: str) -> None:
    client, losing = make_client(user_id=user, lose=lambda request: request.url.path.endswith("messages:batch"))
    sid = client.create_session().session_id
    ids = [str(uuid.uuid4()) for _ in range(3)]
    answer = client.append_messages(sid, [{"role": "user", "content": f"#{n}", "message_id": ids[n]} for n in range(3)])
    assert [m.message_id for m in answer.messages] == ids
    batches = [request for request in losing.sent if request.url.path.endswith("messages:batch")]
    assert len(batches) == 2 and all("Idempotency-Key" not in request.headers for request in batches)
    assert [m.message_id for m in client.list_messages(sid).messages] == ids
    assert client.get_session(sid).message_count == 3
