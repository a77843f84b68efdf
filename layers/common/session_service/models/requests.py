"""Request bodies: ``extra="forbid"``, SPEC section 4's limits, validated at the edge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from session_service.models.state import MAX_BATCH_AGENTS, AgentId, AppendState, InitialState
from session_service.models.types import (
    MAX_BATCH_MESSAGES,
    MAX_BATCH_SESSIONS,
    MAX_CHUNK_INDEX,
    MAX_MESSAGE_BYTES,
    MAX_POP_MESSAGES,
    NO_COST,
    ChunkContent,
    JsonObject,
    MemoryContent,
    MemoryType,
    MessageContent,
    MessageData,
    MessageId,
    MessageRole,
    MessageStatus,
    MessageTimestamp,
    MessageType,
    ModelField,
    MoneyInput,
    Namespace,
    SessionId,
    SessionStatus,
    Title,
    Tokens,
    TtlSeconds,
    UserId,
    data_bytes,
)


# defer_build: a model's validators are built on first use, so a handler pays only for the models its
# operation touches (cold start), not for every model of the service.
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class SessionCreate(_Request):
    """POST /api/v1/sessions body. ``session_id`` is optional (the server draws a UUID)."""

    user_id: UserId
    title: Title = ""
    metadata: JsonObject = Field(default_factory=dict)
    conversation_data: JsonObject = Field(default_factory=dict)
    session_id: SessionId | None = None
    ttl_seconds: TtlSeconds | None = Field(default=None, description="Defaults to SESSION_TTL_SECONDS (30 days)")
    namespace: Namespace | None = Field(
        default=None,
        description="The session's namespace (an app, a project), fixed at creation; none by default. A label, not"
        " an access boundary: any user may name any namespace, and reads its state (shared configuration)",
    )
    state: InitialState | None = Field(
        default=None, description="The session's state document (version 1), written in the create's transaction"
    )
    user_state: InitialState | None = Field(
        default=None,
        description="Keys set in the user's state document of the session's namespace, in the create's transaction",
    )
    namespace_state: InitialState | None = Field(
        default=None,
        description="Keys set in the namespace's state document, in the create's transaction (needs a namespace; a"
        " trusted caller with the authorizer on)",
    )

    @model_validator(mode="after")
    def _namespace_state_needs_a_namespace(self) -> SessionCreate:
        if self.namespace_state is not None and self.namespace is None:
            raise ValueError("namespace_state needs a namespace")
        return self

    @property
    def carries_state(self) -> bool:
        """True when the create writes a state document (``state``, ``user_state`` or ``namespace_state``)."""
        return self.state is not None or self.user_state is not None or self.namespace_state is not None


class SessionUpdate(_Request):
    """PUT body: only the fields sent change; ``metadata`` and ``conversation_data`` are replaced whole."""

    title: Title | None = None
    metadata: JsonObject | None = None
    conversation_data: JsonObject | None = None
    status: SessionStatus | None = None


class MessageCreate(_Request):
    """POST .../messages body (seed 002, and SPEC section 8's fields).

    ``message_id`` (optional, a UUID) makes the append idempotent by itself: the same id and body (``data``
    included) again answer the stored message, another body 409. ``data`` carries structured JSON beside or
    instead of ``content`` (a message needs one of them); the two count together against the 256 KiB limit. A
    streamed reply starts ``in_progress``: its content may be empty and its ``tokens_used``/``cost_usd`` come
    with its finalization (so they must be 0 here).
    """

    status: MessageStatus = MessageStatus.COMPLETED
    role: MessageRole
    data: MessageData = None
    content: ChunkContent = Field(
        default="",
        validate_default=True,
        description="Required (non-empty) unless data is given or status is in_progress",
    )
    message_type: MessageType = MessageType.CHAT
    metadata: JsonObject = Field(default_factory=dict)
    tokens_used: Tokens = 0
    cost_usd: MoneyInput = NO_COST
    message_id: MessageId | None = None
    provider: ModelField | None = None
    model: ModelField | None = None
    agent_id: AgentId | None = Field(
        default=None, description="The agent whose conversation the message joins (numbered from 0 per agent)"
    )
    timestamp: MessageTimestamp | None = Field(
        default=None,
        description="The client's time of the message, epoch seconds (microseconds kept); lists from a time by it"
        " (GET .../messages?from_timestamp=) unless the message names an agent_id",
    )
    state: AppendState | None = Field(
        default=None,
        description="A change of the state document of the message's agent (of the session's without one), stored"
        " in the append's transaction",
    )
    user_state: AppendState | None = Field(
        default=None,
        description="A change of the caller's state document of the session's namespace, in the append's transaction",
    )
    namespace_state: AppendState | None = Field(
        default=None,
        description="A change of the session's namespace's state document (a trusted caller), in the append's"
        " transaction",
    )

    # ``status`` is declared first, so these validators see it (pydantic validates fields in order).
    @field_validator("content")
    @classmethod
    def _content_unless_streaming(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.data.get("status") is not MessageStatus.IN_PROGRESS and info.data.get("data") is None:
            raise PydanticCustomError(
                "string_too_short", "content must not be empty (unless data is given or status is in_progress)"
            )
        return value

    @field_validator("tokens_used", "cost_usd")
    @classmethod
    def _counted_at_finalization(cls, value: Any, info: ValidationInfo) -> Any:
        if value and info.data.get("status") is MessageStatus.IN_PROGRESS:
            raise ValueError("an in_progress message gets tokens_used and cost_usd when it is finalized")
        return value

    @model_validator(mode="after")
    def _fits(self) -> MessageCreate:
        _check_size(self.content, self.data)
        return self


def _check_size(content: str | None, data: object) -> None:
    """Raise ``ValueError`` when ``content`` and ``data`` (as stored) exceed :data:`MAX_MESSAGE_BYTES` together."""
    if len((content or "").encode("utf-8")) + data_bytes(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"content and data must be at most {MAX_MESSAGE_BYTES} bytes together")


class MessageUpdate(_Request):
    """PATCH .../messages/{message_id} body: only the fields sent change (at least one).

    ``status`` finalizes a streamed reply (``completed`` or ``incomplete``, with its ``tokens_used`` and
    ``cost_usd``); on a finalized message the same status again, with the values stored, is a no-op. ``data``
    replaces the message's structured JSON whole (null: unchanged).
    """

    content: MessageContent | None = None
    data: MessageData = None
    metadata: JsonObject | None = None
    tokens_used: Tokens | None = None
    cost_usd: MoneyInput | None = None
    provider: ModelField | None = None
    model: ModelField | None = None
    status: Literal[MessageStatus.COMPLETED, MessageStatus.INCOMPLETE] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> MessageUpdate:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("send at least one field to change (null means unchanged)")
        _check_size(self.content, self.data)
        return self


class MessagePop(_Request):
    """POST .../messages:pop body (optional): how many of the newest messages to remove and return."""

    count: Annotated[int, Field(strict=True, ge=1, le=MAX_POP_MESSAGES, description="1 to 49; 1 by default")] = 1


class ChunkCreate(_Request):
    """POST .../messages/{message_id}/chunks body: the next piece of a streamed reply; ``index`` counts
    from 0 without gaps."""

    index: Annotated[int, Field(strict=True, ge=0, le=MAX_CHUNK_INDEX)]
    content: ChunkContent


class MessageBatchCreate(_Request):
    """POST .../messages:batch body: 1 to 98 messages stored all or nothing, in the order given."""

    messages: Annotated[list[MessageCreate], Field(min_length=1, max_length=MAX_BATCH_MESSAGES)]
    state: AppendState | None = Field(
        default=None,
        description="A change of the session's state document, stored in the batch's transaction (the batch must"
        " then fit one transaction)",
    )
    user_state: AppendState | None = Field(
        default=None, description="A change of the caller's state document of the session's namespace"
    )
    namespace_state: AppendState | None = Field(
        default=None, description="A change of the session's namespace's state document (a trusted caller)"
    )

    @field_validator("messages")
    @classmethod
    def _ids_are_distinct(cls, messages: list[MessageCreate]) -> list[MessageCreate]:
        chosen = [m.message_id for m in messages if m.message_id is not None]
        if len(set(chosen)) != len(chosen):
            raise ValueError("two messages of the batch have the same message_id")
        if len({m.agent_id for m in messages if m.agent_id is not None}) > MAX_BATCH_AGENTS:
            raise ValueError(f"a batch names at most {MAX_BATCH_AGENTS} agents")
        if any(m.state is not None or m.user_state is not None or m.namespace_state is not None for m in messages):
            raise ValueError("a batch's state changes are the batch's `state`, `user_state`, `namespace_state`")
        return messages


class SessionBatchCreate(_Request):
    """POST /api/v1/sessions:batch body: 1 to 25 sessions of the caller, created all or nothing (seed 003's
    ``batch_save_sessions``). Each body is a :class:`SessionCreate` whose ``user_id`` is the caller."""

    sessions: Annotated[list[SessionCreate], Field(min_length=1, max_length=MAX_BATCH_SESSIONS)]

    @field_validator("sessions")
    @classmethod
    def _ids_are_distinct(cls, sessions: list[SessionCreate]) -> list[SessionCreate]:
        chosen = [s.session_id for s in sessions if s.session_id is not None]
        if len(set(chosen)) != len(chosen):
            raise ValueError("two sessions of the batch have the same session_id")
        if any(s.carries_state for s in sessions):  # each document is an action: 25 sessions would pass 100
            raise ValueError("a batch creates sessions without state: create one with state by POST /api/v1/sessions")
        return sessions


class SessionBatchDelete(_Request):
    """POST /api/v1/sessions:batchDelete body: 1 to 25 distinct ids of the caller's sessions, deleted for good
    all or nothing (seed 003's ``batch_delete_sessions``)."""

    session_ids: Annotated[list[SessionId], Field(min_length=1, max_length=MAX_BATCH_SESSIONS)]

    @field_validator("session_ids")
    @classmethod
    def _ids_are_distinct(cls, session_ids: list[str]) -> list[str]:
        if len(set(session_ids)) != len(session_ids):
            raise ValueError("a session_id is named twice")
        return session_ids


class MemoryCreate(_Request):
    """POST .../memory body (seed 002)."""

    memory_type: MemoryType
    content: MemoryContent
    metadata: JsonObject = Field(default_factory=dict)
