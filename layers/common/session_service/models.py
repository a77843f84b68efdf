"""Pydantic models: the domain enums, request bodies (``extra="forbid"``) and response shapes.

Models never see DynamoDB keys; :mod:`session_service.repository` maps items to these models.
Limits come from SPEC section 4. Money is an exact :class:`~decimal.Decimal` inside and a JSON number on
the wire, written with every digit it has (see :data:`Money`); request bodies are read by
:func:`load_json`, which keeps the exact decimal text of every number.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import uuid
from collections import Counter
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

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


class MessageStatus(StrEnum):
    """Where a message stands (SPEC section 8): ``completed`` (the default), or a streamed reply
    ``in_progress`` (grown by chunks) until it is finalized as ``completed`` or ``incomplete``."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"


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
MAX_JSON_DEPTH = 32
"""Levels of nesting of a JSON field; the field's own object is level 1 (SPEC section 4)."""
MAX_TOKENS = 10**9
MAX_COST_USD = Decimal(10**6)
DEFAULT_CONTEXT_TOKENS = 4_000
MAX_CONTEXT_TOKENS = 1_000_000
DEFAULT_CONTEXT_MESSAGES = 50
MAX_CONTEXT_MESSAGES = 1_000
"""Context budget defaults and bounds (SPEC section 3)."""
MAX_COST_DECIMALS = 12
"""Per-token prices of current models have 8 or more decimals (SPEC section 3)."""
MAX_MODEL_FIELD_CHARS = 128
MAX_MODELS_PER_SESSION = 16
"""Distinct (``provider``, ``model``) pairs a session's messages may name over its life: each is counted on the
session's hot item, which every append rewrites (and DynamoDB's 4 KB update expression bounds one write)."""
"""Length limit of a message's ``provider`` and ``model`` (SPEC section 8)."""
MAX_CHUNK_INDEX = 100_000
"""Highest chunk ``index`` of a streamed reply (its content stays within :data:`MAX_MESSAGE_BYTES`)."""
MAX_BATCH_MESSAGES = 98
"""TransactWriteItems takes 100 actions (an AWS limit); one is the session's counter update, one the
``Idempotency-Key``'s write guard."""
MAX_BATCH_SESSIONS = 25
"""Sessions one batch creates or deletes (SPEC section 9; seed 003's batch operations): one transaction of at
most 2 items a session, the owners' counts and the write guard stays within TransactWriteItems' 100."""
DEFAULT_EXPORT_LINES = 1_000
MAX_EXPORT_LINES = 10_000
"""Lines of one page of a user's export (SPEC section 9: default 1,000, at most 10,000)."""

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


