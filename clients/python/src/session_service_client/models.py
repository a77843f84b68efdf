"""The API's answers as typed models, written by hand and checked against ``openapi.json`` by the tests.

Money (``total_cost``, ``cost_usd``, ``cost``) is :class:`~decimal.Decimal`: the answer is parsed with every
digit it has (see :mod:`session_service_client._json`), never through a float. A ``metadata`` or
``conversation_data`` object holds plain JSON values (its numbers are ``int`` or ``float``).

Answers are read leniently so that a newer server does not break an older client: unknown fields are ignored
and enumerations (``status``, ``role``, ``memory_type``...) are plain strings; the ``Literal`` aliases below
say what today's server sends and what the methods accept.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

SessionStatus = Literal["active", "completed", "archived", "ended"]
MessageRole = Literal["user", "assistant", "system", "developer", "tool", "tool_call", "tool_result"]
MessageType = Literal["chat", "system", "tool_call", "tool_result", "notification"]
MessageStatus = Literal["in_progress", "completed", "incomplete"]
MemoryType = Literal["preference", "conversation", "entity", "summary", "custom"]
Order = Literal["asc", "desc"]


def _plain(value: Any) -> Any:
    # The answer was parsed with Decimal for every fraction (money keeps its digits); a JSON object field
    # holds what the user stored, where a number with a fraction is a float.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


JsonObject = Annotated[dict[str, Any], BeforeValidator(_plain)]
"""A JSON object field (``metadata``, ``conversation_data``): plain JSON values."""
JsonValue = Annotated[Any, BeforeValidator(_plain)]
"""A message's ``data``: any JSON value as stored (read as :func:`json.loads` reads it), ``None`` for none."""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Session(_Answer):
    """A session. ``etag`` is its version from the ``ETag`` header (for ``if_match``), where the answer had one."""

    session_id: str
    user_id: str
    title: str = ""
    status: str
    conversation_data: JsonObject = Field(default_factory=dict)
    metadata: JsonObject = Field(default_factory=dict)
    is_active: bool
    message_count: int = 0
    total_tokens: int = 0
    total_cost: Decimal = Decimal(0)
    session_summary: str = ""
    created_at: datetime
    updated_at: datetime
    last_activity: datetime
    expires_at: datetime
    namespace: str | None = None
    last_message_timestamp: float | None = None
    state: MergedState | None = None
    etag: str | None = Field(default=None, exclude=True)


class SessionListItem(_Answer):
    """A row of a user's session listing (no metadata, conversation data or summary)."""

    session_id: str
    user_id: str
    title: str = ""
    status: str
    is_active: bool
    message_count: int = 0
    total_tokens: int = 0
    total_cost: Decimal = Decimal(0)
    created_at: datetime
    updated_at: datetime
    last_activity: datetime
    expires_at: datetime
    namespace: str | None = None
    last_message_timestamp: float | None = None
    state: MergedState | None = None


class SessionList(_Answer):
    """A page of a user's sessions, most recent activity first."""

    sessions: list[SessionListItem]
    total: int
    page: int
    page_size: int
    next_token: str | None = None


class NamespaceSessionList(_Answer):
    """A page of every user's sessions in a namespace (a trusted caller's listing), by user, each user's least
    recent activity first; ``next_token`` ``None`` on the last page."""

    namespace: str
    sessions: list[SessionListItem]
    next_token: str | None = None


class SessionSummary(_Answer):
    """A session's counters and generated summary."""

    session_id: str
    user_id: str
    status: str
    message_count: int
    total_tokens: int
    total_cost: Decimal
    has_memory: bool
    is_active: bool
    session_summary: str
    created_at: datetime
    last_activity: datetime


class EndSessionResult(_Answer):
    """The answer to ending a session."""

    message: str = "Session ended successfully"


class SessionDeletedResult(_Answer):
    """The answer to deleting a session for good."""

    message: str = "Session deleted permanently"


class SessionBatchResult(_Answer):
    """The sessions a batch created, in the order of the request."""

    sessions: list[Session]


