"""The service's types: enums and the status state machine, limits (SPEC section 4), field types, and JSON
in and out (exact decimals in, money with every digit out)."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import Counter
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    SerializationInfo,
    WithJsonSchema,
)


class SessionTag(NamedTuple):
    """What a session's ETag names: its ``version`` and its incarnation, the session's ``created_at`` (a session
    id created again after a permanent delete or expiry restarts at version 1: only the incarnation tells an
    older session's ETag from the new one's). A state document's ETag names the document's version and the
    session's incarnation."""

    version: int
    created_at: datetime


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
    DEVELOPER = "developer"
    """The OpenAI Responses convention's instructions from the developer."""
    TOOL = "tool"
    """A tool's output, as the OpenAI Chat and LangChain conventions name it."""


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


class MessageOrder(StrEnum):
    """Order of a message listing: ``asc`` oldest first (the default), ``desc`` newest first."""

    ASC = "asc"
    DESC = "desc"


class ExportType(StrEnum):
    """The ``type`` of a line of a user's export (SPEC section 9)."""

    SESSION = "session"
    MESSAGE = "message"
    MEMORY = "memory"
    USER_STATE = "user_state"
    SESSION_STATE = "session_state"


class ErasureStatus(StrEnum):
    """Where a user's erasure stands (SPEC section 9)."""

    ERASING = "erasing"
    ERASED = "erased"


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
"""Length limit of a message's ``provider`` and ``model`` (SPEC section 8)."""
MAX_MODELS_PER_SESSION = 16
"""Distinct (``provider``, ``model``) pairs a session's messages may name over its life: each is counted on the
session's hot item, which every append rewrites (and DynamoDB's 4 KB update expression bounds one write)."""
MAX_MESSAGE_TIMESTAMP = 10**11
"""A message's client ``timestamp`` is below this many epoch seconds (the year 5138): its microseconds fit the
fixed-width key that orders messages by it (:data:`~session_service.data.keys.TIMESTAMP_DIGITS`)."""
MAX_CHUNK_INDEX = 100_000
"""Highest chunk ``index`` of a streamed reply (its content stays within :data:`MAX_MESSAGE_BYTES`)."""
MAX_BATCH_MESSAGES = 98
"""TransactWriteItems takes 100 actions (an AWS limit); one is the session's counter update, one the
``Idempotency-Key``'s write guard."""
MAX_POP_MESSAGES = 49
"""Messages one pop removes: each message and its ``MID#`` reservation are two of TransactWriteItems' 100 actions
(an AWS limit); the session's update and the ``Idempotency-Key``'s write guard are the other two."""
MAX_BATCH_SESSIONS = 25
"""Sessions one batch creates or deletes (SPEC section 9; seed 003's batch operations): one transaction of at
most 2 items a session, the owners' counts and the write guard stays within TransactWriteItems' 100."""
DEFAULT_EXPORT_LINES = 1_000
MAX_EXPORT_LINES = 10_000
"""Lines of one page of a user's export (SPEC section 9: default 1,000, at most 10,000)."""

UserId = Annotated[str, Field(pattern=USER_ID_PATTERN, min_length=1, max_length=128, examples=["test_user_123"])]
Namespace = Annotated[
    str,
    Field(
        pattern=USER_ID_PATTERN,
        min_length=1,
        max_length=128,
        description="A namespace (an app, a project): letters, digits, _ . @ : -; at most 128",
        examples=["travel-app"],
    ),
]
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
MessageTimestamp = Annotated[
    float,
    Field(
        strict=True,
        ge=0,
        lt=MAX_MESSAGE_TIMESTAMP,
        allow_inf_nan=False,
        description="The client's time of the message: seconds since the epoch (microseconds kept)",
        examples=[1733360000.123456],
    ),
]
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


def _check_data(value: Any) -> Any:
    plain = _plain_json(value, 1)
    if len(dump_json(plain).encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise ValueError(f"must be at most {MAX_MESSAGE_BYTES} bytes as JSON")
    return plain


def data_bytes(value: Any) -> int:
    """UTF-8 size of a message's ``data`` as stored (its compact JSON text; 0 for none)."""
    return 0 if value is None else len(dump_json(value).encode("utf-8"))


MessageData = Annotated[
    Any,
    AfterValidator(_check_data),
    Field(
        description=(
            "Structured JSON beside or instead of content: any JSON value (object, array, string, number, "
            f"boolean), at most {MAX_JSON_DEPTH} levels deep; returned exactly as stored, null for none. content "
            f"and data's compact JSON count together against the {MAX_MESSAGE_BYTES}-byte limit"
        ),
        examples=[{"type": "function_call", "name": "get_weather", "arguments": '{"city": "Paris"}'}],
    ),
]
"""A message's structured ``data``: any JSON value, numbers as doubles (like :data:`JsonObject`), stored as its
compact JSON text (:func:`dump_json`)."""
TtlSeconds = Annotated[int, Field(strict=True, ge=60, le=365 * 24 * 3600, description="Idle lifetime, seconds")]