def _plain_json(value: Any, level: int) -> Any:
    """``value`` as plain JSON data: numbers read as ``Decimal`` become floats; ``level`` is its depth.

    Objects and arrays both count as a level. Raises ``ValueError`` past :data:`MAX_JSON_DEPTH`, for a
    number a double cannot hold (NaN, infinities, beyond 1.8e308) and for values JSON cannot carry.
    The recursion stops at the limit, so a deeper input costs nothing more.
    """
    if isinstance(value, dict | list) and level > MAX_JSON_DEPTH:
        raise ValueError(f"must be at most {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("object keys must be strings")
        return {key: _plain_json(item, level + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item, level + 1) for item in value]
    if isinstance(value, Decimal | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("numbers must be finite and within a double's range")
        return number
    if value is None or isinstance(value, str | int):
        return value
    raise ValueError("must be plain JSON")


def _check_json_object(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_JSON_OBJECT_KEYS:
        raise ValueError(f"must have at most {MAX_JSON_OBJECT_KEYS} top-level keys")
    plain = _plain_json(value, 1)
    if len(dump_json(plain).encode("utf-8")) > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"must be at most {MAX_JSON_OBJECT_BYTES} bytes as JSON")
    return plain  # type: ignore[no-any-return]


def dump_json(value: Any) -> str:
    """Compact, strict JSON (``allow_nan=False``): how ``metadata`` and ``conversation_data`` are stored."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        duplicate = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise ValueError(f"duplicate object key {duplicate[:64]!r}")
    return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(text: str) -> Any:
    """Parse a request body strictly: numbers with a fraction or exponent become exact ``Decimal``.

    ``Decimal`` keeps the digits as written, so ``1.0000000000000001`` stays what it is (and fails the
    12-decimal limit of a cost) instead of becoming the float ``1.0``; :data:`JsonObject` fields turn
    their numbers back into floats. Raises ``ValueError`` (``json.JSONDecodeError`` among them) for text
    that is not JSON, ``NaN``/``Infinity``, an object with a duplicate key, or an integer of more than
    4,300 digits (Python's limit); ``RecursionError`` for nesting beyond the interpreter's stack.
    """
    return json.loads(
        text, parse_float=Decimal, parse_constant=_refuse_constant, object_pairs_hook=_object_without_duplicates
    )


def _json_number(value: Any) -> Any:
    # A cost is a JSON number, as tokens_used is: "1" and true are not (pydantic's lax Decimal takes both).
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _canonical_money(value: Decimal) -> Decimal:
    # -0.0 is stored and echoed as 0; 1E+3 (the JSON 1e3) is written out as 1000. Runs after the range
    # check, so the exponent is small.
    if value.is_zero():
        return Decimal(0)
    exponent = value.as_tuple().exponent
    return value.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else value


EXACT_NUMBERS = "exact_numbers"
"""Serialization context key: when set (by the HTTP response path), :data:`Money` that a double cannot
hold is written as ``{<the key's value>: "<digits>"}``, a marker the response serializer replaces with
the bare digits (the response validation of :func:`session_service.http.make_resolver`)."""


def _money_to_json(value: Decimal, info: SerializationInfo) -> float | str | dict[str, str]:
    if value.is_zero():
        return 0.0  # the seed's "total_cost": 0.0, never -0.0
    number = float(value)
    if Decimal(repr(number)) == value:
        return number  # a double's shortest repr is these exact digits
    digits = format(value, "f")  # not normalize(): it rounds to 28 digits, a DynamoDB total may have 38
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    marker = (info.context or {}).get(EXACT_NUMBERS)
    # Outside an HTTP response (an idempotent result kept for replay, model_dump_json) the digits stay
    # exact as a string, which validates back to the same Decimal.
    return {marker: digits} if marker else digits


def exact_json(value: Any, marker: str, *, ensure_ascii: bool = True) -> str:
    """Compact JSON text of ``value`` (a model dumped with ``context={EXACT_NUMBERS: marker}``), each
    :data:`Money` marker replaced by its bare digits: money a double cannot hold stays a JSON number with all
    of its digits (SPEC section 3)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)
    return re.sub(r'\{"' + marker + r'":"(-?[0-9.]+)"\}', r"\1", text) if marker in text else text


JsonObject = Annotated[dict[str, Any], AfterValidator(_check_json_object)]
"""A JSON object field (``metadata``, ``conversation_data``): at most 50 top-level keys, 32 levels of
nesting and 32 KiB as JSON (SPEC section 4); its numbers are floats."""
Money = Annotated[
    Decimal,
    PlainSerializer(_money_to_json, when_used="json"),
    WithJsonSchema({"type": "number", "format": "decimal", "description": "USD"}, mode="serialization"),
]
"""USD, exact inside, a JSON number on the wire with all of its digits (SPEC section 3)."""
MoneyInput = Annotated[
    Decimal,
    Field(ge=0, le=MAX_COST_USD, decimal_places=MAX_COST_DECIMALS, allow_inf_nan=False),
    BeforeValidator(_json_number),
    AfterValidator(_canonical_money),
    WithJsonSchema(
        {
            "type": "number",
            "format": "decimal",
            "minimum": 0,
            "maximum": int(MAX_COST_USD),
            "description": f"USD, 0 to 10^6, at most {MAX_COST_DECIMALS} decimal places",
        },
        mode="validation",
    ),
]
NO_COST: Any = Field(default=Decimal(0), json_schema_extra={"default": 0.0})
"""A zero USD default, shown as the wire writes it (pydantic's schema would write the Decimal as "0")."""
Tokens = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS, description="Tokens used (integer)")]
Title = Annotated[str, Field(max_length=MAX_TITLE_CHARS)]
MessageContent = Annotated[str, Field(min_length=1), _utf8_limit(MAX_MESSAGE_BYTES)]
ChunkContent = Annotated[str, _utf8_limit(MAX_MESSAGE_BYTES)]
ModelField = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_MODEL_FIELD_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="At most 128 characters, no control characters",
        examples=["bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"],
    ),
]
MessageId = Annotated[
    str,
    Field(
        pattern=ITEM_ID_PATTERN,
        description="A UUID the client chooses (stored in its canonical lowercase form)",
        examples=["0b5e7c4e-3f7a-4f0e-9a53-2d7a7d2b6a10"],
    ),
    AfterValidator(lambda value: str(uuid.UUID(value))),
]
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
    """POST .../messages body (seed 002, and SPEC section 8's fields).

    ``message_id`` (optional, a UUID) makes the append idempotent by itself: the same id and body again
    answer the stored message, another body 409. A streamed reply starts ``in_progress``: its content may be
    empty and its ``tokens_used``/``cost_usd`` come with its finalization (so they must be 0 here).
    """

    status: MessageStatus = MessageStatus.COMPLETED
    role: MessageRole
    content: ChunkContent = Field(description="Required (non-empty) unless status is in_progress")
    message_type: MessageType = MessageType.CHAT
    metadata: JsonObject = Field(default_factory=dict)
    tokens_used: Tokens = 0
    cost_usd: MoneyInput = NO_COST
    message_id: MessageId | None = None
    provider: ModelField | None = None
    model: ModelField | None = None

    # ``status`` is declared first, so these validators see it (pydantic validates fields in order).
    @field_validator("content")
    @classmethod
    def _content_unless_streaming(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.data.get("status") is not MessageStatus.IN_PROGRESS:
            raise PydanticCustomError("string_too_short", "content must not be empty (unless status is in_progress)")
        return value

    @field_validator("tokens_used", "cost_usd")
    @classmethod
    def _counted_at_finalization(cls, value: Any, info: ValidationInfo) -> Any:
        if value and info.data.get("status") is MessageStatus.IN_PROGRESS:
            raise ValueError("an in_progress message gets tokens_used and cost_usd when it is finalized")
        return value


class MessageUpdate(_Request):
    """PATCH .../messages/{message_id} body: only the fields sent change (at least one).

    ``status`` finalizes a streamed reply (``completed`` or ``incomplete``, with its ``tokens_used`` and
    ``cost_usd``); on a finalized message the same status again, with the values stored, is a no-op.
    """

    content: MessageContent | None = None
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
        return self


class ChunkCreate(_Request):
    """POST .../messages/{message_id}/chunks body: the next piece of a streamed reply; ``index`` counts
    from 0 without gaps."""

    index: Annotated[int, Field(strict=True, ge=0, le=MAX_CHUNK_INDEX)]
    content: ChunkContent


class MessageBatchCreate(_Request):
    """POST .../messages:batch body: 1 to 98 messages stored all or nothing, in the order given."""

    messages: Annotated[list[MessageCreate], Field(min_length=1, max_length=MAX_BATCH_MESSAGES)]

    @field_validator("messages")
    @classmethod
    def _ids_are_distinct(cls, messages: list[MessageCreate]) -> list[MessageCreate]:
        chosen = [m.message_id for m in messages if m.message_id is not None]
        if len(set(chosen)) != len(chosen):
            raise ValueError("two messages of the batch have the same message_id")
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
    total_cost: Money = NO_COST
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


class SessionDeletedResult(_Response):
    """DELETE ``?permanent=true`` answer (SPEC section 9)."""

    message: str = "Session deleted permanently"


class SessionBatchResult(_Response):
    """POST /api/v1/sessions:batch answer: the sessions created, in the order of the request."""

    sessions: list[Session]


class SessionBatchDeleteResult(_Response):
    """POST /api/v1/sessions:batchDelete answer."""

    deleted: int = Field(description="Sessions deleted for good (all that were named)")


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
    status: MessageStatus = MessageStatus.COMPLETED
    provider: str | None = None
    model: str | None = None


class DeleteResult(_Response):
    """A deletion's answer: how many messages it deleted."""

    deleted: int


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


class ExportType(StrEnum):
    """The ``type`` of a line of a user's export (SPEC section 9)."""

    SESSION = "session"
    MESSAGE = "message"
    MEMORY = "memory"


def export_line(kind: ExportType, record: Session | Message | Memory) -> str:
    """One line of a user's export (NDJSON, without its newline): ``{"type": kind, ...}`` and the record's own
    fields as the API returns them, money with all of its digits; UTF-8 text, not ASCII escapes."""
    marker = secrets.token_hex(16)
    fields = record.model_dump(mode="json", context={EXACT_NUMBERS: marker})
    return exact_json({"type": kind.value, **fields}, marker, ensure_ascii=False)


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
    total_cost: Money = NO_COST
    average_messages_per_session: float = 0.0


class ModelUsage(_Response):
    """One row of :class:`Usage`: what the user's messages of one ``provider`` and ``model`` hold (either may be
    ``null``; the row with both ``null`` holds the messages that name neither)."""

    provider: str | None = None
    model: str | None = None
    messages: int = 0
    tokens: int = 0
    cost: Money = NO_COST


class Usage(_Response):
    """GET /api/v1/users/{user_id}/usage (SPEC section 9): what the user's sessions that exist hold, kept by the
    stream function exactly once.

    A product decision: usage is what the user's *existing* sessions hold, exactly as :class:`Stats` is for the
    whole service, so the usages of all users add up to the statistics. A session that expires (TTL) or is
    deleted for good leaves its owner's usage with it; a message deleted or truncated leaves it too, and an
    edit of a message's tokens, cost, provider or model moves its share. ``sessions`` counts the user's
    sessions, ``active_sessions`` those ``active``, ``messages`` their messages (a streamed reply from its
    creation), ``tokens`` and ``cost`` (USD, exact) what they used. ``by_model`` has a row per (``provider``,
    ``model``) the messages name, and, when some messages name neither, one row with both ``null`` (the
    totals minus the named rows), so the rows add up to the totals; rows are sorted by cost, highest first,
    then by provider and model (``null`` after a name). The stream applies changes within seconds, so a write
    is seen here shortly after it is answered.
    """

    user_id: str
    sessions: int = 0
    active_sessions: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Money = NO_COST
    by_model: list[ModelUsage] = Field(default_factory=list)


class ErasureStatus(StrEnum):
    """Where a user's erasure stands (SPEC section 9)."""

    ERASING = "erasing"
    ERASED = "erased"


class ErasureAccepted(_Response):
    """DELETE /users/{user_id}: 202, the erasure runs in the background (``status`` erasing)."""

    status: ErasureStatus = ErasureStatus.ERASING


class Erasure(_Response):
    """GET /users/{user_id}/erasure: the progress of the user's latest erasure.

    ``status`` is ``erasing`` until nothing of the user is left in the table but this record, then ``erased``;
    ``items_deleted`` counts the items the stream function deleted for it so far (sessions' items, counts,
    usage, idempotency records). The record expires 30 days after the erasure finished (SPEC section 9).
    """

    user_id: str
    status: ErasureStatus
    items_deleted: int = 0


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