class SessionBatchDeleteResult(_Answer):
    """How many sessions a batch deleted for good."""

    deleted: int


class _Versioned(_Answer):
    """An answer that may carry the session's version from its ``ETag`` header (``etag``, excluded from dumps):
    equal to the same record read without it, since the version is the session's, not the record's."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Versioned) or type(self) is not type(other):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(self.model_dump_json())


class Message(_Versioned):
    """A stored message. ``data`` is the structured JSON it carries beside or instead of ``content`` (``None``:
    none), returned exactly as it was sent; ``timestamp`` the client's time it was sent with (epoch seconds;
    ``None``: none). ``etag`` is the session's version from the answer's ``ETag`` header: the
    new one after an append that named the version it read (``if_match``), the current one when a repeated
    append found the message stored; ``None`` otherwise (it takes no part in equality)."""

    message_id: str
    session_id: str
    user_id: str
    role: str
    content: str
    data: JsonValue = None
    message_type: str
    metadata: JsonObject = Field(default_factory=dict)
    tokens_used: int
    cost_usd: Decimal
    created_at: datetime
    status: str = "completed"
    provider: str | None = None
    model: str | None = None
    agent_id: str | None = None
    position: int | None = None
    timestamp: float | None = None
    etag: str | None = Field(default=None, exclude=True)


class MessageList(_Answer):
    """A page of a session's messages."""

    messages: list[Message]
    total: int
    page: int
    page_size: int
    next_token: str | None = None


class MessageBatchResult(_Versioned):
    """The messages a batch stored, in order; ``etag`` as for :class:`Message`."""

    messages: list[Message]
    total: int
    etag: str | None = Field(default=None, exclude=True)


class StateDocument(_Answer):
    """A state document: the session's own (``agent_id`` ``None``) or an agent's, and its ``version``;
    ``message_count`` is an agent's messages so far. ``etag`` (from the answer's ``ETag`` header, for
    ``if_match``; ``None`` in a session's merged state) names the version and the session's incarnation, so a
    document of an older session of the same id never matches."""

    session_id: str
    agent_id: str | None = None
    state: JsonObject = Field(default_factory=dict)
    version: int
    message_count: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    etag: str | None = Field(default=None, exclude=True)


class SharedStateDocument(_Answer):
    """A state document shared by sessions: a user's in a namespace (``scope`` ``"user"``) or a namespace's
    (``scope`` ``"namespace"``), and its ``version`` (its ETag is ``f'"{version}"'``, for ``if_match``; 0 for a
    document never changed). ``namespace`` ``None``: the user's sessions in no namespace."""

    scope: str
    namespace: str | None = None
    user_id: str | None = None
    state: JsonObject = Field(default_factory=dict)
    version: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MergedState(_Answer):
    """A session's state document with its user's and its namespace's, read in one request (``namespace``
    ``None`` for a session in no namespace)."""

    session: StateDocument
    user: SharedStateDocument
    namespace: SharedStateDocument | None = None


class AgentMessageList(_Answer):
    """A page of an agent's messages in order of position, and the position to read next (``None``: no more)."""

    messages: list[Message]
    next_offset: int | None = None


class DeleteResult(_Answer):
    """How many messages a deletion removed."""

    deleted: int


class PopResult(_Answer):
    """The messages a pop removed, newest first, and their number (both empty on an empty session)."""

    messages: list[Message]
    deleted: int


class Context(_Answer):
    """What an LLM call needs: the summary and the newest messages that fit the budget, oldest first."""

    session_id: str
    summary: str
    messages: list[Message]
    tokens: int
    truncated: bool


class Memory(_Answer):
    """A stored memory record."""

    memory_id: str
    session_id: str
    user_id: str
    memory_type: str
    content: str
    metadata: JsonObject = Field(default_factory=dict)
    created_at: datetime


class MemoryList(_Answer):
    """A page of a session's memory records."""

    memories: list[Memory]
    total: int
    next_token: str | None = None


