"""The one request builder both clients share: each route becomes a :class:`Call`, a description of the
request (method, path, query, headers, JSON body), how to read its answer, and whether a retry is safe.

:class:`SessionServiceClient` and :class:`AsyncSessionServiceClient` only send calls: every path, parameter,
header and parsing rule lives here, once.

A call is retried (``Call.retry``) only where a retry cannot write twice (docs/client.md):

* reads (``GET``, ``HEAD``) and deletes (a deletion repeated deletes nothing more);
* creates (``POST``) sent with an ``Idempotency-Key`` drawn once per logical call and kept across its
  retries: the service answers a retry with the first write's result, written once (a pop and a clear are
  sent so too: a retried pop answers the first pop's messages and pops nothing more); a batch of messages that
  all name their ``message_id`` is sent without one: a retry skips the messages stored already;
* a streamed reply's chunks (a repeated index with the same content is a no-op) and its finalization
  (the same finalization again is a no-op);
* a session update sent with ``if_match``, and ending a session: applied at most once. When a retry meets
  the refusal an applied earlier attempt causes (412: the version moved; 409: the session is ended already),
  the session is read: if it holds exactly what the write asked for, that is the result (``Call.confirm``);
  otherwise the refusal is raised.

A write that is none of these (an update without ``if_match``, a message edit) is retried only when the
request never left (the connection could not be opened).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from session_service_client import _json
from session_service_client.errors import APIStatusError, NotFound
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
    SessionStatus,
    SessionSummary,
    SharedStateDocument,
    StateDocument,
    Stats,
    Usage,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

API = "/api/v1"
NEXT_TOKEN_HEADER = "Next-Token"  # noqa: S105 - a header's name
NDJSON = "application/x-ndjson"
EXPORT_LINE: TypeAdapter[Any] = TypeAdapter(ExportLine)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request of one method call, and how to read its answer.

    ``accept`` lists the error statuses that are answers here, read by ``parse`` (a ``HEAD``'s 404, the
    degraded health check's 503). ``after_lost`` turns an error met by a retry whose earlier attempt's
    answer was lost into the result that attempt had (a deletion retried finds nothing left: 404).
    ``confirm`` does the same for a conditional write, by reading what is stored.
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    retry: bool = False
    accept: frozenset[int] = frozenset()
    after_lost: Callable[[APIStatusError], T | None] | None = None
    confirm: Confirm[T] | None = None

    @property
    def content(self) -> bytes | None:
        """The JSON body as sent (money with all of its digits)."""
        return None if self.body is None else _json.dumps(self.body)


@dataclass(frozen=True)
class Confirm(Generic[T]):
    """How a retry of a conditional write tells that an earlier attempt was applied (its answer lost).

    When a retry is refused with one of ``statuses`` (the refusal the applied attempt itself causes), ``read``
    is sent; ``stored`` turns the session read into the write's result when it holds exactly what the write
    asked for, else ``None``: another writer changed it, and the refusal is raised.
    """

    statuses: frozenset[int]
    read: Call[Session]
    stored: Callable[[Session], T | None]


def _segment(value: str) -> str:
    return quote(value, safe="")


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: cls.model_validate(_json.loads(response.content))


def _with_etag(cls: type[M]) -> Callable[[httpx.Response], M]:
    """An answer with its ``ETag`` header: an append's (the session's new ETag, sent when the append named the one
    it read with ``If-Match``), a session's or an agent's state document's (for ``if_match``)."""
    return lambda response: cls.model_validate({**_json.loads(response.content), "etag": response.headers.get("etag")})


_session = _with_etag(Session)
"""A session's answer with its ``ETag``."""


def _gone(result: T) -> Callable[[APIStatusError], T | None]:
    # A deletion whose first answer was lost and whose retry finds nothing: the first attempt deleted it.
    return lambda error: result if isinstance(error, NotFound) else None


def version(etag: str | None) -> tuple[int, str] | None:
    """The version and incarnation a session's strong ETag names (``'"3.mz4k1x2p0a"'`` -> ``(3, "mz4k1x2p0a")``:
    the incarnation tells a session from an older one of the same id), or ``None`` (absent, ``*``, weak, other)."""
    text = (etag or "").strip()
    inner = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else ""
    number, dot, incarnation = inner.partition(".")
    if not (dot and number.isascii() and number.isdigit() and incarnation.isascii() and incarnation.isalnum()):
        return None
    return int(number), incarnation


