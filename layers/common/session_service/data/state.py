"""State documents' items: a session's (``STATE#SESSION``) and each agent's (``STATE#AGENT#<agent_id>``), beside
the session's hot item (keys: :mod:`session_service.data.keys`), their mapping to the model, and the two actions
that change one in a transaction.

A document's item holds each top-level key of the document as an attribute of its own, named
:data:`KEY_PREFIX` + the key, whose value is the key's value as compact JSON text (any JSON value, numbers
exact, ``null`` included), beside ``entity``, ``version`` (its changes), ``created_at`` (its first write: the
session's incarnation rule, every item of a session carries it) and ``updated_at``. So a change sets and removes
keys by name in one UpdateItem (``ExpressionAttributeNames`` carry any key), without reading the document, and
two writers changing different keys both land.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from session_service.data.actions import OLD_ON_FAILURE, Put
from session_service.data.dynamo import TransactionCanceled, serialize
from session_service.data.keys import (
    AGENT_STATE_PREFIX,
    iso,
    namespace_state_key,
    parse_iso,
    session_key,
    session_pk,
    state_key,
    state_sk,
    user_state_key,
)
from session_service.errors import AgentExists, AgentNotFound, PreconditionFailed, SessionNotActive, SessionNotFound
from session_service.models import SessionStatus, dump_json
from session_service.models.state import MergedState, SharedStateDocument, StateDocument

STATE_ENTITY = "state"
"""``entity`` of a state document's item (the stream function reads it as ``other``)."""
MESSAGE_COUNT = "message_count"
"""An agent's item: how many messages its conversation holds (the next one's position)."""
KEY_PREFIX = "k#"
"""Prefix of the attribute holding a document's key: no key can name one of the item's own attributes."""
UPDATE_BYTES = 1024
"""What a document's UpdateItem carries besides its keys: the item's own attributes, the expression's fixed part."""
KEY_UPDATE_BYTES = 32
"""What each key named adds to an UpdateItem besides its name and value: its placeholders in the expression."""


def change_size(sets: dict[str, Any], removes: list[str]) -> int:
    """An upper bound of the bytes an UpdateItem setting ``sets`` (key -> JSON value) and removing ``removes``
    carries in a transaction, whose request DynamoDB caps at 4 MB (an AWS limit): each key's attribute name and
    value as compact JSON text (UTF-8, as a document's size is measured: ``MAX_STATE_BYTES``) with its
    placeholders, and :data:`UPDATE_BYTES`."""
    size = UPDATE_BYTES
    for name, value in sets.items():
        size += len(f"{KEY_PREFIX}{name}".encode()) + len(dump_json(value).encode("utf-8")) + KEY_UPDATE_BYTES
    return size + sum(len(f"{KEY_PREFIX}{name}".encode()) + KEY_UPDATE_BYTES for name in removes)


def state_from_item(
    session_id: str, agent_id: str | None, item: dict[str, Any] | None, hot: dict[str, Any] | None = None
) -> StateDocument:
    """The document an item (plain values, or ``None``: never written, version 0) holds; ``hot``, the session's
    hot item, names the incarnation its ETag carries (none: a document not answered with its ETag)."""
    incarnation = parse_iso(str(hot["created_at"])) if hot is not None else None
    if item is None:
        return StateDocument(session_id=session_id, agent_id=agent_id, version=0, incarnation=incarnation)
    state = {name[len(KEY_PREFIX) :]: json.loads(value) for name, value in item.items() if name.startswith(KEY_PREFIX)}
    return StateDocument(
        session_id=session_id,
        agent_id=agent_id,
        state=state,
        version=int(item.get("version", 0)),
        message_count=int(item.get(MESSAGE_COUNT, 0)) if agent_id is not None else None,
        created_at=parse_iso(str(item["created_at"])),
        updated_at=parse_iso(str(item["updated_at"])),
        incarnation=incarnation,
    )


def shared_state_from_item(
    scope: str, namespace: str | None, user_id: str | None, item: dict[str, Any] | None
) -> SharedStateDocument:
    """A user's (``scope`` ``"user"``) or a namespace's (``"namespace"``) document an item holds (``None``: never
    written, version 0)."""
    if item is None:
        return SharedStateDocument(scope=scope, namespace=namespace, user_id=user_id, version=0)
    state = {name[len(KEY_PREFIX) :]: json.loads(value) for name, value in item.items() if name.startswith(KEY_PREFIX)}
    return SharedStateDocument(
        scope=scope,
        namespace=namespace,
        user_id=user_id,
        state=state,
        version=int(item.get("version", 0)),
        created_at=parse_iso(str(item["created_at"])),
        updated_at=parse_iso(str(item["updated_at"])),
    )


