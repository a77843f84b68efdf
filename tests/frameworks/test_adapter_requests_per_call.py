"""Requests per framework call through each adapter (SPEC section 10, issue 20's "Done when"): OpenAI Agents
``get_items(limit)`` 1, ``add_items`` 1, ``pop_item`` 1, ``clear_session`` 1, a Runner turn 3; LangChain
``messages`` 1 per page, ``add_messages`` 1, ``clear`` 1; Claude ``append`` 1 per batch, ``load`` 1 per page.
The first write of a new session costs 3 (the batch meets 404, the session is created, the batch again)."""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent, Runner
from agents.testing import ScriptedModel
from langchain_core.messages import AIMessage, HumanMessage
from openai.types.responses import ResponseOutputMessage, ResponseOutputText
from session_service_client import SessionServiceClient
from session_service_client.claude import SessionServiceSessionStore
from session_service_client.langchain import SessionServiceChatMessageHistory
from session_service_client.openai_agents import SessionServiceSession

from tests.frameworks.conftest import Counted

BATCH = "POST /api/v1/sessions/{}/messages:batch"


def text_message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="1",
        type="message",
        role="assistant",
        content=[ResponseOutputText(text=text, type="output_text", annotations=[], logprobs=[])],
        status="completed",
    )


def test_openai_agents_session(sync_client: SessionServiceClient, counted: Counted, user: str, namespace: str) -> None:
    session = SessionServiceSession("costs", client=sync_client, user_id=user, namespace=namespace)
    sid = session.service_session_id

    async def scenario() -> None:
        await session.add_items([{"role": "user", "content": "first"}])
        assert counted.take() == [BATCH.format(sid), "POST /api/v1/sessions", BATCH.format(sid)]
        await session.add_items([{"role": "assistant", "content": f"#{n}"} for n in range(40)])
        assert counted.take() == [BATCH.format(sid)]
        assert len(await session.get_items(limit=5)) == 5
        assert counted.take() == [f"GET /api/v1/sessions/{sid}/messages"]
        assert (await session.pop_item())["content"] == "#39"
        assert counted.take() == [f"POST /api/v1/sessions/{sid}/messages:pop"]
        await session.clear_session()
        assert counted.take() == [f"POST /api/v1/sessions/{sid}/messages:clear"]

    asyncio.run(scenario())


def test_a_runner_turn_costs_three_requests(
    sync_client: SessionServiceClient, counted: Counted, user: str, namespace: str
) -> None:
    session = SessionServiceSession("turn", client=sync_client, user_id=user, namespace=namespace)
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    model.enqueue([text_message("Hello")])
    asyncio.run(Runner.run(agent, "Hi", session=session))
    counted.take()  # the first turn also creates the session
    model.enqueue([text_message("Again")])
    result = asyncio.run(Runner.run(agent, "Once more", session=session))
    assert result.final_output == "Again"
    sent = counted.take()
    assert len(sent) == 3, sent  # get_items once, add_items twice (the input, then the outputs)
    assert asyncio.run(session.get_items())[-1]["content"][0]["text"] == "Again"


def test_langchain_history(sync_client: SessionServiceClient, counted: Counted, user: str, namespace: str) -> None:
    history = SessionServiceChatMessageHistory("costs", client=sync_client, user_id=user, namespace=namespace)
    sid = history.service_session_id
    history.add_messages([HumanMessage("hi")])
    counted.take()
    history.add_messages([HumanMessage("a"), AIMessage("b")])
    assert counted.take() == [BATCH.format(sid)]
    assert len(history.messages) == 3
    assert counted.take() == [f"GET /api/v1/sessions/{sid}/messages"]
    history.clear()
    assert counted.take() == [f"POST /api/v1/sessions/{sid}/messages:clear"]


def test_langchain_reads_one_request_per_page_of_200(
    sync_client: SessionServiceClient, counted: Counted, user: str, namespace: str
) -> None:
    history = SessionServiceChatMessageHistory("pages", client=sync_client, user_id=user, namespace=namespace)
    history.add_messages([HumanMessage(f"#{n}") for n in range(250)])
    counted.take()
    assert [m.content for m in history.messages] == [f"#{n}" for n in range(250)]
    assert len(counted.take()) == 2


def test_claude_store(sync_client: SessionServiceClient, counted: Counted, user: str, namespace: str) -> None:
    store = SessionServiceSessionStore(client=sync_client, user_id=user, namespace=namespace)
    key: Any = {"project_key": "proj", "session_id": "costs"}

    async def scenario() -> None:
        await store.append(key, [{"type": "user", "uuid": "u0"}])
        counted.take()
        await store.append(key, [{"type": "assistant", "uuid": f"u{n}"} for n in range(1, 60)])
        assert len(counted.take()) == 1
        assert len(await store.load(key) or []) == 60
        assert len(counted.take()) == 1

    asyncio.run(scenario())


def test_claude_listings_read_only_the_project(
    sync_client: SessionServiceClient, counted: Counted, user: str, namespace: str
) -> None:
    """A project is a namespace: listing it reads its own transcripts, one page, whatever the user's other
    sessions (here 210 of another project and of no project, more than a page of 200)."""
    store = SessionServiceSessionStore(client=sync_client, user_id=user, namespace=namespace)
    for start in range(0, 210, 25):
        sync_client.create_sessions([{"title": f"other {n}"} for n in range(start, min(start + 25, 210))], user_id=user)

    async def scenario() -> None:
        await store.append({"project_key": "elsewhere", "session_id": "x"}, [{"type": "user", "uuid": "e"}])
        for name in ("a", "b"):
            await store.append({"project_key": "proj", "session_id": name}, [{"type": "user", "uuid": name}])
        await store.append({"project_key": "proj", "session_id": "a", "subpath": "sub"}, [{"type": "user"}])
        counted.take()
        assert sorted(row["session_id"] for row in await store.list_sessions("proj")) == ["a", "b"]
        assert await store.list_subkeys({"project_key": "proj", "session_id": "a"}) == ["sub"]
        assert len(counted.take()) == 2  # one listing page each

    asyncio.run(scenario())


def test_a_runnable_with_message_history_turn_costs_two_requests(
    sync_client: SessionServiceClient, counted: Counted, user: str, namespace: str
) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.runnables.history import RunnableWithMessageHistory

    histories = {}

    def history(session_id: str) -> SessionServiceChatMessageHistory:
        return histories.setdefault(
            session_id,
            SessionServiceChatMessageHistory(session_id, client=sync_client, user_id=user, namespace=namespace),
        )

    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
    chain = RunnableWithMessageHistory(
        prompt | FakeListChatModel(responses=["one", "two"]),
        history,
        input_messages_key="question",
        history_messages_key="history",
    )
    config: Any = {"configurable": {"session_id": "turns"}}
    chain.invoke({"question": "first"}, config=config)
    counted.take()  # the first turn also creates the session
    chain.invoke({"question": "second"}, config=config)
    assert len(counted.take()) == 2  # messages on entry, add_messages once
