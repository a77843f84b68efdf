"""What the issue's failure reports ask of every store, through the adapters: ten concurrent ``pop_item`` on ten
items return ten different items and leave the session empty; two users with the same framework session id
never see each other's items; 200 items added in four batches read back in exactly that order (a ``reasoning``
item stays right before its message); items come back deep-equal, structured JSON and all."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_core.messages import HumanMessage
from session_service_client.claude import SessionServiceSessionStore
from session_service_client.langchain import SessionServiceChatMessageHistory
from session_service_client.openai_agents import SessionServiceSession


def items(start: int, count: int) -> list[dict[str, Any]]:
    """Responses API items: a reasoning item before each assistant message, every id the same (as the SDK's)."""
    out: list[dict[str, Any]] = []
    for n in range(start, start + count):
        if n % 2:
            out.append({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": f"r{n}"}]})
        else:
            out.append({"role": "user", "content": f"item {n}", "id": "msg_1", "n": n, "weight": n / 3})
    return out


def test_ten_concurrent_pops_return_ten_different_items(base_url: str, user: str, namespace: str) -> None:
    session = SessionServiceSession("pops", base_url=base_url, user_id=user, namespace=namespace)
    stored = [{"role": "user", "content": f"#{n}"} for n in range(10)]

    async def scenario() -> list[Any]:
        await session.add_items(stored)
        return list(await asyncio.gather(*(session.pop_item() for _ in range(10))))

    popped = asyncio.run(scenario())
    assert sorted(item["content"] for item in popped) == sorted(item["content"] for item in stored)
    assert asyncio.run(session.get_items()) == []
    assert asyncio.run(session.pop_item()) is None


def test_concurrent_pops_from_threads_each_on_its_own_loop(base_url: str, user: str, namespace: str) -> None:
    # As Runner.run_sync does: one session object, calls from several threads, each with a new event loop.
    session = SessionServiceSession("threads", base_url=base_url, user_id=user, namespace=namespace)
    asyncio.run(session.add_items([{"role": "user", "content": f"#{n}"} for n in range(10)]))
    popped: list[Any] = []
    lock = threading.Lock()

    def pop() -> None:
        item = asyncio.run(session.pop_item())
        with lock:
            popped.append(item)

    threads = [threading.Thread(target=pop) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(item["content"] for item in popped) == sorted(f"#{n}" for n in range(10))
    session.close()


def test_200_items_in_four_batches_read_back_in_that_order(base_url: str, user: str, namespace: str) -> None:
    session = SessionServiceSession("order", base_url=base_url, user_id=user, namespace=namespace)
    written = items(0, 200)

    async def scenario() -> None:
        for start in range(0, 200, 50):
            await session.add_items(written[start : start + 50])
        assert await session.get_items() == written
        assert await session.get_items(limit=7) == written[-7:]
        assert await session.get_items(limit=150) == written[-150:]

    asyncio.run(scenario())


def test_two_users_with_the_same_framework_id_never_see_each_others_items(base_url: str, namespace: str) -> None:
    alice, bob = "fw_alice_" + namespace, "fw_bob_" + namespace

    async def agents_sdk() -> None:
        first = SessionServiceSession("same", base_url=base_url, user_id=alice, namespace=namespace)
        second = SessionServiceSession("same", base_url=base_url, user_id=bob, namespace=namespace)
        assert first.service_session_id != second.service_session_id
        await first.add_items([{"role": "user", "content": "alice's"}])
        assert await second.get_items() == [] and await second.pop_item() is None
        await second.add_items([{"role": "user", "content": "bob's"}])
        await second.clear_session()
        assert await first.get_items() == [{"role": "user", "content": "alice's"}]

    async def claude_sdk() -> None:
        first = SessionServiceSessionStore(base_url=base_url, user_id=alice, namespace=namespace)
        second = SessionServiceSessionStore(base_url=base_url, user_id=bob, namespace=namespace)
        key: Any = {"project_key": "p", "session_id": "same"}
        await first.append(key, [{"type": "user", "uuid": "u1"}])
        assert await second.load(key) is None and await second.list_sessions("p") == []
        await second.delete(key)
        assert await first.load(key) == [{"type": "user", "uuid": "u1"}]

    asyncio.run(agents_sdk())
    asyncio.run(claude_sdk())
    first = SessionServiceChatMessageHistory("same", base_url=base_url, user_id=alice, namespace=namespace)
    second = SessionServiceChatMessageHistory("same", base_url=base_url, user_id=bob, namespace=namespace)
    first.add_messages([HumanMessage("alice's")])
    assert second.messages == []
    second.clear()
    assert first.messages == [HumanMessage("alice's")]


def test_two_namespaces_never_see_each_others_items(base_url: str, user: str, namespace: str) -> None:
    async def scenario() -> None:
        first = SessionServiceSession("same", base_url=base_url, user_id=user, namespace=namespace + "-a")
        second = SessionServiceSession("same", base_url=base_url, user_id=user, namespace=namespace + "-b")
        await first.add_items([{"role": "user", "content": "a"}])
        assert await second.get_items() == []
        store_a = SessionServiceSessionStore(base_url=base_url, user_id=user, namespace=namespace + "-a")
        store_b = SessionServiceSessionStore(base_url=base_url, user_id=user, namespace=namespace + "-b")
        await store_a.append({"project_key": "p", "session_id": "s"}, [{"type": "x"}])
        assert (
            await store_b.list_sessions("p") == []
            and await store_b.load({"project_key": "p", "session_id": "s"}) is None
        )

    asyncio.run(scenario())


def test_a_retried_claude_batch_stores_each_entry_once(base_url: str, user: str, namespace: str) -> None:
    # The SDK retries a failed append (and a timed-out one may have landed): entries with a uuid are stored once.
    key: Any = {"project_key": "p", "session_id": "retry"}
    batch = [{"type": "user", "uuid": "u1", "n": 1}, {"type": "assistant", "uuid": "u2", "n": 2}, {"type": "tag"}]

    async def scenario(store: Any) -> Any:
        await store.append(key, batch[:2])
        await store.append(key, batch)  # the retry of a batch whose first two entries landed
        return await store.load(key)

    ours = asyncio.run(scenario(SessionServiceSessionStore(base_url=base_url, user_id=user, namespace=namespace)))
    assert ours == batch


def test_each_loops_client_is_closed_when_its_loop_shuts_down(base_url: str, user: str, namespace: str) -> None:
    # Runner.run_sync runs every turn on a new loop: each loop's client (its connections) closes with the loop.
    session = SessionServiceSession("loops", base_url=base_url, user_id=user, namespace=namespace)
    opened: list[Any] = []

    async def turn(n: int) -> None:
        await session.add_items([{"role": "user", "content": f"#{n}"}])
        opened.append(await session._clients._async())

    for n in range(3):
        asyncio.run(turn(n))
    assert len({id(client) for client in opened}) == 3
    assert all(client._http.is_closed for client in opened)
    assert len(asyncio.run(session.get_items())) == 3
    session.close()