Pair = tuple[str, str]
"""An item's primary key as plain text (``PK``, ``SK``): how a BatchGetItem's answers are found by key."""


def pair(item_key: dict[str, Any]) -> Pair:
    """The plain (``PK``, ``SK``) of a primary key in DynamoDB JSON."""
    return str(item_key["PK"]["S"]), str(item_key["SK"]["S"])


def merged_keys(session_id: str, user_id: str, namespace: str | None) -> list[dict[str, Any]]:
    """The keys (DynamoDB JSON) of a session's merged state: its document, its user's document of its namespace,
    and the namespace's (none for a session in no namespace)."""
    return [
        state_key(session_id, None),
        user_state_key(user_id, namespace),
        *([namespace_state_key(namespace)] if namespace else []),
    ]


def merged_state(hot: dict[str, Any], found: dict[Pair, dict[str, Any]]) -> MergedState:
    """The merged state of the session ``hot`` (its hot item, plain values) from the items read at
    :func:`merged_keys` (by :func:`pair`; a key absent from ``found`` is a document never written). A session
    document an older incarnation of the session id left is not the session's (empty, version 0)."""
    session_id, user_id, namespace = str(hot["session_id"]), str(hot["user_id"]), hot.get("namespace")
    keys = [pair(item_key) for item_key in merged_keys(session_id, user_id, namespace)]
    item = found.get(keys[0])
    return MergedState(
        session=state_from_item(session_id, None, item if is_current(item, hot) else None, hot),
        user=shared_state_from_item("user", namespace, user_id, found.get(keys[1])),
        namespace=shared_state_from_item("namespace", namespace, None, found.get(keys[2])) if namespace else None,
    )


def new_session_document(session_id: str, created_at: datetime, state: dict[str, Any]) -> Put:
    """Put a new session's own document (version 1, ``state`` its keys) in the create's transaction, at the
    session's ``created_at``: over a document an older incarnation of the session id left (older; its keys are
    replaced, never merged), never over one of a session created since (the condition)."""
    at = iso(created_at)
    item = {
        "PK": session_pk(session_id),
        "SK": state_sk(None),
        "entity": STATE_ENTITY,
        "version": 1,
        "created_at": at,
        "updated_at": at,
        **{f"{KEY_PREFIX}{name}": dump_json(value) for name, value in state.items()},
    }
    return Put(item, "attribute_not_exists(PK) OR created_at < :created", {":created": at})


def agent_of(sort_key: str) -> str | None:
    """The agent an agent item's sort key names, or ``None``."""
    return sort_key[len(AGENT_STATE_PREFIX) :] if sort_key.startswith(AGENT_STATE_PREFIX) else None


def is_current(item: dict[str, Any] | None, hot: dict[str, Any]) -> bool:
    """True when a document's ``item`` belongs to the session ``hot`` (its hot item): not left by an older
    incarnation of the session id (expired or deleted, whose items wait for the stream's clean-up)."""
    return item is not None and str(item.get("created_at", "")) >= str(hot["created_at"])


@dataclass(frozen=True)
class SessionCheck:
    """A ConditionCheck of the session's hot item: live at ``now``, ``caller``'s, and active. The old item comes
    back when it fails. Nothing of the hot item is written (no version, no activity, no stream record)."""

    session_id: str
    caller: str
    now: datetime
    incarnation: datetime | None = None
    """The session's ``created_at`` the caller's ETag named (a conditional change), checked too when given."""

    def render(self, table: str) -> dict[str, Any]:
        condition = "attribute_exists(PK) AND user_id = :caller AND #status = :active AND expires_at > :epoch"
        values: dict[str, Any] = {":caller": self.caller, ":active": "active", ":epoch": int(self.now.timestamp())}
        if self.incarnation is not None:
            condition += " AND created_at = :incarnation"
            values[":incarnation"] = iso(self.incarnation)
        return {
            "ConditionCheck": {
                "TableName": table,
                "Key": session_key(self.session_id),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize(values),
                **OLD_ON_FAILURE,
            }
        }


