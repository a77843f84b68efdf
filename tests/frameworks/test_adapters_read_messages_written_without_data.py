"""A conversation written through the plain API (text in ``content``, no ``data``) reads through the adapters as
the framework's own items: an easy input message for the OpenAI Agents SDK, the message of its role for
LangChain."""

from __future__ import annotations

import asyncio

from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage
from session_service_client import SessionServiceClient
from session_service_client.langchain import SessionServiceChatMessageHistory
from session_service_client.openai_agents import SessionServiceSession

PLAIN = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "tool_result", "content": "42"},
]


def test_the_openai_adapter_reads_text_messages_as_input_items(
    sync_client: SessionServiceClient, user: str, namespace: str
) -> None:
    session = SessionServiceSession("plain", client=sync_client, user_id=user, namespace=namespace)
    sync_client.create_session(session_id=session.service_session_id)
    sync_client.append_messages(session.service_session_id, PLAIN)
    assert asyncio.run(session.get_items()) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "assistant", "content": "42"},
    ]


def test_the_langchain_adapter_reads_text_messages_by_role(
    sync_client: SessionServiceClient, user: str, namespace: str
) -> None:
    history = SessionServiceChatMessageHistory("plain", client=sync_client, user_id=user, namespace=namespace)
    sync_client.create_session(session_id=history.service_session_id)
    sync_client.append_messages(history.service_session_id, PLAIN)
    assert history.messages == [
        SystemMessage("Be brief."),
        HumanMessage("Hi"),
        AIMessage("Hello!"),
        ChatMessage("42", role="tool_result"),
    ]
