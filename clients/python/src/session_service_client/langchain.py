"""LangChain's ``BaseChatMessageHistory`` on Session Service (``pip install "session-service-client[langchain]"``).

Each LangChain message is one service message whose ``data`` is ``message_to_dict(message)`` (read back with
``messages_from_dict``: content blocks, ``tool_calls``, ``additional_kwargs``, ``id`` round-trip); its role is
named by the message's type (``human`` ``user``, ``ai`` ``assistant``, ``system``, ``tool`` and ``function``
``tool``, a ``chat`` message its own role when the service has it). Requests per call (docs/frameworks.md):
``messages`` 1 per 200 messages, ``add_messages`` 1 per 98 messages (the first write of a new session 3),
``clear`` 1; the async methods are native (no worker thread) with the same costs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from session_service_client._adapters import Clients, service_id, session_fields
from session_service_client.async_client import AsyncSessionServiceClient
from session_service_client.client import SessionServiceClient
from session_service_client.errors import NotFound
from session_service_client.models import Message, MessageList, MessageRole

FRAMEWORK = "langchain"
MAX_PAGE = 200
MAX_BATCH = 98
_ROLES: dict[str, MessageRole] = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
}
_CHAT_ROLES = frozenset({"user", "assistant", "system", "developer", "tool"})


def role_of(message: BaseMessage) -> MessageRole:
    """The service role of a LangChain message."""
    if message.type == "chat":
        role = str(getattr(message, "role", ""))
        return role if role in _CHAT_ROLES else "assistant"  # type: ignore[return-value]
    return _ROLES.get(message.type.removesuffix("Chunk").lower(), "assistant")


class SessionServiceChatMessageHistory(BaseChatMessageHistory):  # type: ignore[misc,unused-ignore]
    """A chat history kept in Session Service, for ``RunnableWithMessageHistory`` and friends.

    ``session_id`` is any string: the service session is ``uuid5(namespace, user_id, session_id)``, so two users
    (or namespaces) with equal ids never share messages. Give ``base_url`` (the service's root) or ``client=``
    (a :class:`SessionServiceClient` serves both kinds of methods; an :class:`AsyncSessionServiceClient` only
    the async ones).
    """

    def __init__(
        self,
        session_id: str,
        *,
        base_url: str | None = None,
        user_id: str,
        namespace: str | None = None,
        client: SessionServiceClient | AsyncSessionServiceClient | None = None,
    ) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.namespace = namespace
        self.service_session_id = service_id(FRAMEWORK, namespace, user_id, session_id)
        self._clients = Clients(base_url=base_url, client=client, user_id=user_id)

    # -- synchronous ------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override,unused-ignore]
        """Every message, oldest first: one request per 200 messages."""
        client, stored, token = self._clients.sync(), [], None
        while True:
            try:
                page = client.list_messages(self.service_session_id, page_size=MAX_PAGE, next_token=token)
            except NotFound:
                return []
            stored.extend(page.messages)
            token = page.next_token
            if not token:
                return _read(stored)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in order: one request per 98 (a retried batch skips what was stored)."""
        client = self._clients.sync()
        for batch in _batches(messages):
            try:
                client.append_messages(self.service_session_id, batch)
            except NotFound:
                client.create_session(**self._new_session())
                client.append_messages(self.service_session_id, batch)

    def clear(self) -> None:
        """Remove every message (the session stays): one request."""
        with contextlib.suppress(NotFound):
            self._clients.sync().clear_messages(self.service_session_id)

    # -- asynchronous (native) --------------------------------------------------------------------------

    async def aget_messages(self) -> list[BaseMessage]:
        """:attr:`messages` without a worker thread."""
        stored: list[Message] = []
        token: str | None = None
        while True:
            try:
                page: MessageList = await self._clients.call(
                    "list_messages", self.service_session_id, page_size=MAX_PAGE, next_token=token
                )
            except NotFound:
                return []
            stored.extend(page.messages)
            token = page.next_token
            if not token:
                return _read(stored)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """:meth:`add_messages` without a worker thread."""
        for batch in _batches(messages):
            try:
                await self._clients.call("append_messages", self.service_session_id, batch)
            except NotFound:
                await self._clients.call("create_session", **self._new_session())
                await self._clients.call("append_messages", self.service_session_id, batch)

    async def aclear(self) -> None:
        """:meth:`clear` without a worker thread."""
        with contextlib.suppress(NotFound):
            await self._clients.call("clear_messages", self.service_session_id)

    def close(self) -> None:
        """Close the clients this history made (a given client stays open)."""
        self._clients.close()

    def _new_session(self) -> dict[str, Any]:
        return {
            "session_id": self.service_session_id,
            "title": f"{FRAMEWORK}: {self.session_id}"[:256],
            "metadata": session_fields(FRAMEWORK, self.namespace, session_id=self.session_id[:1024]),
        }


def _batches(messages: Sequence[BaseMessage]) -> list[list[dict[str, Any]]]:
    bodies = [
        {
            "role": role_of(message),
            "content": "",
            "data": message_to_dict(message),
            "message_id": str(uuid.uuid4()),
        }
        for message in messages
    ]
    return [bodies[start : start + MAX_BATCH] for start in range(0, len(bodies), MAX_BATCH)]


_TYPES = {"user": "human", "assistant": "ai", "system": "system", "developer": "system"}


def _read(stored: list[Message]) -> list[BaseMessage]:
    return list(messages_from_dict([_as_dict(message) for message in stored]))


def _as_dict(message: Message) -> dict[str, Any]:
    if isinstance(message.data, dict):
        return message.data
    # A message written without a LangChain message in data (by the plain API): the message of its role and text.
    kind = _TYPES.get(message.role)
    if kind is None:
        return {"type": "chat", "data": {"content": message.content, "role": message.role}}
    return {"type": kind, "data": {"content": message.content}}
