"""Concurrent appends to one session lose nothing (issue 3), against moto from threads.

moto is not safe for concurrent writers: its ``transact_write_items`` deep-copies the whole table as a
backup (which fails with "dictionary changed size during iteration" while another thread writes) and
restores that copy on a cancelled transaction (which would discard the other threads' writes). The
``serialized_moto`` fixture therefore runs one DynamoDB request at a time, as a real table applies each
request atomically. What these tests prove is that the repository's accounting is per request (``ADD``
inside the append's own transaction, no read-modify-write in Python, no shared state between callers);
DynamoDB's handling of truly simultaneous transactions is the DynamoDB Local tier's job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from session_service import wiring
from session_service.errors import SessionNotActive
from session_service.models import MessageCreate, MessageRole

pytestmark = pytest.mark.fresh_table  # 100 appends: on moto each copies the whole table per item

USER = "test_user_123"
NewSession = Callable[..., dict[str, Any]]
WRITERS = 50


@pytest.fixture
def serialized_moto(repo: Any) -> Iterator[None]:
    """One request at a time through the repository's client (see the module docstring)."""
    lock = threading.Lock()

    def acquire(**_: Any) -> None:
        lock.acquire()

    def release(**_: Any) -> None:
        lock.release()

    events = wiring.dynamodb_client().meta.events
    handlers = [
        ("before-call.dynamodb", acquire),
        ("after-call.dynamodb", release),
        ("after-call-error.dynamodb", release),
    ]
    for name, handler in handlers:
        events.register(name, handler)
    yield
    for name, handler in handlers:
        events.unregister(name, handler)


@pytest.mark.usefixtures("serialized_moto")
def test_50_concurrent_appends_leave_50_messages_and_exact_counters(repo: Any, new_session: NewSession) -> None:
    sid = new_session(USER)["session_id"]
    requests = [
        MessageCreate(
            role=MessageRole.USER,
            content=f"message {i}",
            tokens_used=i * 7 + 1,
            cost_usd=Decimal(i) / 1000 + Decimal("0.000001"),
        )
        for i in range(WRITERS)
    ]
    start = threading.Barrier(WRITERS)

    def append(request: MessageCreate) -> str:
        start.wait()  # release every writer at once
        (message,) = repo.append_messages(sid, USER, [request])
        return str(message.message_id)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        ids = list(pool.map(append, requests))

    assert len(set(ids)) == WRITERS
    session = repo.get_session(sid, USER)
    assert session.message_count == WRITERS
    assert session.total_tokens == sum(r.tokens_used for r in requests)
    assert session.total_cost == sum((r.cost_usd for r in requests), Decimal(0))
    listed = repo.list_messages(sid, USER, page_size=200)
    assert listed.total == WRITERS
    assert sorted(m.message_id for m in listed.messages) == sorted(ids)
    assert {m.content for m in listed.messages} == {r.content for r in requests}


@pytest.mark.usefixtures("serialized_moto")
def test_appends_racing_an_end_are_counted_exactly(repo: Any, new_session: NewSession) -> None:
    """Every append that succeeded is counted, every refused one stored nothing, whatever the interleaving."""
    sid = new_session(USER)["session_id"]
    start = threading.Barrier(21)
    request = MessageCreate(role=MessageRole.USER, content="x", tokens_used=2, cost_usd=Decimal("0.000001"))

    def append(_: int) -> bool:
        start.wait()
        try:
            repo.append_messages(sid, USER, [request])
        except SessionNotActive:
            return False
        return True

    def end() -> None:
        start.wait()
        repo.end_session(sid, USER)

    with ThreadPoolExecutor(max_workers=21) as pool:
        ender = pool.submit(end)
        results = list(pool.map(append, range(20)))
        ender.result()

    stored = sum(results)
    session = repo.get_session(sid, USER)
    assert session.status == "ended"
    assert session.message_count == stored
    assert session.total_tokens == 2 * stored
    assert session.total_cost == Decimal("0.000001") * stored
    assert repo.list_messages(sid, USER, page_size=200).total == stored
    assert len(repo.list_messages(sid, USER, page_size=200).messages) == stored
