"""Response shapes: what the API returns (money with every digit it has, see
:data:`~session_service.models.types.Money`), and a line of a user's export."""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from session_service.models.state import MergedState
from session_service.models.types import (
    EXACT_NUMBERS,
    NO_COST,
    ErasureStatus,
    ExportType,
    MemoryType,
    MessageRole,
    MessageStatus,
    MessageType,
    Money,
    SessionStatus,
    exact_json,
)


# defer_build: see session_service.models.requests.
class _Response(BaseModel):
    model_config = ConfigDict(defer_build=True)


LAST_MESSAGE_TIMESTAMP = (
    "The latest appended message's timestamp, else its server creation time (epoch seconds); null before any message"
)


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
    namespace: str | None = Field(default=None, description="The namespace the session was created in (fixed)")
    last_message_timestamp: float | None = Field(default=None, description=LAST_MESSAGE_TIMESTAMP)
    state: MergedState | None = Field(
        default=None,
        description="Its state in every scope (session, user, namespace): with ?include=state or a create carrying"
        " state; null otherwise",
    )
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
    namespace: str | None = Field(default=None, description="The namespace the session was created in (fixed)")
    last_message_timestamp: float | None = Field(default=None, description=LAST_MESSAGE_TIMESTAMP)
    state: MergedState | None = Field(
        default=None, description="Its state in every scope (its own user's document): with ?include=state only"
    )


class NamespaceSessionList(_Response):
    """A page of every user's sessions in a namespace (a trusted caller's listing), by user, each user's least
    recent activity first."""

    namespace: str
    sessions: list[SessionListItem]
    next_token: str | None = Field(default=None, description="The next page's cursor; null on the last page")


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
    data: Any = Field(default=None, description="The message's structured JSON as it was stored; null for none")
    agent_id: str | None = Field(default=None, description="The agent whose conversation holds it; null for none")
    position: int | None = Field(default=None, description="Its number in its agent's conversation, from 0")
    timestamp: float | None = Field(
        default=None, description="The client's time of the message (epoch seconds, microseconds); null for none"
    )


class DeleteResult(_Response):
    """A deletion's answer: how many messages it deleted."""

    deleted: int


class PopResult(_Response):
    """POST .../messages:pop answer: the messages removed, newest first."""

    messages: list[Message] = Field(description="The messages removed, newest first (as they were stored)")
    deleted: int = Field(description="How many were removed (fewer than asked when the session held fewer)")


class MessageList(_Response):
    """A page of a session's messages, oldest first (``order=asc``) or newest first (``order=desc``)."""

    messages: list[Message]
    total: int = Field(description="Messages in the session")
    page: int
    page_size: int
    next_token: str | None = None


class AgentMessageList(_Response):
    """A page of an agent's messages, in order of position."""

    messages: list[Message]
    next_offset: int | None = Field(default=None, description="The position to read next; null when no more")


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


def export_line(kind: ExportType, record: BaseModel) -> str:
    """One line of a user's export (NDJSON, without its newline): ``{"type": kind, ...}`` and the record's own
    fields as the API returns them (a Session, Message, Memory, SharedStateDocument or StateDocument), money with
    all of its digits; UTF-8 text, not ASCII escapes."""
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


class NamespaceUsage(_Response):
    """One row of :class:`Usage`'s ``by_namespace``: what the user's sessions of one ``namespace`` hold (``null``: the
    sessions created in none)."""

    namespace: str | None = None
    sessions: int = 0
    active_sessions: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Money = NO_COST


class NamespaceUserUsage(_Response):
    """One row of :class:`NamespaceUsageList`: what one user's sessions of the namespace hold."""

    user_id: str
    sessions: int = 0
    active_sessions: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Money = NO_COST


class NamespaceUsageList(_Response):
    """GET /api/v1/namespaces/{namespace}/usage (a trusted caller): a page of the namespace's usage by user, in user
    id order, each row what that user's existing sessions of the namespace hold (the same numbers as the user's own
    ``by_namespace`` row; kept by the stream function, seen shortly after a write). A user whose sessions of the
    namespace hold nothing any more, or whose data is being erased, has no row; a page may be shorter than asked.
    The namespace's totals are the sum of its pages."""

    namespace: str
    users: list[NamespaceUserUsage] = Field(default_factory=list)
    next_token: str | None = Field(default=None, description="Pass back as next_token for the next page")


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
    then by provider and model (``null`` after a name). ``by_namespace`` has a row per namespace the user's
    sessions were created in, and, when some were created in none, one row with ``namespace`` ``null`` (the
    totals minus the named rows), so the rows add up to the totals; it is empty while none of the user's sessions
    that hold anything is in a namespace; sorted by cost, highest first, then by namespace (``null`` last); a
    namespace whose sessions hold nothing any more has no row. The stream applies changes within seconds, so a
    write is seen here shortly after it is answered.
    """

    user_id: str
    sessions: int = 0
    active_sessions: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Money = NO_COST
    by_model: list[ModelUsage] = Field(default_factory=list)
    by_namespace: list[NamespaceUsage] = Field(default_factory=list)


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
