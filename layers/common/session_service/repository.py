"""The repository: one facade over the operation families, so a handler calls ``repository().append_messages(...)``.

It holds no logic: each method hands its arguments to the family that owns the operation
(:mod:`session_service.operations`), whose docstring says what goes in and out and what it raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from session_service.cursor import CursorCodec
from session_service.data.dynamo import Table
from session_service.data.guard import WriteGuard
from session_service.models import (
    AgentMessageList,
    ChunkCreate,
    Context,
    Erasure,
    Memory,
    MemoryCreate,
    MemoryList,
    MemoryType,
    Message,
    MessageCreate,
    MessageList,
    MessageOrder,
    MessageUpdate,
    NamespaceSessionList,
    NamespaceUsageList,
    Session,
    SessionCreate,
    SessionList,
    SessionStatus,
    SessionSummary,
    SessionTag,
    SessionUpdate,
    Stats,
    Usage,
)
from session_service.models.state import (
    AgentCreate,
    AppendState,
    MergedState,
    SharedStateDocument,
    StateChange,
    StateDocument,
)
from session_service.operations import (
    Store,
    appends,
    chunks,
    conversations,
    export,
    memory,
    messages,
    new_uuid,
    sessions,
    state,
    users,
    utcnow,
)
from session_service.operations.appends import Appended, SharedChanges

__all__ = ["Appended", "SessionRepository", "SharedChanges"]


class SessionRepository:
    """Sessions, messages, memory records and users in one DynamoDB table.

    ``client`` is a low-level boto3 DynamoDB client; ``ttl_seconds`` the default idle lifetime (seconds);
    ``cursors`` signs ``next_token``; ``clock`` and ``new_id`` are injectable for tests.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        ttl_seconds: int,
        cursors: CursorCodec,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = new_uuid,
    ) -> None:
        self._store = Store(Table(client, table_name), ttl_seconds, cursors, clock, new_id)

    # -- sessions: operations.sessions -----------------------------------------------------------------

    def create_session(
        self,
        caller: str,
        request: SessionCreate,
        guard: WriteGuard | None = None,
        *,
        retry: bool = True,
        include_state: bool = False,
    ) -> tuple[Session, bool]:
        """:func:`session_service.operations.sessions.create_session`."""
        return sessions.create_session(self._store, caller, request, guard, retry=retry, include_state=include_state)

    def create_sessions(
        self, caller: str, requests: Sequence[SessionCreate], guard: WriteGuard | None = None
    ) -> list[Session]:
        """:func:`session_service.operations.sessions.create_sessions`."""
        return sessions.create_sessions(self._store, caller, requests, guard)

    def get_session(self, session_id: str, caller: str, *, include_state: bool = False) -> Session:
        """:func:`session_service.operations.sessions.get_session`."""
        return sessions.get_session(self._store, session_id, caller, include_state=include_state)

    def get_summary(self, session_id: str, caller: str) -> SessionSummary:
        """:func:`session_service.operations.sessions.get_summary`."""
        return sessions.get_summary(self._store, session_id, caller)

    def session_exists(self, session_id: str, caller: str) -> None:
        """:func:`session_service.operations.sessions.session_exists`."""
        sessions.session_exists(self._store, session_id, caller)

    def update_session(
        self, session_id: str, caller: str, request: SessionUpdate, *, if_match: SessionTag | None = None
    ) -> Session:
        """:func:`session_service.operations.sessions.update_session`."""
        return sessions.update_session(self._store, session_id, caller, request, if_match=if_match)

    def end_session(self, session_id: str, caller: str, *, if_match: SessionTag | None = None) -> None:
        """:func:`session_service.operations.sessions.end_session`."""
        sessions.end_session(self._store, session_id, caller, if_match=if_match)

    def delete_session(self, session_id: str, caller: str, *, if_match: SessionTag | None = None) -> None:
        """:func:`session_service.operations.sessions.delete_session`."""
        sessions.delete_session(self._store, session_id, caller, if_match=if_match)

    def delete_sessions(self, caller: str, session_ids: Sequence[str], *, if_match: SessionTag | None = None) -> int:
        """:func:`session_service.operations.sessions.delete_sessions`."""
        return sessions.delete_sessions(self._store, caller, session_ids, if_match=if_match)

    def list_user_sessions(
        self,
        user_id: str,
        *,
        status: SessionStatus | None = None,
        namespace: str | None = None,
        page: int = 1,
        page_size: int = 50,
        next_token: str | None = None,
        include_state: bool = False,
    ) -> SessionList:
        """:func:`session_service.operations.sessions.list_user_sessions`."""
        return sessions.list_user_sessions(
            self._store,
            user_id,
            status=status,
            namespace=namespace,
            page=page,
            page_size=page_size,
            next_token=next_token,
            include_state=include_state,
        )

    def list_namespace_sessions(
        self, namespace: str, *, page_size: int = 50, next_token: str | None = None, include_state: bool = False
    ) -> NamespaceSessionList:
        """:func:`session_service.operations.sessions.list_namespace_sessions`."""
        return sessions.list_namespace_sessions(
            self._store, namespace, page_size=page_size, next_token=next_token, include_state=include_state
        )

    # -- messages: operations.appends, operations.messages, operations.chunks-------------------------------------------

    def append_messages(
        self,
        session_id: str,
        caller: str,
        requests: Sequence[MessageCreate],
        guard: WriteGuard | None = None,
        *,
        if_match: SessionTag | None = None,
        state: AppendState | None = None,
        shared: SharedChanges | None = None,
    ) -> Appended:
        """:func:`session_service.operations.appends.append_messages`."""
        return appends.append_messages(
            self._store, session_id, caller, requests, guard, if_match=if_match, state=state, shared=shared
        )

    def get_message(self, session_id: str, caller: str, message_id: str) -> Message:
        """:func:`session_service.operations.messages.get_message`."""
        return messages.get_message(self._store, session_id, caller, message_id)

    def update_message(self, session_id: str, caller: str, message_id: str, request: MessageUpdate) -> Message:
        """:func:`session_service.operations.messages.update_message`."""
        return messages.update_message(self._store, session_id, caller, message_id, request)

    def delete_message(self, session_id: str, caller: str, message_id: str) -> int:
        """:func:`session_service.operations.messages.delete_message`."""
        return messages.delete_message(self._store, session_id, caller, message_id)

    def truncate_after(self, session_id: str, caller: str, message_id: str) -> int:
        """:func:`session_service.operations.messages.truncate_after`."""
        return messages.truncate_after(self._store, session_id, caller, message_id)

    def pop_messages(self, session_id: str, caller: str, count: int, guard: WriteGuard | None = None) -> list[Message]:
        """:func:`session_service.operations.messages.pop_messages`."""
        return messages.pop_messages(self._store, session_id, caller, count, guard)

    def clear_messages(self, session_id: str, caller: str, guard: WriteGuard | None = None) -> int:
        """:func:`session_service.operations.messages.clear_messages`."""
        return messages.clear_messages(self._store, session_id, caller, guard)

    def list_messages(
        self,
        session_id: str,
        caller: str,
        *,
        order: MessageOrder = MessageOrder.ASC,
        page: int = 1,
        page_size: int = 100,
        next_token: str | None = None,
        from_timestamp: float | None = None,
    ) -> MessageList:
        """:func:`session_service.operations.messages.list_messages`."""
        return messages.list_messages(
            self._store,
            session_id,
            caller,
            order=order,
            page=page,
            page_size=page_size,
            next_token=next_token,
            from_timestamp=from_timestamp,
        )

    def get_context(self, session_id: str, caller: str, *, max_tokens: int, max_messages: int) -> Context:
        """:func:`session_service.operations.messages.get_context`."""
        return messages.get_context(self._store, session_id, caller, max_tokens=max_tokens, max_messages=max_messages)

    def add_chunk(self, session_id: str, caller: str, message_id: str, request: ChunkCreate) -> Message:
        """:func:`session_service.operations.chunks.add_chunk`."""
        return chunks.add_chunk(self._store, session_id, caller, message_id, request)

    # -- memory records: operations.memory -------------------------------------------------------------

    def add_memory(
        self, session_id: str, caller: str, request: MemoryCreate, guard: WriteGuard | None = None
    ) -> Memory:
        """:func:`session_service.operations.memory.add_memory`."""
        return memory.add_memory(self._store, session_id, caller, request, guard)

    def list_memories(
        self,
        session_id: str,
        caller: str,
        *,
        memory_type: MemoryType | None = None,
        page_size: int = 100,
        next_token: str | None = None,
    ) -> MemoryList:
        """:func:`session_service.operations.memory.list_memories`."""
        return memory.list_memories(
            self._store, session_id, caller, memory_type=memory_type, page_size=page_size, next_token=next_token
        )

    # -- state documents: operations.state ------------------------------------------------------------------

    def get_state(self, session_id: str, caller: str, agent_id: str | None = None) -> StateDocument:
        """:func:`session_service.operations.state.get_state`."""
        return state.get_state(self._store, session_id, caller, agent_id)

    def get_shared_state(self, user_id: str | None, namespace: str | None) -> SharedStateDocument:
        """:func:`session_service.operations.state.get_shared_state`."""
        return state.get_shared_state(self._store, user_id, namespace)

    def change_shared_state(
        self, user_id: str | None, namespace: str | None, change: StateChange, *, if_match: int | None = None
    ) -> SharedStateDocument:
        """:func:`session_service.operations.state.change_shared_state`."""
        return state.change_shared_state(self._store, user_id, namespace, change, if_match=if_match)

    def get_merged_state(self, session_id: str, caller: str) -> MergedState:
        """:func:`session_service.operations.state.get_merged_state`."""
        return state.get_merged_state(self._store, session_id, caller)

    def change_state(
        self,
        session_id: str,
        caller: str,
        change: StateChange,
        *,
        agent_id: str | None = None,
        if_match: SessionTag | None = None,
    ) -> StateDocument:
        """:func:`session_service.operations.state.change_state`."""
        return state.change_state(self._store, session_id, caller, change, agent_id=agent_id, if_match=if_match)

    def create_agent(self, session_id: str, caller: str, agent_id: str, request: AgentCreate) -> StateDocument:
        """:func:`session_service.operations.state.create_agent`."""
        return state.create_agent(self._store, session_id, caller, agent_id, request)

    # -- agents' conversations: operations.conversations (a change by position: operations.messages) ----------

    def list_agent_messages(
        self, session_id: str, caller: str, agent_id: str, *, offset: int = 0, limit: int = 100
    ) -> AgentMessageList:
        """:func:`session_service.operations.conversations.list_agent_messages`."""
        return conversations.list_agent_messages(self._store, session_id, caller, agent_id, offset=offset, limit=limit)

    def get_agent_message(self, session_id: str, caller: str, agent_id: str, position: int) -> Message:
        """:func:`session_service.operations.conversations.get_agent_message`."""
        return conversations.get_agent_message(self._store, session_id, caller, agent_id, position)

    def update_agent_message(
        self, session_id: str, caller: str, agent_id: str, position: int, request: MessageUpdate
    ) -> Message:
        """The message at ``position`` of the agent's conversation
        (:func:`~session_service.operations.conversations.get_agent_message`) changed by its id
        (:func:`~session_service.operations.messages.update_message`)."""
        found = conversations.get_agent_message(self._store, session_id, caller, agent_id, position)
        return messages.update_message(self._store, session_id, caller, found.message_id, request)

    # -- users and the service: operations.export, operations.users ------------------------------------

    def export_user(self, caller: str, page_size: int, next_token: str | None = None) -> tuple[list[str], str | None]:
        """:func:`session_service.operations.export.export_user`."""
        return export.export_user(self._store, caller, page_size, next_token)

    def erase_user(self, caller: str) -> None:
        """:func:`session_service.operations.users.erase_user`."""
        users.erase_user(self._store, caller)

    def erasure(self, caller: str) -> Erasure:
        """:func:`session_service.operations.users.erasure`."""
        return users.erasure(self._store, caller)

    def get_stats(self) -> Stats:
        """:func:`session_service.operations.users.get_stats`."""
        return users.get_stats(self._store)

    def get_usage(self, user_id: str) -> Usage:
        """:func:`session_service.operations.users.get_usage`."""
        return users.get_usage(self._store, user_id)

    def get_namespace_usage(
        self, namespace: str, *, page_size: int = 50, next_token: str | None = None
    ) -> NamespaceUsageList:
        """:func:`session_service.operations.users.get_namespace_usage`."""
        return users.get_namespace_usage(self._store, namespace, page_size=page_size, next_token=next_token)

    def ping(self) -> bool:
        """:func:`session_service.operations.users.ping`."""
        return users.ping(self._store)
