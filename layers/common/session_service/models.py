"""Pydantic models: the domain enums, request bodies (``extra="forbid"``) and response shapes.

Models never see DynamoDB keys; :mod:`session_service.repository` maps items to these models.
Limits come from SPEC section 4; money is an exact :class:`~decimal.Decimal` inside and a JSON number on
the wire (exact for totals below 10^9 USD with 6 decimal places, which a double represents with its
shortest round-trip repr).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

# ---------------------------------------------------------------------------------------------------
# Enums and the status state machine (seed 002, "状态流转")


class SessionStatus(StrEnum):
    """Lifecycle of a session: ``active -> completed -> archived`` and ``active -> ended``."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ARCHIVED = "archived"
    ENDED = "ended"

    @property
    def is_read_only(self) -> bool:
        """True for ``ended``: nothing of the session changes any more (SPEC section 3)."""
        return self is SessionStatus.ENDED


ALLOWED_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.ACTIVE: frozenset({SessionStatus.COMPLETED, SessionStatus.ENDED}),
    SessionStatus.COMPLETED: frozenset({SessionStatus.ARCHIVED}),
    SessionStatus.ARCHIVED: frozenset(),
    SessionStatus.ENDED: frozenset(),
}


def statuses_allowed_before(target: SessionStatus) -> frozenset[SessionStatus]:
    """Statuses from which ``target`` may be set: its predecessors plus itself (a no-op)."""
    return frozenset({s for s, nexts in ALLOWED_TRANSITIONS.items() if target in nexts} | {target})


class MessageRole(StrEnum):
    """Who wrote a message (seed 002)."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"


class MessageType(StrEnum):
    """What kind of message it is (seed 002); ``chat`` by default."""

    CHAT = "chat"
    SYSTEM = "system"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    NOTIFICATION = "notification"


class MemoryType(StrEnum):
    """Kinds of memory record (seed 002, "内存类型")."""

    PREFERENCE = "preference"
    CONVERSATION = "conversation"
    ENTITY = "entity"
    SUMMARY = "summary"
    CUSTOM = "custom"


# ---------------------------------------------------------------------------------------------------
# Field types and limits (SPEC section 4)

USER_ID_PATTERN = r"^[A-Za-z0-9_.@:-]{1,128}$"
# Seed 004's SessionIdGenerator.is_valid_session_id: a UUID, or "<prefix>_<uuid>". We accept the UUID in
# its canonical or 32-hex form and keep the prefix to URL-safe characters, since the id is a path segment.
_UUID = r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}"
SESSION_ID_PATTERN = rf"^(?:[A-Za-z0-9_.@:-]{{1,128}}_)?{_UUID}$"
ITEM_ID_PATTERN = rf"^{_UUID}$"

MAX_TITLE_CHARS = 256
MAX_MESSAGE_BYTES = 256 * 1024
MAX_MEMORY_BYTES = 64 * 1024
MAX_JSON_OBJECT_BYTES = 32 * 1024
MAX_JSON_OBJECT_KEYS = 50
MAX_TOKENS = 10**9
MAX_COST_USD = Decimal(10**6)
DEFAULT_CONTEXT_TOKENS = 4_000
MAX_CONTEXT_TOKENS = 1_000_000
DEFAULT_CONTEXT_MESSAGES = 50
MAX_CONTEXT_MESSAGES = 1_000
"""Context budget defaults and bounds (SPEC section 3)."""
MAX_BATCH_MESSAGES = 98
"""TransactWriteItems takes 100 actions (an AWS limit); one is the session's counter update, one the
``Idempotency-Key``'s write guard."""

UserId = Annotated[str, Field(pattern=USER_ID_PATTERN, min_length=1, max_length=128, examples=["test_user_123"])]
SessionId = Annotated[
    str,
    Field(
        pattern=SESSION_ID_PATTERN,
        max_length=200,
        description="A UUID, or '<prefix>_<uuid>' (seed 004's rule)",
        examples=["7e02708b-ad2d-44d6-a851-d02d97137757"],
    ),
]


