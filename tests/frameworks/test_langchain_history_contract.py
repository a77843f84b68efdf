"""``BaseChatMessageHistory``'s documented behaviour, stated as tests and run on
:class:`SessionServiceChatMessageHistory` and on LangChain's ``InMemoryChatMessageHistory`` (the control):
messages read back equal to what was written (content blocks, tool calls, ``additional_kwargs``, ids), in
append order; ``add_message`` delegates to ``add_messages``; ``clear`` empties and the history stays usable;
the async methods do the same; and a ``RunnableWithMessageHistory`` turn with a fake chat model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.chat_history import BaseChatMessageHistory, InMemoryChatMessageHistory
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from session_service_client.langchain import SessionServiceChatMessageHistory

Make = Callable[[str], BaseChatMessageHistory]


@pytest.fixture(params=["in-memory (control)", "session service"])
def make_history(request: pytest.FixtureRequest, user: str, namespace: str) -> Iterator[Make]:
    made: list[Any] = []
    memory: dict[str, InMemoryChatMessageHistory] = {}

    def make(session_id: str) -> BaseChatMessageHistory:
        if request.param == "in-memory (control)":
            return memory.setdefault(session_id, InMemoryChatMessageHistory())
        base_url = request.getfixturevalue("base_url")
        history = SessionServiceChatMessageHistory(session_id, base_url=base_url, user_id=user, namespace=namespace)
        made.append(history)
        return history

    yield make
    for history in made:
        history.close()


def conversation() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse.", id="m-0"),
        HumanMessage(
            content=[
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "x"}},
            ],
            id="m-1",
            additional_kwargs={"lang": "en", "weight": 0.5},
        ),
        AIMessage(
            "",
            tool_calls=[{"name": "lookup", "args": {"q": "cat", "n": 3}, "id": "call-1", "type": "tool_call"}],
            additional_kwargs={"reasoning": {"steps": [1, 2.5, None, True]}},
            response_metadata={"model": "fake"},
            id="m-2",
        ),
        ToolMessage("a cat", tool_call_id="call-1", name="lookup", artifact={"hits": 1}, id="m-3"),
        FunctionMessage("legacy", name="old_fn"),
        ChatMessage("a custom role", role="critic"),
        AIMessage("It is a cat.", usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}),
    ]


def test_a_new_history_is_empty(make_history: Make) -> None:
    assert make_history("new").messages == []


def test_messages_read_back_equal_to_what_was_written_in_order(make_history: Make) -> None:
    history, written = make_history("s1"), conversation()
    history.add_messages(written[:3])
    history.add_messages(written[3:])
    assert history.messages == written
    assert [type(m) for m in history.messages] == [type(m) for m in written]


def test_add_message_appends_one_after_the_other(make_history: Make) -> None:
    history = make_history("s1")
    for text in ("one", "two", "three"):
        history.add_message(HumanMessage(text))
    history.add_user_message("four")
    history.add_ai_message("five")
    assert [m.content for m in history.messages] == ["one", "two", "three", "four", "five"]


def test_add_messages_of_nothing_changes_nothing(make_history: Make) -> None:
    history = make_history("s1")
    history.add_messages([])
    history.add_messages([HumanMessage("hi")])
    history.add_messages([])
    assert history.messages == [HumanMessage("hi")]


def test_clear_empties_and_the_history_stays_usable(make_history: Make) -> None:
    history = make_history("s1")
    history.add_messages(conversation())
    history.clear()
    assert history.messages == []
    history.add_messages([HumanMessage("again")])
    assert history.messages == [HumanMessage("again")]
    make_history("never-written").clear()  # nothing to clear: no error


def test_histories_of_different_ids_are_apart(make_history: Make) -> None:
    first, second = make_history("a"), make_history("b")
    first.add_messages([HumanMessage("to a")])
    second.add_messages([HumanMessage("to b")])
    first.clear()
    assert first.messages == [] and second.messages == [HumanMessage("to b")]


def test_the_async_methods_behave_as_the_sync_ones(make_history: Make) -> None:
    history, written = make_history("s1"), conversation()

    async def scenario() -> None:
        assert await history.aget_messages() == []
        await history.aadd_messages(written[:4])
        await history.aadd_messages(written[4:])
        assert await history.aget_messages() == written
        assert history.messages == written  # the same store behind both
        await history.aclear()
        assert await history.aget_messages() == []

    asyncio.run(scenario())


def test_the_async_methods_are_native() -> None:
    for name in ("aget_messages", "aadd_messages", "aclear"):
        assert name in vars(SessionServiceChatMessageHistory), name


def test_a_runnable_with_message_history_turn(make_history: Make) -> None:
    model = FakeListChatModel(responses=["Rome.", "About 2.8 million."])
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer briefly."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = RunnableWithMessageHistory(
        prompt | model, make_history, input_messages_key="question", history_messages_key="history"
    )
    config: Any = {"configurable": {"session_id": f"chat-{uuid.uuid4().hex[:6]}"}}

    first = chain.invoke({"question": "Capital of Italy?"}, config=config)
    second = chain.invoke({"question": "Its population?"}, config=config)

    assert (first.content, second.content) == ("Rome.", "About 2.8 million.")
    stored = make_history(config["configurable"]["session_id"]).messages
    assert [(type(m), m.content) for m in stored] == [
        (HumanMessage, "Capital of Italy?"),
        (AIMessage, "Rome."),
        (HumanMessage, "Its population?"),
        (AIMessage, "About 2.8 million."),
    ]


def test_an_async_runnable_with_message_history_turn(make_history: Make) -> None:
    model = FakeListChatModel(responses=["Hello!"])
    chain = RunnableWithMessageHistory(model, make_history)
    config: Any = {"configurable": {"session_id": f"chat-{uuid.uuid4().hex[:6]}"}}
    reply = asyncio.run(chain.ainvoke([HumanMessage("Hi")], config=config))
    assert reply.content == "Hello!"
    stored = make_history(config["configurable"]["session_id"]).messages
    assert [m.content for m in stored] == ["Hi", "Hello!"]
