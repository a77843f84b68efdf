"""State documents: a session's and each of its agents' JSON state, changed by top-level key.

A document is a JSON object stored beside the session's hot item (never in it). A change names the keys to set
(a value replaces the stored one; ``null`` is stored as ``null``) and the keys to remove; it applies atomically.
Its limits come from DynamoDB: an update expression of at most 4 KB (so at most :data:`MAX_STATE_CHANGE_KEYS`
keys a change) and an item of at most 400 KB (so a document of at most :data:`MAX_STATE_BYTES`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from session_service.models.types import _plain_json, dump_json

MAX_STATE_CHANGE_KEYS = 100
"""Keys a change may set and remove together: each is a ``#name = :value`` of the UpdateExpression, which
DynamoDB caps at 4 KB."""
MAX_BATCH_AGENTS = 10
"""Agents a batch of messages may name (each agent's count is an item of the batch's transactions)."""
MAX_STATE_KEY_CHARS = 256
"""A top-level key's length (each key is an attribute of the document's item)."""
MAX_STATE_BYTES = 380 * 1024
"""A document's keys and values (as compact JSON text) fit one DynamoDB item (400 KB, an AWS limit) with the
item's own attributes; a change carrying more is refused at once, and a change that would grow a stored document
past DynamoDB's limit is refused by DynamoDB (nothing stored)."""
AGENT_ID_PATTERN = r"^[A-Za-z0-9_.@:-]{1,128}$"

AgentId = Annotated[
    str,
    Field(
        pattern=AGENT_ID_PATTERN,
        max_length=128,
        description="An agent of the session (letters, digits, _ . @ : -; at most 128)",
        examples=["planner"],
    ),
]
StateKey = Annotated[str, Field(min_length=1, max_length=MAX_STATE_KEY_CHARS)]


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = _plain_json(values, 1)
    if sum(len(dump_json(value).encode("utf-8")) + len(key.encode("utf-8")) for key, value in plain.items()) > (
        MAX_STATE_BYTES
    ):
        raise ValueError(f"must be at most {MAX_STATE_BYTES} bytes as JSON")
    return plain


class StateChange(BaseModel):
    """PATCH .../state (and .../agents/{agent_id}) body, and an append's ``state``: top-level keys to set (a
    value replaces the stored one; ``null`` is stored) and keys to remove, applied atomically (a key not named
    keeps its value; removing a key that is not there is no error)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    set: dict[StateKey, Any] = Field(default_factory=dict, description="Keys to set: any JSON value each")
    remove: list[StateKey] = Field(default_factory=list, description="Keys to remove")

    @field_validator("set")
    @classmethod
    def _json(cls, values: dict[str, Any]) -> dict[str, Any]:
        return _plain(values)

    @model_validator(mode="after")
    def _one_change_per_key(self) -> StateChange:
        if len(self.set) + len(self.remove) > MAX_STATE_CHANGE_KEYS:
            raise ValueError(f"a change names at most {MAX_STATE_CHANGE_KEYS} keys")
        if set(self.set) & set(self.remove) or len(set(self.remove)) != len(self.remove):
            raise ValueError("a key is named twice (set and remove, or removed twice)")
        return self


class AppendState(StateChange):
    """An append's ``state``: the change of the state document of the message's agent (or of the session when
    the message names none), stored in the append's transaction; with ``if_version``, only when the document is
    at that version (else 412 and nothing stored)."""

    if_version: int | None = Field(default=None, ge=0, description="The document's version read (0: absent)")


def _initial(values: dict[str, Any]) -> dict[str, Any]:
    if len(values) > MAX_STATE_CHANGE_KEYS:
        raise ValueError(f"a document is created with at most {MAX_STATE_CHANGE_KEYS} keys")
    return _plain(values)


InitialState = Annotated[
    dict[StateKey, Any],
    AfterValidator(_initial),
    Field(description="Top-level keys to set (a value replaces; null is stored), as a PATCH .../state's `set`"),
]
"""A create's keys of a state document: the rules of a change's ``set`` (at most :data:`MAX_STATE_CHANGE_KEYS`
keys, :data:`MAX_STATE_BYTES` as JSON)."""


class AgentCreate(BaseModel):
    """PUT .../agents/{agent_id} body: the new agent's state document (409 when the agent exists)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    state: dict[StateKey, Any] = Field(default_factory=dict, description="The agent's state document")

    @field_validator("state")
    @classmethod
    def _json(cls, values: dict[str, Any]) -> dict[str, Any]:
        if len(values) > MAX_STATE_CHANGE_KEYS:
            raise ValueError(f"a document is created with at most {MAX_STATE_CHANGE_KEYS} keys")
        return _plain(values)


class StateDocument(BaseModel):
    """A state document as the API returns it (with its ``ETag``: its version and the session's incarnation)."""

    model_config = ConfigDict(defer_build=True)

    session_id: str
    agent_id: str | None = Field(default=None, description="The agent; null for the session's own document")
    state: dict[str, Any] = Field(default_factory=dict)
    version: int = Field(description="Changes so far; 0 for a document never changed")
    message_count: int | None = Field(
        default=None, description="An agent's messages so far (the next one's position); null for the session's"
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    incarnation: Annotated[datetime | None, Field(exclude=True)] = None
    """The session's ``created_at`` (not shown: its ETag names it with the document's version)."""


class SharedStateDocument(BaseModel):
    """A user's state document of a namespace (``scope`` ``user``) or a namespace's (``namespace``), shared by the
    sessions of that user in that namespace, or of every user of the namespace (with its ``ETag``: its
    version). A namespace's is shared configuration, never a secret: any user may create a session in any
    namespace and read its document merged with that session; only a trusted caller changes it."""

    model_config = ConfigDict(defer_build=True)

    scope: str = Field(description="`user` or `namespace`")
    namespace: str | None = Field(default=None, description="The namespace; null: the sessions of none")
    user_id: str | None = Field(default=None, description="The user (a user's document); null for a namespace's")
    state: dict[str, Any] = Field(default_factory=dict)
    version: int = Field(description="Changes so far; 0 for a document never changed")
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MergedState(BaseModel):
    """A session's state document with its user's and its namespace's (a framework's session read with
    every scope of its state in one request)."""

    model_config = ConfigDict(defer_build=True)

    session: StateDocument
    user: SharedStateDocument
    namespace: SharedStateDocument | None = Field(
        default=None,
        description="The namespace's document (shared configuration: every user with a session in the namespace"
        " reads it; only a trusted caller writes it); null for a session in no namespace",
    )