def _utf8_limit(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if len(value.encode("utf-8")) > limit:
            raise ValueError(f"must be at most {limit} bytes of UTF-8")
        return value

    return AfterValidator(check)


def _check_json_object(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_JSON_OBJECT_KEYS:
        raise ValueError(f"must have at most {MAX_JSON_OBJECT_KEYS} top-level keys")
    try:
        encoded = dump_json(value)
    except (TypeError, ValueError) as exc:  # NaN/Infinity, or values JSON cannot carry
        raise ValueError("must be plain JSON (no NaN or Infinity)") from exc
    if len(encoded.encode("utf-8")) > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"must be at most {MAX_JSON_OBJECT_BYTES} bytes as JSON")
    return value


def dump_json(value: Any) -> str:
    """Compact, strict JSON (``allow_nan=False``): how ``metadata`` and ``conversation_data`` are stored."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _decimal_to_number(value: Decimal) -> float:
    return float(value)


JsonObject = Annotated[dict[str, Any], AfterValidator(_check_json_object)]
Money = Annotated[Decimal, PlainSerializer(_decimal_to_number, return_type=float, when_used="json")]
"""USD, exact inside, a JSON number on the wire."""
MoneyInput = Annotated[
    Decimal,
    Field(ge=0, le=MAX_COST_USD, decimal_places=6, allow_inf_nan=False, description="USD, at most 6 decimals"),
]
Tokens = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS, description="Tokens used (integer)")]
Title = Annotated[str, Field(max_length=MAX_TITLE_CHARS)]
MessageContent = Annotated[str, Field(min_length=1), _utf8_limit(MAX_MESSAGE_BYTES)]
MemoryContent = Annotated[str, Field(min_length=1), _utf8_limit(MAX_MEMORY_BYTES)]
TtlSeconds = Annotated[int, Field(strict=True, ge=60, le=365 * 24 * 3600, description="Idle lifetime, seconds")]


# defer_build: a model's validators are built on first use, so a handler pays only for the models its
# operation touches (cold start), not for every model of the service.
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class _Response(BaseModel):
    model_config = ConfigDict(defer_build=True)


# ---------------------------------------------------------------------------------------------------
# Requests


class SessionCreate(_Request):
    """POST /api/v1/sessions body. ``session_id`` is optional (the server draws a UUID)."""

    user_id: UserId
    title: Title = ""
    metadata: JsonObject = Field(default_factory=dict)
    conversation_data: JsonObject = Field(default_factory=dict)
    session_id: SessionId | None = None
    ttl_seconds: TtlSeconds | None = Field(default=None, description="Defaults to SESSION_TTL_SECONDS (30 days)")


class SessionUpdate(_Request):
    """PUT body: only the fields sent change; ``metadata`` and ``conversation_data`` are replaced whole."""

    title: Title | None = None
    metadata: JsonObject | None = None
    conversation_data: JsonObject | None = None
    status: SessionStatus | None = None


class MessageCreate(_Request):
    """POST .../messages body (seed 002)."""

    role: MessageRole
    content: MessageContent
    message_type: MessageType = MessageType.CHAT
    metadata: JsonObject = Field(default_factory=dict)
    tokens_used: Tokens = 0
    cost_usd: MoneyInput = Decimal(0)


class MessageBatchCreate(_Request):
    """POST .../messages:batch body: 1 to 98 messages stored all or nothing, in the order given."""

    messages: Annotated[list[MessageCreate], Field(min_length=1, max_length=MAX_BATCH_MESSAGES)]


class MemoryCreate(_Request):
    """POST .../memory body (seed 002)."""

    memory_type: MemoryType
    content: MemoryContent
    metadata: JsonObject = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Responses


class Session(_Response):
    """A session as the API returns it. Times are UTC; ``expires_at`` is when idleness ends it."""

    session_id: str
    user_id: str
    title: str = ""
    status: SessionStatus
    conversation_data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    is_active: bool
    message_count: int = 0
    total_tokens: int = 0
    total_cost: Money = Decimal(0)
    session_summary: str = ""
    created_at: datetime
    updated_at: datetime
    last_activity: datetime
    expires_at: datetime
    version: Annotated[int, Field(exclude=True)] = 1
    memory_count: Annotated[int, Field(exclude=True)] = 0

    def summary(self) -> SessionSummary:
        """The session's counters and summary text (``has_memory`` from its own memory count)."""
        return SessionSummary(
            has_memory=self.memory_count > 0,
            **self.model_dump(include=set(SessionSummary.model_fields) - {"has_memory"}),
        )


class SessionListItem(_Response):
    """A row of a user's session listing: the session without ``metadata``, ``conversation_data`` and
    ``session_summary`` (read those with GET of the session; seed 002's listing shows none of them)."""

    session_id: str
    user_id: str
    title: str = ""
    status: SessionStatus
    is_active: bool
    message_count: int = 0
    total_tokens: int = 0
    total_cost: Money = Decimal(0)
    created_at: datetime
    updated_at: datetime
    last_activity: datetime
    expires_at: datetime


class SessionList(_Response):
    """A page of a user's sessions, most recent activity first."""

    sessions: list[SessionListItem]
    total: int = Field(description="The user's sessions (or active sessions with active_only), exact at read time")
    page: int
    page_size: int
    next_token: str | None = Field(default=None, description="Opaque cursor for the next page; null at the end")


class SessionSummary(_Response):
    """GET .../summary: the counters and the generated summary text."""

    session_id: str
    user_id: str
    status: SessionStatus
    message_count: int
    total_tokens: int
    total_cost: Money
    has_memory: bool
    is_active: bool
    session_summary: str
    created_at: datetime
    last_activity: datetime


class EndSessionResult(_Response):
    """DELETE answer (seed 002)."""

    message: str = "Session ended successfully"


class Message(_Response):
    """A stored message."""

    message_id: str
    session_id: str
    user_id: str
    role: MessageRole
    content: str
    message_type: MessageType
    metadata: dict[str, Any] = Field(default_factory=dict)
    tokens_used: int
    cost_usd: Money
    created_at: datetime


class MessageOrder(StrEnum):
    """Order of a message listing: ``asc`` oldest first (the default), ``desc`` newest first."""

    ASC = "asc"
    DESC = "desc"


class MessageList(_Response):
    """A page of a session's messages, oldest first (``order=asc``) or newest first (``order=desc``)."""

    messages: list[Message]
    total: int = Field(description="Messages in the session")
    page: int
    page_size: int
    next_token: str | None = None


class MessageBatchResult(_Response):
    """POST .../messages:batch answer: the stored messages in order."""

    messages: list[Message]
    total: int


class Context(_Response):
    """GET .../context: what an LLM call needs: the summary and the newest messages that fit the budget,
    in chronological order."""

    session_id: str
    summary: str = Field(description="The session's generated summary ('' until the stream wrote one)")
    messages: list[Message] = Field(description="The newest messages that fit, oldest first")
    tokens: int = Field(description="Sum of the returned messages' tokens_used")
    truncated: bool = Field(description="True when older messages were left out")


class Memory(_Response):
    """A stored memory record; ``memory_type`` is the type that was sent."""

    memory_id: str
    session_id: str
    user_id: str
    memory_type: MemoryType
    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class MemoryList(_Response):
    """A session's memory records (a list: SPEC section 7)."""

    memories: list[Memory]
    total: int
    next_token: str | None = None


class Stats(_Response):
    """Service-wide statistics over the sessions that exist, kept by the stream function."""

    total_sessions: int = 0
    active_sessions: int = 0
    total_messages: int = 0
    total_tokens: int = 0
    total_cost: Money = Decimal(0)
    average_messages_per_session: float = 0.0


class Health(_Response):
    """GET /health."""

    status: str = "healthy"
    service: str = "session_service"
    version: str
    timestamp: datetime


class HealthDetailed(_Response):
    """GET /health/detailed: ``operational`` when the table answers, else ``degraded`` (503)."""

    service: str = "session_service"
    status: str
    version: str
    database_connected: bool
    timestamp: datetime