def _next(tag: tuple[int, str]) -> tuple[int, str]:
    """The ETag's version and incarnation after one write of the session (its version moves by one)."""
    return tag[0] + 1, tag[1]


def _same_json(sent: Any, stored: Any) -> bool:
    # Both through the client's JSON: a number compares by value whatever its type (Decimal, float, int).
    return bool(_json.loads(_json.dumps(sent)) == _json.loads(_json.dumps(stored)))


def _updated(after: tuple[int, str], body: Mapping[str, Any]) -> Callable[[Session], Session | None]:
    """The stored session when it is the update's result: version and incarnation ``after``, and every field sent
    holds the value sent."""

    def stored(session: Session) -> Session | None:
        held = version(session.etag) == after and all(
            _same_json(value, getattr(session, name)) for name, value in body.items()
        )
        return session if held else None

    return stored


def _ended(after: tuple[int, str] | None) -> Callable[[Session], EndSessionResult | None]:
    """The end's answer when the stored session is ended (at version and incarnation ``after`` when the end was
    conditional)."""

    def stored(session: Session) -> EndSessionResult | None:
        held = session.status == "ended" and (after is None or version(session.etag) == after)
        return EndSessionResult() if held else None

    return stored


def _fields(**values: Any) -> dict[str, Any]:
    """The body fields that were given (``None`` leaves a field to the server's default or unchanged)."""
    return {name: value for name, value in values.items() if value is not None}