@dataclass(frozen=True)
class StateUpdate:
    """One UpdateItem of a document's item at ``now``: ``SET`` each of ``sets`` (key -> JSON value), ``REMOVE``
    each of ``removes``, ``ADD version 1`` (unless ``changes`` is false: an agent's count alone moves); ``created_at``
    is kept once written. Conditions: ``if_version`` (the version the caller read; 0 means absent or never
    changed), ``exists`` (``True``: the item must exist, an agent's change; ``False``: it must not, a create;
    ``None``: either). With ``count_added``, an agent's ``message_count`` moves from ``count_from`` (the count
    read; the condition) by that many (the positions of the messages the same transaction stores). The old item
    comes back when a condition fails."""

    session_id: str
    agent_id: str | None
    now: datetime
    sets: dict[str, Any] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)
    if_version: int | None = None
    exists: bool | None = None
    count_from: int = 0
    count_added: int = 0
    changes: bool = True
    item_key: dict[str, Any] | None = None
    """Another document's key (DynamoDB JSON): a user's or a namespace's (``session_id`` and ``agent_id`` unused)."""

    def render(self, table: str) -> dict[str, Any]:
        names: dict[str, str] = {"#entity": "entity"}
        values: dict[str, Any] = {":now": iso(self.now), ":entity": STATE_ENTITY}
        assignments = ["#entity = :entity", "created_at = if_not_exists(created_at, :now)"]
        adds = []
        if self.changes:
            assignments.append("updated_at = :now")
            adds.append("version :one")
            values[":one"] = 1
        else:  # the document is not changed: its version and time stay (a new agent's start at 0 and now)
            assignments += ["updated_at = if_not_exists(updated_at, :now)", "version = if_not_exists(version, :zero)"]
            values[":zero"] = 0
        for number, (name, value) in enumerate(self.sets.items()):
            names[f"#s{number}"] = f"{KEY_PREFIX}{name}"
            values[f":s{number}"] = dump_json(value)
            assignments.append(f"#s{number} = :s{number}")
        names.update({f"#r{number}": f"{KEY_PREFIX}{name}" for number, name in enumerate(self.removes)})
        conditions = []
        if self.count_added:
            adds.append(f"{MESSAGE_COUNT} :added")
            values[":added"] = self.count_added
            if self.count_from:
                conditions.append(f"{MESSAGE_COUNT} = :count")
                values[":count"] = self.count_from
            else:
                conditions.append(f"attribute_not_exists({MESSAGE_COUNT})")
        expression = f"SET {', '.join(assignments)}"
        if adds:
            expression += f" ADD {', '.join(adds)}"
        if self.removes:
            expression += " REMOVE " + ", ".join(f"#r{number}" for number in range(len(self.removes)))
        if self.exists is True:
            conditions.append("attribute_exists(PK)")
        elif self.exists is False:
            conditions.append("attribute_not_exists(PK)")
        if self.if_version == 0:
            conditions.append("(attribute_not_exists(PK) OR version = :never)")
            values[":never"] = 0
        elif self.if_version is not None:
            conditions.append("version = :expected")
            values[":expected"] = self.if_version
        update: dict[str, Any] = {
            "TableName": table,
            "Key": self.item_key or state_key(self.session_id, self.agent_id),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
        }
        if conditions:
            update.update({"ConditionExpression": " AND ".join(conditions), **OLD_ON_FAILURE})
        return {"Update": update}


@dataclass(frozen=True)
class StaleStateDelete:
    """Delete a document's item an older incarnation of the session id left (its ``created_at`` older than the
    session's), conditioned on that ``created_at`` (a document written since by the current session is kept)."""

    session_id: str
    agent_id: str | None
    created_at: str

    def render(self, table: str) -> dict[str, Any]:
        return {
            "Delete": {
                "TableName": table,
                "Key": state_key(self.session_id, self.agent_id),
                "ConditionExpression": "created_at = :created",
                "ExpressionAttributeValues": serialize({":created": self.created_at}),
            }
        }


class CountMoved(Exception):
    """An agent's message count moved since it was read (a concurrent append of the agent): read it again."""


def state_failure(
    canceled: TransactionCanceled,
    update: StateUpdate,
    *,
    live: bool,
    hot_at: int,
    document_at: int,
    incarnation: datetime | None = None,
) -> Exception:
    """The domain error of a cancelled transaction holding a state ``update`` (at position ``document_at``) and the
    session's check or write (at ``hot_at``; ``live``: whether the hot item it returned is the caller's live
    session): the session's failure first (:class:`SessionNotFound`, :class:`SessionNotActive`), then the
    document's (:class:`AgentNotFound`, :class:`AgentExists`, :class:`PreconditionFailed`). ``incarnation``: the
    session's ``created_at`` the check named (an ETag of an older session of the id: :class:`PreconditionFailed`)."""
    if canceled.failed(hot_at):
        hot = canceled.item(hot_at)
        if not live:
            return SessionNotFound()
        if hot is None or hot.get("status") != SessionStatus.ACTIVE:
            return SessionNotActive()
        if incarnation is not None and hot.get("created_at") != iso(incarnation):  # an older session's ETag
            return PreconditionFailed("The session was created again: the ETag names an older one")
    document = canceled.item(document_at)
    if update.count_added and (document or {}).get(MESSAGE_COUNT, 0) != update.count_from:
        return CountMoved()
    if update.exists is True and document is None:
        return AgentNotFound()
    if update.exists is False and document is not None:
        return AgentExists()
    return PreconditionFailed("The state document was modified: its ETag does not match")
