"""The OpenAI Agents SDK's ``Session`` on Session Service (``pip install "session-service-client[openai-agents]"``).

Each item (a Responses API input item: a message, a function call or its output, a reasoning item...) is one
service message whose ``data`` is the item verbatim; the role is the item's own (``user``, ``assistant``,
``system``, ``developer``), else named by its type (a call ``tool_call``, its output ``tool_result``, others
``assistant``). Order is the service's append order, never a timestamp. Requests per call (docs/frameworks.md):
``get_items`` 1 (``limit`` up to 200; all items: 1 per 200), ``add_items`` 1 per 98 items (the first write of
a new session 3: the batch meets 404, the session is created, the batch is sent again), ``pop_item`` 1,
``clear_session`` 1.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

from agents.memory import SessionSettings
from agents.memory.session_settings import coerce_session_settings

from session_service_client._adapters import Clients, service_id, session_fields
from session_service_client.async_client import AsyncSessionServiceClient
from session_service_client.client import SessionServiceClient
from session_service_client.errors import NotFound
from session_service_client.models import Message, MessageList, MessageRole, PopResult

FRAMEWORK = "openai-agents"
MAX_PAGE = 200
"""The service's largest page of messages."""
MAX_BATCH = 98
"""The service's largest batch of messages."""
ROLES: frozenset[str] = frozenset({"user", "assistant", "system", "developer"})


def role_of(item: Mapping[str, Any]) -> MessageRole:
    """The service role of a Responses API item."""
    role = item.get("role")
    if isinstance(role, str) and role in ROLES:
        return role  # type: ignore[return-value]
    kind = str(item.get("type", ""))
    if kind.endswith("_output"):
        return "tool_result"
    if kind.endswith("_call"):
        return "tool_call"
    return "assistant"


def _message_type(role: MessageRole) -> str:
    return role if role in ("tool_call", "tool_result") else "chat"


class SessionServiceSession:
    """``agents.memory.Session`` whose items live in Session Service.

    ``session_id`` is any string: the service session is ``uuid5(namespace, user_id, session_id)``, so two
    users (or namespaces) with equal ids never share items. Give ``base_url`` (the service's root) or
    ``client=`` (a :class:`SessionServiceClient`, or an :class:`AsyncSessionServiceClient` used only on its
    own loop). Safe from ``Runner.run_sync`` and from several threads: each event loop gets its own client.
    """

    def __init__(
        self,
        session_id: str,
        *,
        base_url: str | None = None,
        user_id: str,
        namespace: str | None = None,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        client: SessionServiceClient | AsyncSessionServiceClient | None = None,
    ) -> None:
        self.session_id = session_id
        self.session_settings: SessionSettings | None = (
            SessionSettings() if session_settings is None else coerce_session_settings(session_settings)
        )
        self.user_id = user_id
        self.namespace = namespace
        self.service_session_id = service_id(FRAMEWORK, namespace, user_id, session_id)
        self._clients = Clients(base_url=base_url, client=client, user_id=user_id)

    async def get_items(self, limit: int | None = None) -> list[Any]:
        """The newest ``limit`` items in chronological order (``None``: the session settings' limit, else all;
        0: none; negative: all). One request per 200 items."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit == 0:
            return []
        try:
            if limit is None or limit < 0:
                return [_item(message) for message in await self._all()]
            return [_item(message) for message in reversed(await self._newest(limit))]
        except NotFound:
            return []

    async def _all(self) -> list[Message]:
        sid, token = self.service_session_id, None
        out: list[Message] = []
        while True:
            page: MessageList = await self._clients.call("list_messages", sid, page_size=MAX_PAGE, next_token=token)
            out.extend(page.messages)
            token = page.next_token
            if not token:
                return out

    async def _newest(self, limit: int) -> list[Message]:
        sid, token = self.service_session_id, None
        out: list[Message] = []
        while len(out) < limit:
            size = min(limit - len(out), MAX_PAGE)
            page: MessageList = await self._clients.call(
                "list_messages", sid, order="desc", page_size=size, next_token=token
            )
            out.extend(page.messages)
            token = page.next_token
            if not token:
                break
        return out[:limit]

    async def add_items(self, items: list[Any]) -> None:
        """Append ``items`` in order: one request per 98 items, each a batch of messages with ids drawn here, so
        the client's retry of a batch whose answer was lost skips what was stored."""
        for start in range(0, len(items), MAX_BATCH):
            batch = [_new_message(item) for item in items[start : start + MAX_BATCH]]
            await self._append(batch)

    async def _append(self, batch: list[dict[str, Any]]) -> None:
        sid = self.service_session_id
        try:
            await self._clients.call("append_messages", sid, batch)
        except NotFound:
            await self._create()
            await self._clients.call("append_messages", sid, batch)

    async def _create(self) -> None:
        sid = self.service_session_id
        title = f"{FRAMEWORK}: {self.session_id}"[:256]
        metadata = session_fields(FRAMEWORK, self.namespace, session_id=self.session_id[:1024])
        await self._clients.call("create_session", session_id=sid, title=title, metadata=metadata)

    async def pop_item(self) -> Any | None:
        """Remove and return the newest item (``None`` when there is none), atomically: two concurrent pops
        never return the same item. One request."""
        sid = self.service_session_id
        try:
            popped: PopResult = await self._clients.call("pop_messages", sid)
        except NotFound:
            return None
        return _item(popped.messages[0]) if popped.messages else None

    async def clear_session(self) -> None:
        """Remove every item; the session stays usable. One request."""
        with contextlib.suppress(NotFound):  # never written: nothing to clear
            await self._clients.call("clear_messages", self.service_session_id)

    def close(self) -> None:
        """Close the clients this session made (a given client stays open)."""
        self._clients.close()


def _new_message(item: Any) -> dict[str, Any]:
    role = role_of(item if isinstance(item, Mapping) else {})
    return {
        "role": role,
        "content": "",
        "data": item,
        "message_type": _message_type(role),
        "message_id": str(uuid.uuid4()),
    }


def _item(message: Message) -> Any:
    if message.data is not None:
        return message.data
    # A message written without data (by the plain API): an easy input message of its text.
    role = message.role if message.role in ROLES else "assistant"
    return {"role": role, "content": message.content}