def _query(**values: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _body_of(item: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, BaseModel):
        return item.model_dump(exclude_none=True)
    return dict(item)


def parse_export_line(line: bytes | str) -> Any:
    """One NDJSON line of an export as an :data:`ExportLine` (``ExportedSession``, ``...Message``, ``...Memory``,
    ``...UserState``, ``...SessionState``)."""
    return EXPORT_LINE.validate_python(_json.loads(line))


def _export_page(response: httpx.Response) -> ExportPage:
    lines = [parse_export_line(line) for line in response.content.splitlines() if line.strip()]
    return ExportPage(lines=lines, next_token=response.headers.get(NEXT_TOKEN_HEADER))


class RequestBuilder:
    """Builds the :class:`Call` of every route. ``user_id`` is the caller the calls name unless a call names
    another (``None``: the authorizer's verified caller, named by the token)."""

    def __init__(self, user_id: str | None = None) -> None:
        self.user_id = user_id

    def _caller(self, user_id: str | None) -> dict[str, str]:
        chosen = user_id if user_id is not None else self.user_id
        return {} if chosen is None else {"user_id": chosen}

    def _user_route(self, user_id: str | None, *rest: str) -> tuple[str, dict[str, str]]:
        """The path of the user a call names (else the client's), and the client's own ``user_id`` as the caller
        (the service answers 403 when they differ: a user reads and erases only their own data)."""
        chosen = user_id if user_id is not None else self.user_id
        if chosen is None:
            raise ValueError("user_id is required: give it to the client or to the call")
        return "/".join([f"{API}/users/{_segment(chosen)}", *rest]), self._caller(None)

    def _session_path(self, session_id: str, *rest: str) -> str:
        return "/".join([f"{API}/sessions/{_segment(session_id)}", *rest])

    @staticmethod
    def _once() -> dict[str, str]:
        return {"Idempotency-Key": str(uuid.uuid4())}  # one per logical call, kept across its retries

    # -- health and statistics --------------------------------------------------------------------------

    def health(self) -> Call[Health]:
        return Call("GET", "/health", _model(Health), retry=True)

    def health_detailed(self) -> Call[HealthDetailed]:
        return Call("GET", "/health/detailed", _model(HealthDetailed), retry=True, accept=frozenset({503}))

    def get_stats(self) -> Call[Stats]:
        return Call("GET", f"{API}/sessions/stats", _model(Stats), retry=True)

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
    ) -> Call[Session]:
        caller = user_id if user_id is not None else self.user_id
        body = _fields(
            user_id=caller,
            title=title,
            metadata=metadata,
            conversation_data=conversation_data,
            session_id=session_id,
            ttl_seconds=ttl_seconds,
            namespace=namespace,
            state=None if state is None else dict(state),
            user_state=None if user_state is None else dict(user_state),
            namespace_state=None if namespace_state is None else dict(namespace_state),
        )
        params = _query(include="state" if include_state else None)
        return Call("POST", f"{API}/sessions", _session, params=params, headers=self._once(), body=body, retry=True)

    def create_sessions(
        self, sessions: Sequence[NewSession | Mapping[str, Any]], *, user_id: str | None = None
    ) -> Call[SessionBatchResult]:
        caller = self._caller(user_id)
        bodies = [{**caller, **_body_of(session)} for session in sessions]
        return Call(
            "POST",
            f"{API}/sessions:batch",
            _model(SessionBatchResult),
            params=caller,
            headers=self._once(),
            body={"sessions": bodies},
            retry=True,
        )

    def get_session(self, session_id: str, *, include_state: bool = False, user_id: str | None = None) -> Call[Session]:
        params = {**self._caller(user_id), **_query(include="state" if include_state else None)}
        return Call("GET", self._session_path(session_id), _session, params=params, retry=True)

    def session_exists(self, session_id: str, *, user_id: str | None = None) -> Call[bool]:
        return Call(
            "HEAD",
            self._session_path(session_id),
            lambda response: response.status_code == 200,
            params=self._caller(user_id),
            retry=True,
            accept=frozenset({404}),
        )

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
    ) -> Call[Session]:
        body = _fields(title=title, metadata=metadata, conversation_data=conversation_data, status=status)
        expected = version(if_match)
        confirm = None
        if expected is not None:  # applied once: a retry after it is 412 (the version moved)
            confirm = Confirm(
                frozenset({412}), self.get_session(session_id, user_id=user_id), _updated(_next(expected), body)
            )
        return Call(
            "PUT",
            self._session_path(session_id),
            _session,
            params=self._caller(user_id),
            headers={} if if_match is None else {"If-Match": if_match},
            body=body,
            retry=if_match is not None,
            confirm=confirm,
        )

    def end_session(
        self, session_id: str, *, if_match: str | None = None, user_id: str | None = None
    ) -> Call[EndSessionResult]:
        expected, confirm = version(if_match), None
        if if_match is None or expected is not None:  # (an ETag that names no version never matches: 412)
            after = None if expected is None else _next(expected)
            confirm = Confirm(frozenset({409, 412}), self.get_session(session_id, user_id=user_id), _ended(after))
        return Call(
            "DELETE",
            self._session_path(session_id),
            _model(EndSessionResult),
            params=self._caller(user_id),
            headers={} if if_match is None else {"If-Match": if_match},
            retry=True,
            confirm=confirm,  # a retry after an applied end is 409 (ended already), 412 if conditional
        )

    def delete_session(
        self, session_id: str, *, if_match: str | None = None, user_id: str | None = None
    ) -> Call[SessionDeletedResult]:
        return Call(
            "DELETE",
            self._session_path(session_id),
            _model(SessionDeletedResult),
            params={**self._caller(user_id), "permanent": "true"},
            headers={} if if_match is None else {"If-Match": if_match},
            retry=True,
            after_lost=_gone(SessionDeletedResult()),
        )

    def delete_sessions(
        self, session_ids: Sequence[str], *, user_id: str | None = None
    ) -> Call[SessionBatchDeleteResult]:
        ids = list(session_ids)
        return Call(
            "POST",
            f"{API}/sessions:batchDelete",
            _model(SessionBatchDeleteResult),
            params=self._caller(user_id),
            body={"session_ids": ids},
            retry=True,
            after_lost=_gone(SessionBatchDeleteResult(deleted=len(ids))),
        )

    def get_session_summary(self, session_id: str, *, user_id: str | None = None) -> Call[SessionSummary]:
        return Call(
            "GET",
            self._session_path(session_id, "summary"),
            _model(SessionSummary),
            params=self._caller(user_id),
            retry=True,
        )

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
    ) -> Call[SessionList]:
        path, _ = self._user_route(user_id, "sessions")  # the listing takes no query user_id: the path's is the caller
        params = _query(
            active_only=active_only,
            status=status,
            page=page,
            page_size=page_size,
            next_token=next_token,
            namespace=namespace,
            include="state" if include_state else None,
        )
        return Call("GET", path, _model(SessionList), params=params, retry=True)

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
    ) -> Call[Message]:
        body = _fields(
            role=role,
            content=content,
            data=data,
            message_type=message_type,
            metadata=metadata,
            tokens_used=tokens_used,
            cost_usd=_money(cost_usd),
            message_id=message_id,
            provider=provider,
            model=model,
            status=status,
            agent_id=agent_id,
            timestamp=timestamp,
            state=state,
            user_state=user_state,
            namespace_state=namespace_state,
        )
        return Call(
            "POST",
            self._session_path(session_id, "messages"),
            _with_etag(Message),
            params=self._caller(user_id),
            headers={**self._once(), **({} if if_match is None else {"If-Match": if_match})},
            body=body,
            retry=True,
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
    ) -> Call[MessageBatchResult]:
        bodies = [_body_of(message) for message in messages]
        # Messages that all name their message_id need no Idempotency-Key: a retry of a batch that was stored
        # skips them (the service's batch skip), and the key's own record would cost writes on every batch.
        named = bool(bodies) and all(body.get("message_id") for body in bodies)
        headers = {} if named else self._once()
        if if_match is not None:
            headers["If-Match"] = if_match
        body = {"messages": bodies, **_fields(state=state, user_state=user_state, namespace_state=namespace_state)}
        return Call(
            "POST",
            f"{API}/sessions/{_segment(session_id)}/messages:batch",
            _with_etag(MessageBatchResult),
            params=self._caller(user_id),
            headers=headers,
            body=body,
            retry=True,
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
    ) -> Call[MessageList]:
        paging = _query(order=order, page=page, page_size=page_size, next_token=next_token)
        params = {**self._caller(user_id), **paging, **_query(from_timestamp=from_timestamp)}
        return Call("GET", self._session_path(session_id, "messages"), _model(MessageList), params=params, retry=True)

    def get_message(self, session_id: str, message_id: str, *, user_id: str | None = None) -> Call[Message]:
        return Call(
            "GET",
            self._session_path(session_id, "messages", _segment(message_id)),
            _model(Message),
            params=self._caller(user_id),
            retry=True,
        )

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
    ) -> Call[Message]:
        body = _fields(
            content=content,
            data=data,
            metadata=metadata,
            tokens_used=tokens_used,
            cost_usd=_money(cost_usd),
            provider=provider,
            model=model,
            status=status,
        )
        return Call(
            "PATCH",
            self._session_path(session_id, "messages", _segment(message_id)),
            _model(Message),
            params=self._caller(user_id),
            body=body,
            retry=status is not None,  # a finalization repeated is a no-op; an edit repeated writes again
        )

    def delete_message(self, session_id: str, message_id: str, *, user_id: str | None = None) -> Call[DeleteResult]:
        return Call(
            "DELETE",
            self._session_path(session_id, "messages", _segment(message_id)),
            _model(DeleteResult),
            params=self._caller(user_id),
            retry=True,
            after_lost=_gone(DeleteResult(deleted=1)),
        )

    def truncate_messages(self, session_id: str, *, after: str, user_id: str | None = None) -> Call[DeleteResult]:
        return Call(
            "DELETE",
            self._session_path(session_id, "messages"),
            _model(DeleteResult),
            params={**self._caller(user_id), "after": after},
            retry=True,
        )

    def pop_messages(self, session_id: str, *, count: int = 1, user_id: str | None = None) -> Call[PopResult]:
        # Retried under one Idempotency-Key: a retry after a lost answer gets the first pop's messages back, never
        # pops again.
        return Call(
            "POST",
            f"{API}/sessions/{_segment(session_id)}/messages:pop",
            _model(PopResult),
            params=self._caller(user_id),
            headers=self._once(),
            body={"count": count},
            retry=True,
        )

    def clear_messages(self, session_id: str, *, user_id: str | None = None) -> Call[DeleteResult]:
        return Call(
            "POST",
            f"{API}/sessions/{_segment(session_id)}/messages:clear",
            _model(DeleteResult),
            params=self._caller(user_id),
            headers=self._once(),
            retry=True,
        )

    def append_chunk(
        self, session_id: str, message_id: str, *, index: int, content: str, user_id: str | None = None
    ) -> Call[Message]:
        return Call(
            "POST",
            self._session_path(session_id, "messages", _segment(message_id), "chunks"),
            _model(Message),
            params=self._caller(user_id),
            body={"index": index, "content": content},
            retry=True,
        )

    def get_context(
        self,
        session_id: str,
        *,
        max_tokens: int | None = None,
        max_messages: int | None = None,
        user_id: str | None = None,
    ) -> Call[Context]:
        params = {**self._caller(user_id), **_query(max_tokens=max_tokens, max_messages=max_messages)}
        return Call("GET", self._session_path(session_id, "context"), _model(Context), params=params, retry=True)

    # -- memory -----------------------------------------------------------------------------------------

    def add_memory(
        self,
        session_id: str,
        *,
        memory_type: MemoryType,
        content: str,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Call[Memory]:
        return Call(
            "POST",
            self._session_path(session_id, "memory"),
            _model(Memory),
            params=self._caller(user_id),
            headers=self._once(),
            body=_fields(memory_type=memory_type, content=content, metadata=metadata),
            retry=True,
        )

    def list_memories(
        self,
        session_id: str,
        *,
        memory_type: MemoryType | None = None,
        page_size: int | None = None,
        next_token: str | None = None,
        user_id: str | None = None,
    ) -> Call[MemoryList]:
        params = {
            **self._caller(user_id),
            **_query(memory_type=memory_type, page_size=page_size, next_token=next_token),
        }
        return Call("GET", self._session_path(session_id, "memory"), _model(MemoryList), params=params, retry=True)

    # -- a user's data ----------------------------------------------------------------------------------

    def get_usage(self, *, user_id: str | None = None) -> Call[Usage]:
        path, caller = self._user_route(user_id, "usage")
        return Call("GET", path, _model(Usage), params=caller, retry=True)

    def get_namespace_usage(
        self, namespace: str, *, page_size: int | None = None, next_token: str | None = None
    ) -> Call[NamespaceUsageList]:
        path = f"{API}/namespaces/{_segment(namespace)}/usage"
        params = _query(page_size=page_size, next_token=next_token)
        return Call("GET", path, _model(NamespaceUsageList), params=params, retry=True)

    def export_user(
        self, *, page_size: int | None = None, next_token: str | None = None, user_id: str | None = None
    ) -> Call[ExportPage]:
        path, caller = self._user_route(user_id, "export")
        return Call(
            "GET",
            path,
            _export_page,
            params={**caller, **_query(page_size=page_size, next_token=next_token)},
            headers={"Accept": NDJSON},
            retry=True,
        )

    def erase_user(self, *, user_id: str | None = None) -> Call[ErasureAccepted]:
        path, caller = self._user_route(user_id)
        return Call("DELETE", path, _model(ErasureAccepted), params=caller, retry=True)

    def get_erasure(self, *, user_id: str | None = None) -> Call[Erasure]:
        path, caller = self._user_route(user_id, "erasure")
        return Call("GET", path, _model(Erasure), params=caller, retry=True)

    # -- state documents and agents' conversations ------------------------------------------------------------

    def _agent_path(self, session_id: str, agent_id: str, *rest: str) -> str:
        return self._session_path(session_id, "agents", _segment(agent_id), *rest)

    @staticmethod
    def _change(set_keys: Mapping[str, Any] | None, remove_keys: Sequence[str] | None) -> dict[str, Any]:
        return {"set": dict(set_keys or {}), "remove": list(remove_keys or [])}

    def get_state(self, session_id: str, *, user_id: str | None = None) -> Call[StateDocument]:
        return Call(
            "GET",
            self._session_path(session_id, "state"),
            _with_etag(StateDocument),
            params=self._caller(user_id),
            retry=True,
        )

    def change_state(
        self,
        session_id: str,
        *,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> Call[StateDocument]:
        return Call(
            "PATCH",
            self._session_path(session_id, "state"),
            _with_etag(StateDocument),
            params=self._caller(user_id),
            headers={} if if_match is None else {"If-Match": if_match},
            body=self._change(set_keys, remove_keys),
        )

    def create_agent(
        self, session_id: str, agent_id: str, *, state: Mapping[str, Any] | None = None, user_id: str | None = None
    ) -> Call[StateDocument]:
        return Call(
            "PUT",
            self._agent_path(session_id, agent_id),
            _with_etag(StateDocument),
            params=self._caller(user_id),
            body={"state": dict(state or {})},
        )

    def get_agent(self, session_id: str, agent_id: str, *, user_id: str | None = None) -> Call[StateDocument]:
        return Call(
            "GET",
            self._agent_path(session_id, agent_id),
            _with_etag(StateDocument),
            params=self._caller(user_id),
            retry=True,
        )

    def change_agent(
        self,
        session_id: str,
        agent_id: str,
        *,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> Call[StateDocument]:
        return Call(
            "PATCH",
            self._agent_path(session_id, agent_id),
            _with_etag(StateDocument),
            params=self._caller(user_id),
            headers={} if if_match is None else {"If-Match": if_match},
            body=self._change(set_keys, remove_keys),
        )

    def list_agent_messages(
        self,
        session_id: str,
        agent_id: str,
        *,
        offset: int | None = None,
        limit: int | None = None,
        user_id: str | None = None,
    ) -> Call[AgentMessageList]:
        params = {**self._caller(user_id), **_query(offset=offset, limit=limit)}
        path = self._agent_path(session_id, agent_id, "messages")
        return Call("GET", path, _model(AgentMessageList), params=params, retry=True)

    def get_agent_message(
        self, session_id: str, agent_id: str, position: int, *, user_id: str | None = None
    ) -> Call[Message]:
        path = self._agent_path(session_id, agent_id, "messages", str(position))
        return Call("GET", path, _model(Message), params=self._caller(user_id), retry=True)

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
    ) -> Call[Message]:
        path = self._agent_path(session_id, agent_id, "messages", str(position))
        body = _fields(content=content, data=data, metadata=metadata)
        return Call("PATCH", path, _model(Message), params=self._caller(user_id), body=body)

    # -- shared state (a user's in a namespace, a namespace's) and namespaces' sessions -----------------------

    def get_merged_state(self, session_id: str, *, user_id: str | None = None) -> Call[MergedState]:
        return Call(
            "GET",
            self._session_path(session_id, "state", "merged"),
            _model(MergedState),
            params=self._caller(user_id),
            retry=True,
        )

    def get_user_state(self, *, namespace: str | None = None, user_id: str | None = None) -> Call[SharedStateDocument]:
        path, caller = self._user_route(user_id, "state")
        return Call(
            "GET", path, _model(SharedStateDocument), params={**caller, **_query(namespace=namespace)}, retry=True
        )

    def change_user_state(
        self,
        *,
        namespace: str | None = None,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
        user_id: str | None = None,
    ) -> Call[SharedStateDocument]:
        path, caller = self._user_route(user_id, "state")
        return Call(
            "PATCH",
            path,
            _model(SharedStateDocument),
            params={**caller, **_query(namespace=namespace)},
            headers={} if if_match is None else {"If-Match": if_match},
            body=self._change(set_keys, remove_keys),
        )

    def get_namespace_state(self, namespace: str) -> Call[SharedStateDocument]:
        return Call("GET", f"{API}/namespaces/{_segment(namespace)}/state", _model(SharedStateDocument), retry=True)

    def change_namespace_state(
        self,
        namespace: str,
        *,
        set_keys: Mapping[str, Any] | None = None,
        remove_keys: Sequence[str] | None = None,
        if_match: str | None = None,
    ) -> Call[SharedStateDocument]:
        return Call(
            "PATCH",
            f"{API}/namespaces/{_segment(namespace)}/state",
            _model(SharedStateDocument),
            headers={} if if_match is None else {"If-Match": if_match},
            body=self._change(set_keys, remove_keys),
        )

    def list_namespace_sessions(
        self,
        namespace: str,
        *,
        page_size: int | None = None,
        next_token: str | None = None,
        include_state: bool = False,
    ) -> Call[NamespaceSessionList]:
        return Call(
            "GET",
            f"{API}/namespaces/{_segment(namespace)}/sessions",
            _model(NamespaceSessionList),
            params=_query(page_size=page_size, next_token=next_token, include="state" if include_state else None),
            retry=True,
        )


def _money(value: Decimal | int | float | str | None) -> Decimal | int | None:
    """A cost as sent: a ``Decimal`` (a float is refused: it cannot say which digits it means)."""
    if value is None or isinstance(value, int | Decimal):
        return value
    if isinstance(value, str):
        return Decimal(value)
    raise TypeError("money is a Decimal (or an int, or a string of digits), never a float")
