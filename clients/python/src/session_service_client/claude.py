"""The Claude Agent SDK's ``SessionStore`` on Session Service (``pip install "session-service-client[claude]"``).

Each transcript (a key: project, session, optional subpath) is one service session, its id
``uuid5(namespace, user_id, project_key, session_id, subpath)``; each entry is one message whose ``data`` is
the entry verbatim (role ``user``/``assistant`` from the entry's ``type``, else ``system``). An entry's
``uuid`` is its idempotency key: its message id is derived from it, so a retried batch skips what was stored.

A project is a service namespace, ``claude.<16 hex of (namespace, project_key)>`` (the project key may be any
string; a namespace is short and plain), so the listing methods read only the project's sessions; the session's
title holds the rest of the key, ``["<session_id>", "<subpath>"|null]``. Requests per call
(docs/frameworks.md): ``append`` 1 per 98 entries (the first write of a key 3), ``load`` 1 per 200 entries,
``list_sessions`` and ``list_subkeys`` 1 per 200 transcripts of the project, ``delete`` those listing pages plus
1 per 25 transcripts, ``list_session_summaries`` those listing pages plus a ``load`` per session of the
project: the summary is folded (``fold_session_summary``) at read time, so ``append`` stays one request and no
read-fold-write can race. Transcripts written before projects were namespaces (titles starting ``claude:``,
no namespace) still load by key but are not listed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from typing import Any

from claude_agent_sdk import fold_session_summary

from session_service_client._adapters import Clients, service_id, session_fields
from session_service_client.async_client import AsyncSessionServiceClient
from session_service_client.client import SessionServiceClient
from session_service_client.errors import NotFound
from session_service_client.models import Message, MessageList, MessageRole, SessionList, SessionListItem

FRAMEWORK = "claude"
MAX_PAGE = 200
MAX_BATCH = 98
MAX_DELETE = 25
MAX_TITLE = 256


class SessionServiceSessionStore:
    """``claude_agent_sdk.SessionStore`` (every optional method included) kept in Session Service, for one user.

    Give ``base_url`` (the service's root) or ``client=`` (a :class:`SessionServiceClient`, or an
    :class:`AsyncSessionServiceClient` used only on its own loop). ``namespace`` scopes every key: two
    namespaces (or users) never see each other's transcripts.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        user_id: str,
        namespace: str | None = None,
        client: SessionServiceClient | AsyncSessionServiceClient | None = None,
    ) -> None:
        self.user_id = user_id
        self.namespace = namespace
        self._clients = Clients(base_url=base_url, client=client, user_id=user_id)

    # -- keys ---------------------------------------------------------------------------------------------

    def _sid(self, key: Any) -> str:
        return service_id(FRAMEWORK, self.namespace, self.user_id, key["project_key"], key["session_id"], _sub(key))

    def _project(self, project_key: str) -> str:
        """The project's service namespace: a hash of (the store's namespace, the project key)."""
        scope = json.dumps([self.namespace, project_key]).encode()
        return f"{FRAMEWORK}.{hashlib.sha256(scope).hexdigest()[:16]}"

    @staticmethod
    def _title(key: Any) -> str:
        title = json.dumps([key["session_id"], key.get("subpath") or None])
        if len(title) > MAX_TITLE:
            raise ValueError(f"session_id and subpath too long for a session title ({MAX_TITLE} characters)")
        return title

    @staticmethod
    def _parse(row: SessionListItem) -> tuple[str, str | None] | None:
        try:
            session_id, subpath = json.loads(row.title)
        except (ValueError, TypeError):
            return None  # not a transcript's title
        return str(session_id), subpath

    # -- required -----------------------------------------------------------------------------------------

    async def append(self, key: Any, entries: list[Any]) -> None:
        """Append a batch of entries in order (``[]``: nothing): one request per 98 entries."""
        sid = self._sid(key)
        bodies, seen = [], set()
        for entry in entries:
            marker = entry.get("uuid") if isinstance(entry, dict) else None
            if isinstance(marker, str):
                if marker in seen:
                    continue  # the same entry twice in one batch: stored once
                seen.add(marker)
                message_id = str(uuid.uuid5(uuid.UUID(sid), marker))
            else:
                message_id = str(uuid.uuid4())
            bodies.append({"role": _role(entry), "content": "", "data": entry, "message_id": message_id})
        for start in range(0, len(bodies), MAX_BATCH):
            batch = bodies[start : start + MAX_BATCH]
            try:
                await self._clients.call("append_messages", sid, batch)
            except NotFound:
                metadata = session_fields(FRAMEWORK, self.namespace, project_key=key["project_key"][:1024])
                await self._clients.call(
                    "create_session",
                    session_id=sid,
                    title=self._title(key),
                    metadata=metadata,
                    namespace=self._project(key["project_key"]),
                )
                await self._clients.call("append_messages", sid, batch)

    async def load(self, key: Any) -> list[Any] | None:
        """Every entry of the key in append order, ``None`` for a key never written (or deleted)."""
        try:
            return [message.data for message in await self._messages(self._sid(key)) if message.data is not None]
        except NotFound:
            return None

    async def _messages(self, sid: str) -> list[Message]:
        out: list[Message] = []
        token: str | None = None
        while True:
            page: MessageList = await self._clients.call("list_messages", sid, page_size=MAX_PAGE, next_token=token)
            out.extend(page.messages)
            token = page.next_token
            if not token:
                return out

    # -- optional -----------------------------------------------------------------------------------------

    async def _transcripts(self, project_key: str) -> list[tuple[str, str | None, SessionListItem]]:
        """The project's transcripts: (session id, subpath, the service's row), from the user's listing of the
        project's namespace."""
        out = []
        token: str | None = None
        namespace = self._project(project_key)
        while True:
            page: SessionList = await self._clients.call(
                "list_sessions", namespace=namespace, page_size=MAX_PAGE, next_token=token
            )
            for row in page.sessions:
                parsed = self._parse(row)
                if parsed is not None:
                    out.append((*parsed, row))
            token = page.next_token
            if not token:
                return out

    async def list_sessions(self, project_key: str) -> list[dict[str, Any]]:
        """The project's main transcripts with their last write, epoch milliseconds."""
        return [
            {"session_id": session_id, "mtime": _ms(row)}
            for session_id, subpath, row in await self._transcripts(project_key)
            if subpath is None
        ]

    async def list_session_summaries(self, project_key: str) -> list[dict[str, Any]]:
        """``fold_session_summary`` of each main transcript of the project, ``mtime`` its last write (the clock
        of :meth:`list_sessions`)."""
        out = []
        for session_id, subpath, row in await self._transcripts(project_key):
            if subpath is not None:
                continue
            key = {"project_key": project_key, "session_id": session_id}
            try:
                entries = [message.data for message in await self._messages(row.session_id)]
            except NotFound:  # deleted since the listing
                continue
            summary = dict(fold_session_summary(None, key, entries))  # type: ignore[arg-type,unused-ignore]
            out.append({**summary, "session_id": session_id, "mtime": _ms(row)})
        return out

    async def delete(self, key: Any) -> None:
        """Delete a transcript for good; a main key takes its subpaths with it. An unknown key: nothing."""
        if key.get("subpath"):
            with contextlib.suppress(NotFound):
                await self._clients.call("delete_session", self._sid(key))
            return
        doomed = [
            row.session_id
            for session_id, _, row in await self._transcripts(key["project_key"])
            if session_id == key["session_id"]
        ]
        for start in range(0, len(doomed), MAX_DELETE):
            batch = doomed[start : start + MAX_DELETE]
            try:
                await self._clients.call("delete_sessions", batch)
            except NotFound:  # one went meanwhile: the rest one by one
                for sid in batch:
                    with contextlib.suppress(NotFound):
                        await self._clients.call("delete_session", sid)

    async def list_subkeys(self, key: Any) -> list[str]:
        """The subpaths written under a session (never the main transcript)."""
        return [
            subpath
            for session_id, subpath, _ in await self._transcripts(key["project_key"])
            if session_id == key["session_id"] and subpath is not None
        ]

    def close(self) -> None:
        """Close the clients this store made (a given client stays open)."""
        self._clients.close()


def _sub(key: Any) -> str:
    return str(key.get("subpath") or "")


def _role(entry: Any) -> MessageRole:
    kind = entry.get("type") if isinstance(entry, dict) else None
    return kind if kind in ("user", "assistant") else "system"


def _ms(row: SessionListItem) -> int:
    return int(row.last_activity.timestamp() * 1000)