class Stats(_Answer):
    """Service-wide statistics."""

    total_sessions: int = 0
    active_sessions: int = 0
    total_messages: int = 0
    total_tokens: int = 0
    total_cost: Decimal = Decimal(0)
    average_messages_per_session: float = 0.0


class ModelUsage(_Answer):
    """A user's usage of one (provider, model); both ``None`` for the messages that name neither."""

    provider: str | None = None
    model: str | None = None
    messages: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)


class NamespaceUsage(_Answer):
    """A user's usage of the sessions of one namespace; ``None`` for the sessions created in none."""

    namespace: str | None = None
    sessions: int = 0
    active_sessions: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)


class NamespaceUserUsage(_Answer):
    """What one user's sessions of a namespace hold."""

    user_id: str
    sessions: int = 0
    active_sessions: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)


class NamespaceUsageList(_Answer):
    """A page of a namespace's usage by user (a trusted caller's read); its totals are the sum of its pages."""

    namespace: str
    users: list[NamespaceUserUsage] = Field(default_factory=list)
    next_token: str | None = None


class Usage(_Answer):
    """What a user's existing sessions hold, in total, by model and by namespace (``by_namespace`` is empty while
    none of them is in a namespace)."""

    user_id: str
    sessions: int = 0
    active_sessions: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    by_model: list[ModelUsage] = Field(default_factory=list)
    by_namespace: list[NamespaceUsage] = Field(default_factory=list)


class ErasureAccepted(_Answer):
    """The answer to an erasure request: it runs in the background."""

    status: str = "erasing"


class Erasure(_Answer):
    """The progress of a user's erasure: ``erasing``, then ``erased``."""

    user_id: str
    status: str
    items_deleted: int = 0


class Health(_Answer):
    """Liveness."""

    status: str = "healthy"
    service: str = "session_service"
    version: str
    timestamp: datetime


class HealthDetailed(_Answer):
    """Readiness: ``operational`` when the table answers, else ``degraded`` (the answer was a 503)."""

    service: str = "session_service"
    status: str
    version: str
    database_connected: bool
    timestamp: datetime


class ExportedSession(Session):
    """A line of a user's export: a session."""

    type: Literal["session"]


class ExportedMessage(Message):
    """A line of a user's export: a message."""

    type: Literal["message"]


class ExportedMemory(Memory):
    """A line of a user's export: a memory record."""

    type: Literal["memory"]


class ExportedUserState(SharedStateDocument):
    """A line of a user's export: the user's state document of a namespace."""

    type: Literal["user_state"]


class ExportedSessionState(StateDocument):
    """A line of a user's export: a session's state document, or one of its agents' (``agent_id``)."""

    type: Literal["session_state"]


ExportLine = Annotated[
    ExportedSession | ExportedMessage | ExportedMemory | ExportedUserState | ExportedSessionState,
    Field(discriminator="type"),
]
"""One line of a user's export, by its ``type``."""


class ExportPage(_Answer):
    """One page of a user's export: its lines and the next page's cursor (``None`` on the last page)."""

    lines: list[ExportLine]
    next_token: str | None = None


class NewMessage(BaseModel):
    """A message to append (one of :meth:`append_messages`' batch). Unset fields take the server's defaults.
    It needs ``content`` or ``data`` (any JSON value; ``None`` sends none)."""

    model_config = ConfigDict(extra="forbid")

    role: MessageRole
    content: str = ""
    data: Any = None
    message_type: MessageType | None = None
    metadata: dict[str, Any] | None = None
    tokens_used: int | None = None
    cost_usd: Decimal | None = None
    message_id: str | None = None
    provider: str | None = None
    model: str | None = None
    status: MessageStatus | None = None
    agent_id: str | None = None
    timestamp: float | None = None


class NewSession(BaseModel):
    """A session to create (one of :meth:`create_sessions`' batch). Unset fields take the server's defaults."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    metadata: dict[str, Any] | None = None
    conversation_data: dict[str, Any] | None = None
    session_id: str | None = None
    ttl_seconds: int | None = None
