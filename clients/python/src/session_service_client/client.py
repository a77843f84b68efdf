"""SessionServiceClient: the service's routes as typed methods over httpx (synchronous).

Every method builds its request with the shared :class:`~session_service_client._calls.RequestBuilder` and
sends it with retries where they cannot write twice; :class:`AsyncSessionServiceClient` has the same surface.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

import httpx

from session_service_client import _config
from session_service_client._calls import NEXT_TOKEN_HEADER, Call, RequestBuilder, parse_export_line
from session_service_client._retry import Attempts, RetryPolicy, connection_error
from session_service_client.errors import SessionServiceError
from session_service_client.models import (
    AgentMessageList,
    Context,
    DeleteResult,
    EndSessionResult,
    Erasure,
    ErasureAccepted,
    ExportLine,
    ExportPage,
    Health,
    HealthDetailed,
    Memory,
    MemoryList,
    MemoryType,
    MergedState,
    Message,
    MessageBatchResult,
    MessageList,
    MessageRole,
    MessageStatus,
    MessageType,
    NamespaceSessionList,
    NamespaceUsageList,
    NewMessage,
    NewSession,
    Order,
    PopResult,
    Session,
    SessionBatchDeleteResult,
    SessionBatchResult,
    SessionDeletedResult,
    SessionList,
    SessionListItem,
    SessionStatus,
    SessionSummary,
    SharedStateDocument,
    StateDocument,
    Stats,
    Usage,
)

T = TypeVar("T")


class SessionServiceClient:
    """A client of one Session Service.

    ``base_url`` is the service's root (``http://127.0.0.1:8205`` locally, the API stage URL deployed).
    ``user_id`` is the caller where the service runs without its authorizer (every call may name another);
    ``token`` a Cognito ID token where it runs with it. ``timeout`` (seconds, or an ``httpx.Timeout``) bounds
    each attempt; ``max_retries`` the further attempts of a call that may be retried; ``transport`` replaces
    httpx's (a test's, a proxy's). Use it as a context manager, or :meth:`close` it.
    """

    def __init__(
        self,
        base_url: str,
        *,
        user_id: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout = _config.DEFAULT_TIMEOUT,
        max_retries: int = _config.DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._build = RequestBuilder(user_id)
        self._policy = RetryPolicy(max_retries=max_retries)
        self._http = httpx.Client(
            base_url=_config.base_url(base_url), headers=_config.headers(token), timeout=timeout, transport=transport
        )

    @property
    def user_id(self) -> str | None:
        """The caller the calls name unless they name another."""
        return self._build.user_id

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> SessionServiceClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, call: Call[Any]) -> httpx.Request:
        return self._http.build_request(
            call.method, call.path, params=call.params, headers=dict(call.headers), content=call.content
        )

    def _send(self, call: Call[T]) -> T:
        request, attempts = self._request(call), Attempts(call, self._policy)
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                time.sleep(attempts.failed(exc))
                continue
            delay = attempts.answered(response)
            if delay is None:
                if attempts.confirming is not None:
                    return attempts.confirmed(self._stored(attempts.confirming))
                return attempts.result(response)
            time.sleep(delay)

    def _stored(self, read: Call[Session]) -> Session | None:
        """The session a confirmation reads, or ``None`` when the read fails (the write's refusal is raised)."""
        try:
            return self._send(read)
        except SessionServiceError:
            return None

    def _open(self, call: Call[Any]) -> httpx.Response:
        """``call``'s answer as an open stream (close it), once its status is a success."""
        request, attempts = self._request(call), Attempts(call, self._policy)
        while True:
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                time.sleep(attempts.failed(exc))
                continue
            if response.status_code >= 400:
                response.read()
                response.close()
            delay = attempts.answered(response)
            if delay is None:
                return response
            time.sleep(delay)

    # -- health and statistics --------------------------------------------------------------------------

    def health(self) -> Health:
        """``GET /health``: liveness."""
        return self._send(self._build.health())

    def health_detailed(self) -> HealthDetailed:
        """``GET /health/detailed``: readiness; ``status`` ``degraded`` when the table does not answer."""
        return self._send(self._build.health_detailed())

    def get_stats(self) -> Stats:
        """``GET /api/v1/sessions/stats``: service-wide statistics (the admin group, with the authorizer)."""
        return self._send(self._build.get_stats())

    # -- sessions ---------------------------------------------------------------------------------------

    def create_session(
        self,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        conversation_data: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        ttl_seconds: int | None = None,
        namespace: str | None = None,
        state: Mapping[str, Any] | None = None,
        user_state: Mapping[str, Any] | None = None,
        namespace_state: Mapping[str, Any] | None = None,
        include_state: bool = False,
        user_id: str | None = None,
    ) -> Session:
        """Create a session (or, with a ``session_id`` the caller already owns, return it unchanged), with its
        ETag; ``namespace`` (an application's, a project's) is fixed at creation and lists its sessions apart.
        Retried safely (an ``Idempotency-Key``). ``state`` (the session's document), ``user_state`` (keys set in the
        caller's document of the ``namespace``) and ``namespace_state`` (keys set in the namespace's: a trusted
        caller's, with the authorizer on) are written in the create's transaction, all or none; with any of them,
        or ``include_state``, the answer's ``state`` is the session's :class:`MergedState`."""
        return self._send(
            self._build.create_session(
                title=title,
                metadata=metadata,
                conversation_data=conversation_data,
                session_id=session_id,
                ttl_seconds=ttl_seconds,
                namespace=namespace,
                state=state,
                user_state=user_state,
                namespace_state=namespace_state,
                include_state=include_state,
                user_id=user_id,
            )
        )

    def create_sessions(
        self, sessions: Sequence[NewSession | Mapping[str, Any]], *, user_id: str | None = None
    ) -> SessionBatchResult:
        """Create up to 25 sessions of the caller, all or none."""
        return self._send(self._build.create_sessions(sessions, user_id=user_id))

    def get_session(self, session_id: str, *, include_state: bool = False, user_id: str | None = None) -> Session:
        """A session, with its ``etag`` (for ``if_match``); with ``include_state``, its ``state`` in every scope
        (:class:`MergedState`) in the same request."""
        return self._send(self._build.get_session(session_id, include_state=include_state, user_id=user_id))

    def session_exists(self, session_id: str, *, user_id: str | None = None) -> bool:
        """Whether the caller's session exists (``HEAD``)."""
        return self._send(self._build.session_exists(session_id, user_id=user_id))

    def update_session(
        self,
        session_id: str,
        *,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        conversation_data: Mapping[str, Any] | None = None,
        status: SessionStatus | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> Session:
        """Change what is given; ``if_match`` (an ETag) makes it conditional (:class:`PreconditionFailed`)."""
        return self._send(
            self._build.update_session(
                session_id,
                title=title,
                metadata=metadata,
                conversation_data=conversation_data,
                status=status,
                if_match=if_match,
                user_id=user_id,
            )
        )

    def end_session(
        self, session_id: str, *, if_match: str | None = None, user_id: str | None = None
    ) -> EndSessionResult:
        """End a session (status ``ended``, read-only from then on)."""
        return self._send(self._build.end_session(session_id, if_match=if_match, user_id=user_id))

    def delete_session(
        self, session_id: str, *, if_match: str | None = None, user_id: str | None = None
    ) -> SessionDeletedResult:
        """Delete a session, its messages and memory records for good."""
        return self._send(self._build.delete_session(session_id, if_match=if_match, user_id=user_id))

    def delete_sessions(self, session_ids: Sequence[str], *, user_id: str | None = None) -> SessionBatchDeleteResult:
        """Delete up to 25 of the caller's sessions for good, all or none."""
        return self._send(self._build.delete_sessions(session_ids, user_id=user_id))

    def get_session_summary(self, session_id: str, *, user_id: str | None = None) -> SessionSummary:
        """A session's counters and generated summary."""
        return self._send(self._build.get_session_summary(session_id, user_id=user_id))

    def list_sessions(
        self,
        *,
        status: SessionStatus | None = None,
        active_only: bool | None = None,
        page: int | None = None,
        page_size: int | None = None,
        next_token: str | None = None,
        namespace: str | None = None,
        include_state: bool = False,
        user_id: str | None = None,
    ) -> SessionList:
        """One page of the user's sessions, most recent activity first (:meth:`iter_sessions` follows them all);
        ``namespace``: only that namespace's (of every status, by ``next_token``); ``include_state``: each row's
        ``state`` (:class:`MergedState`), read with the page."""
        return self._send(
            self._build.list_sessions(
                status=status,
                active_only=active_only,
                page=page,
                page_size=page_size,
                next_token=next_token,
                namespace=namespace,
                include_state=include_state,
                user_id=user_id,
            )
        )

    def iter_sessions(
        self, *, status: SessionStatus | None = None, page_size: int | None = None, user_id: str | None = None
    ) -> Iterator[SessionListItem]:
        """Every session of the user (or of one ``status``), most recent activity first, page by page."""
        token: str | None = None
        while True:
            page = self.list_sessions(status=status, page_size=page_size, next_token=token, user_id=user_id)
            yield from page.sessions
            token = page.next_token
            if not token:
                return

    # -- messages ---------------------------------------------------------------------------------------

    def append_message(
        self,
        session_id: str,
        *,
        role: MessageRole,
        content: str = "",
        data: Any = None,
        message_type: MessageType | None = None,
        metadata: Mapping[str, Any] | None = None,
        tokens_used: int | None = None,
        cost_usd: Decimal | int | None = None,
        message_id: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: MessageStatus | None = None,
        agent_id: str | None = None,
        timestamp: float | None = None,
        state: Mapping[str, Any] | None = None,
        user_state: Mapping[str, Any] | None = None,
        namespace_state: Mapping[str, Any] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> Message:
        """Append a message to an active session, counting its tokens and cost; it needs ``content`` or ``data``
        (any JSON value, returned exactly as sent); ``agent_id`` names the agent whose conversation it joins,
        ``state`` a change of that agent's (else the session's) state document stored with it
        (``{"set": {...}, "remove": [...]}``); ``user_state`` and ``namespace_state`` change the caller's and the
        session's namespace's documents in the same transaction (a namespace's: a trusted caller). ``if_match``:
        the session's ETag read; :class:`PreconditionFailed` (nothing stored) when it moved, else the answer's
        ``etag`` is the new version. Retried safely (an ``Idempotency-Key``; a ``message_id`` also makes a repeated
        append find the stored message). ``timestamp``: the client's time of the message (epoch seconds), returned
        on every read and listed from by :meth:`list_messages`' ``from_timestamp``."""
        return self._send(
            self._build.append_message(
                session_id,
                role=role,
                content=content,
                data=data,
                message_type=message_type,
                metadata=metadata,
                tokens_used=tokens_used,
                cost_usd=cost_usd,
                message_id=message_id,
                provider=provider,
                model=model,
                status=status,
                agent_id=agent_id,
                timestamp=timestamp,
                state=state,
                user_state=user_state,
                namespace_state=namespace_state,
                if_match=if_match,
                user_id=user_id,
            )
        )

    def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage | Mapping[str, Any]],
        *,
        state: Mapping[str, Any] | None = None,
        user_state: Mapping[str, Any] | None = None,
        namespace_state: Mapping[str, Any] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> MessageBatchResult:
        """Append up to 98 messages in one transaction, all or none. A message whose ``message_id`` is stored
        already with the same body is skipped (a retried batch is safe); the answer lists every message of the
        batch in order, skipped ones as stored. :class:`Conflict` when an id is stored with another body. ``state``,
        ``user_state``, ``namespace_state`` and ``if_match`` as for :meth:`append_message` (the batch must then fit
        one transaction, else :class:`PayloadTooLarge`)."""
        return self._send(
            self._build.append_messages(
                session_id,
                messages,
                state=state,
                user_state=user_state,
                namespace_state=namespace_state,
                if_match=if_match,
                user_id=user_id,
            )
        )

    def list_messages(
        self,
        session_id: str,
        *,
        order: Order | None = None,
        page: int | None = None,
        page_size: int | None = None,
        next_token: str | None = None,
        from_timestamp: float | None = None,
        user_id: str | None = None,
    ) -> MessageList:
        """One page of a session's messages, ``asc`` (oldest first) or ``desc``; with ``from_timestamp`` (epoch
        seconds), those whose ``timestamp`` is at or after it, by timestamp (``desc`` with ``page_size=N``: the
        newest N of them; messages without a timestamp, and agents' messages, are not listed)."""
        return self._send(
            self._build.list_messages(
                session_id,
                order=order,
                page=page,
                page_size=page_size,
                next_token=next_token,
                from_timestamp=from_timestamp,
                user_id=user_id,
            )
        )

    def iter_messages(
        self,
        session_id: str,
        *,
        order: Order | None = None,
        page_size: int | None = None,
        from_timestamp: float | None = None,
        user_id: str | None = None,
    ) -> Iterator[Message]:
        """Every message of a session in ``order`` (from ``from_timestamp``, by timestamp, when given), page by page."""
        token: str | None = None
        while True:
            page = self.list_messages(
                session_id,
                order=order,
                page_size=page_size,
                next_token=token,
                from_timestamp=from_timestamp,
                user_id=user_id,
            )
            yield from page.messages
            token = page.next_token
            if not token:
                return

    def get_message(self, session_id: str, message_id: str, *, user_id: str | None = None) -> Message:
        """One message (a streamed reply in progress shows its content so far)."""
        return self._send(self._build.get_message(session_id, message_id, user_id=user_id))

    def update_message(
        self,
        session_id: str,
        message_id: str,
        *,
        content: str | None = None,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        tokens_used: int | None = None,
        cost_usd: Decimal | int | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: MessageStatus | None = None,
        user_id: str | None = None,
    ) -> Message:
        """Change a message (counters follow), or finalize a streamed reply with ``status``."""
        return self._send(
            self._build.update_message(
                session_id,
                message_id,
                content=content,
                data=data,
                metadata=metadata,
                tokens_used=tokens_used,
                cost_usd=cost_usd,
                provider=provider,
                model=model,
                status=status,
                user_id=user_id,
            )
        )

    def delete_message(self, session_id: str, message_id: str, *, user_id: str | None = None) -> DeleteResult:
        """Delete one message (counters follow)."""
        return self._send(self._build.delete_message(session_id, message_id, user_id=user_id))

    def truncate_messages(self, session_id: str, *, after: str, user_id: str | None = None) -> DeleteResult:
        """Delete every message after ``after`` (a message id), to regenerate a reply."""
        return self._send(self._build.truncate_messages(session_id, after=after, user_id=user_id))

    def pop_messages(self, session_id: str, *, count: int = 1, user_id: str | None = None) -> PopResult:
        """Remove the session's newest ``count`` messages (1-49) atomically and return them, newest first: two
        concurrent pops never return the same message. Retried safely (an ``Idempotency-Key``)."""
        return self._send(self._build.pop_messages(session_id, count=count, user_id=user_id))

    def clear_messages(self, session_id: str, *, user_id: str | None = None) -> DeleteResult:
        """Remove every message of the session in one request (the session, its title, metadata and memory
        stay); counters are zero at once. Retried safely (an ``Idempotency-Key``)."""
        return self._send(self._build.clear_messages(session_id, user_id=user_id))

    def append_chunk(
        self, session_id: str, message_id: str, *, index: int, content: str, user_id: str | None = None
    ) -> Message:
        """Append chunk ``index`` (from 0, no gaps) to a streamed reply; the message with its content so far."""
        return self._send(
            self._build.append_chunk(session_id, message_id, index=index, content=content, user_id=user_id)
        )

    def get_context(
        self,
        session_id: str,
        *,
        max_tokens: int | None = None,
        max_messages: int | None = None,
        user_id: str | None = None,
    ) -> Context:
        """What an LLM call needs: the summary and the newest messages that fit the budget."""
        return self._send(
            self._build.get_context(session_id, max_tokens=max_tokens, max_messages=max_messages, user_id=user_id)
        )

    def stream_reply(
        self,
        session_id: str,
        *,
        role: MessageRole = "assistant",
        provider: str | None = None,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> ReplyStream:
        """A streamed reply: created ``in_progress`` on entering the ``with`` block, grown by
        :meth:`ReplyStream.send`, finalized ``completed`` on leaving it, ``incomplete`` when it raises."""
        return ReplyStream(
            self, session_id, role=role, provider=provider, model=model, metadata=metadata, user_id=user_id
        )

    # -- memory -----------------------------------------------------------------------------------------

    # -- state documents and agents' conversations ------------------------------------------------------------

    def get_state(self, session_id: str, *, user_id: str | None = None) -> StateDocument:
        """The session's state document (empty, version 0, until its first change)."""
        return self._send(self._build.get_state(session_id, user_id=user_id))

    def change_state(
        self,
        session_id: str,
        *,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> StateDocument:
        """Set and remove top-level keys of the session's state document, atomically (``if_match``: the ETag
        read, ``f'"{version}"'``; 412 ``PreconditionFailed`` when it moved). Not retried once sent."""
        return self._send(
            self._build.change_state(
                session_id, set_keys=set_keys, remove_keys=remove_keys, if_match=if_match, user_id=user_id
            )
        )

    def create_agent(
        self, session_id: str, agent_id: str, *, state: Mapping[str, Any] | None = None, user_id: str | None = None
    ) -> StateDocument:
        """Create an agent of the session with its state document (``Conflict`` when it exists)."""
        return self._send(self._build.create_agent(session_id, agent_id, state=state, user_id=user_id))

    def get_agent(self, session_id: str, agent_id: str, *, user_id: str | None = None) -> StateDocument:
        """An agent of the session: its state document and its message count."""
        return self._send(self._build.get_agent(session_id, agent_id, user_id=user_id))

    def change_agent(
        self,
        session_id: str,
        agent_id: str,
        *,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> StateDocument:
        """Set and remove top-level keys of an agent's state document, atomically (as :meth:`change_state`)."""
        return self._send(
            self._build.change_agent(
                session_id, agent_id, set_keys=set_keys, remove_keys=remove_keys, if_match=if_match, user_id=user_id
            )
        )

    def list_agent_messages(
        self,
        session_id: str,
        agent_id: str,
        *,
        offset: int | None = None,
        limit: int | None = None,
        user_id: str | None = None,
    ) -> AgentMessageList:
        """A page of an agent's messages from position ``offset`` (``next_offset``: the next page's)."""
        return self._send(
            self._build.list_agent_messages(session_id, agent_id, offset=offset, limit=limit, user_id=user_id)
        )

    def get_agent_message(
        self, session_id: str, agent_id: str, position: int, *, user_id: str | None = None
    ) -> Message:
        """The message at ``position`` (from 0) of an agent's conversation."""
        return self._send(self._build.get_agent_message(session_id, agent_id, position, user_id=user_id))

    def update_agent_message(
        self,
        session_id: str,
        agent_id: str,
        position: int,
        *,
        content: str | None = None,
        data: Any = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Message:
        """Change the message at ``position`` of an agent's conversation (a redaction). Not retried once sent."""
        return self._send(
            self._build.update_agent_message(
                session_id, agent_id, position, content=content, data=data, metadata=metadata, user_id=user_id
            )
        )

    # -- shared state (a user's in a namespace, a namespace's) and namespaces' sessions -----------------------

    def get_merged_state(self, session_id: str, *, user_id: str | None = None) -> MergedState:
        """The session's state document with its user's and its namespace's, in one request."""
        return self._send(self._build.get_merged_state(session_id, user_id=user_id))

    def get_user_state(self, *, namespace: str | None = None, user_id: str | None = None) -> SharedStateDocument:
        """The user's state document in ``namespace`` (``None``: the sessions of no namespace); empty, version 0,
        until its first change."""
        return self._send(self._build.get_user_state(namespace=namespace, user_id=user_id))

    def change_user_state(
        self,
        *,
        namespace: str | None = None,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> SharedStateDocument:
        """Set and remove top-level keys of the user's state document in ``namespace``, atomically (``if_match``:
        the ETag read, ``f'"{version}"'``; :class:`PreconditionFailed` when it moved). Not retried once sent."""
        return self._send(
            self._build.change_user_state(
                namespace=namespace, set_keys=set_keys, remove_keys=remove_keys, if_match=if_match, user_id=user_id
            )
        )

    def get_namespace_state(self, namespace: str) -> SharedStateDocument:
        """The namespace's shared state document (a trusted caller when the authorizer is on)."""
        return self._send(self._build.get_namespace_state(namespace))

    def change_namespace_state(
        self,
        namespace: str,
        *,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
    ) -> SharedStateDocument:
        """Set and remove top-level keys of the namespace's shared state document, atomically (a trusted caller
        when the authorizer is on, else :class:`Forbidden`). Not retried once sent."""
        return self._send(
            self._build.change_namespace_state(namespace, set_keys=set_keys, remove_keys=remove_keys, if_match=if_match)
        )

    def list_namespace_sessions(
        self,
        namespace: str,
        *,
        page_size: int | None = None,
        next_token: str | None = None,
        include_state: bool = False,
    ) -> NamespaceSessionList:
        """One page of every user's sessions in ``namespace`` (a trusted caller), by user; follow ``next_token``;
        ``include_state``: each row's ``state`` (its own user's document), read with the page."""
        return self._send(
            self._build.list_namespace_sessions(
                namespace, page_size=page_size, next_token=next_token, include_state=include_state
            )
        )

    def add_memory(
        self,
        session_id: str,
        *,
        memory_type: MemoryType,
        content: str,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Memory:
        """Add a memory record to an active session. Retried safely (an ``Idempotency-Key``)."""
        return self._send(
            self._build.add_memory(
                session_id, memory_type=memory_type, content=content, metadata=metadata, user_id=user_id
            )
        )

    def list_memories(
        self,
        session_id: str,
        *,
        memory_type: MemoryType | None = None,
        page_size: int | None = None,
        next_token: str | None = None,
        user_id: str | None = None,
    ) -> MemoryList:
        """One page of a session's memory records."""
        return self._send(
            self._build.list_memories(
                session_id, memory_type=memory_type, page_size=page_size, next_token=next_token, user_id=user_id
            )
        )

    def iter_memories(
        self,
        session_id: str,
        *,
        memory_type: MemoryType | None = None,
        page_size: int | None = None,
        user_id: str | None = None,
    ) -> Iterator[Memory]:
        """Every memory record of a session (or of one type), page by page."""
        token: str | None = None
        while True:
            page = self.list_memories(
                session_id, memory_type=memory_type, page_size=page_size, next_token=token, user_id=user_id
            )
            yield from page.memories
            token = page.next_token
            if not token:
                return

    # -- a user's data ----------------------------------------------------------------------------------

    def get_usage(self, *, user_id: str | None = None) -> Usage:
        """What the user's sessions hold: sessions, messages, tokens, cost, by model and by namespace."""
        return self._send(self._build.get_usage(user_id=user_id))

    def get_namespace_usage(
        self, namespace: str, *, page_size: int | None = None, next_token: str | None = None
    ) -> NamespaceUsageList:
        """One page of a namespace's usage by user (a trusted caller with the authorizer on)."""
        return self._send(self._build.get_namespace_usage(namespace, page_size=page_size, next_token=next_token))

    def export_user(
        self, *, page_size: int | None = None, next_token: str | None = None, user_id: str | None = None
    ) -> ExportPage:
        """One page of the user's export, read whole (:meth:`iter_export` streams them all)."""
        return self._send(self._build.export_user(page_size=page_size, next_token=next_token, user_id=user_id))

    def iter_export(self, *, page_size: int | None = None, user_id: str | None = None) -> Iterator[ExportLine]:
        """Every line of the user's export, read as it streams in, page after page (``Next-Token``). A page
        whose stream breaks is asked for again and its lines already given are skipped."""
        token: str | None = None
        while True:
            call = self._build.export_user(page_size=page_size, next_token=token, user_id=user_id)
            given, broken = 0, 0
            while True:
                response = self._open(call)
                try:
                    token, seen = response.headers.get(NEXT_TOKEN_HEADER), 0
                    for line in response.iter_lines():
                        if line:
                            seen += 1
                            if seen > given:
                                given = seen
                                yield parse_export_line(line)
                    break
                except httpx.TransportError as exc:
                    error = connection_error(exc)
                    delay = self._policy.delay(broken, error, safe=True, sent=True)
                    if delay is None:
                        raise error from exc
                    broken += 1
                    time.sleep(delay)
                finally:
                    response.close()
            if not token:
                return

    def erase_user(self, *, user_id: str | None = None) -> ErasureAccepted:
        """Erase the user's data (in the background: :meth:`get_erasure` tells its progress)."""
        return self._send(self._build.erase_user(user_id=user_id))

    def get_erasure(self, *, user_id: str | None = None) -> Erasure:
        """The progress of the user's erasure."""
        return self._send(self._build.get_erasure(user_id=user_id))


class ReplyStream:
    """A streamed reply (SPEC section 8), used as a context manager (see :meth:`SessionServiceClient.stream_reply`).

    Its ``message_id`` is drawn by the client, so creating it is retried safely; each chunk is retried safely
    too (the same index and content again is a no-op). Set ``tokens_used`` and ``cost_usd`` before the block
    ends (or call :meth:`finish`): they are the reply's when it is finalized.
    """

    def __init__(
        self,
        client: SessionServiceClient,
        session_id: str,
        *,
        role: MessageRole,
        provider: str | None,
        model: str | None,
        metadata: Mapping[str, Any] | None,
        user_id: str | None,
    ) -> None:
        self._client, self.session_id, self.user_id = client, session_id, user_id
        self.role, self.provider, self.model, self.metadata = role, provider, model, metadata
        self.message_id = str(uuid.uuid4())
        self.index = 0
        self.tokens_used = 0
        self.cost_usd = Decimal(0)
        self.message: Message | None = None

    def __enter__(self) -> ReplyStream:
        self.message = self._client.append_message(
            self.session_id,
            content="",
            status="in_progress",
            message_id=self.message_id,
            role=self.role,
            provider=self.provider,
            model=self.model,
            metadata=self.metadata,
            user_id=self.user_id,
        )
        return self

    def send(self, content: str) -> Message:
        """Append ``content`` as the next chunk; the message with its content so far."""
        self.message = self._client.append_chunk(
            self.session_id, self.message_id, index=self.index, content=content, user_id=self.user_id
        )
        self.index += 1
        return self.message

    def finish(
        self,
        status: MessageStatus = "completed",
        *,
        tokens_used: int | None = None,
        cost_usd: Decimal | int | None = None,
    ) -> Message:
        """Finalize the reply (``completed`` or ``incomplete``) with its tokens and cost."""
        if tokens_used is not None:
            self.tokens_used = tokens_used
        if cost_usd is not None:
            self.cost_usd = Decimal(cost_usd)
        self.message = self._client.update_message(
            self.session_id,
            self.message_id,
            status=status,
            tokens_used=self.tokens_used,
            cost_usd=self.cost_usd,
            user_id=self.user_id,
        )
        return self.message

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.message is None or self.message.status != "in_progress":
            return  # never created, or finished in the block
        if error is None:
            self.finish("completed")
            return
        with contextlib.suppress(SessionServiceError):  # the block's own error is the one to raise
            self.finish("incomplete")
