"""The shared reads of the operation families, and the Queries that several of them (and the stream) build.

* :func:`session_items` (and :func:`hot`, :func:`hot_and_summary`, :func:`read_session`): the caller's live
  session's items and the caller's counts, read together, so a session missing, another user's, expired, deleted,
  or of a user being erased is :class:`~session_service.errors.SessionNotFound` for every reader alike.
* :func:`find_message`, :func:`hot_and_message`: a message by id (LSI1), with the session's hot item.
* :func:`with_content`: a streamed reply's content so far (its chunks).

``clock`` is the operation's clock: liveness is judged at the time the read returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any

from session_service.data.dynamo import Table, deserialize, serialize
from session_service.data.items import is_live, is_streaming, session_from_items
from session_service.data.keys import (
    DATA_SK,
    GSI_ACTIVITY,
    LSI_MESSAGE_ID,
    MESSAGE_END,
    SESSION_SK,
    SUMMARY_SK,
    chunk_range,
    key,
    memory_prefix,
    message_start,
    session_pk,
    user_counts_key,
    user_pk,
)
from session_service.data.stats import erasing
from session_service.errors import SessionNotFound
from session_service.models import MemoryType, Session

_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reads")
"""Runs a read alongside another (botocore clients are thread-safe)."""

Clock = Callable[[], datetime]


def user_sessions_query(table: str, user_id: str) -> dict[str, Any]:
    """The Query (DynamoDB JSON) of every one of a user's sessions in GSI1 (keys only: ``PK``, ``SK``, the index
    keys), in no order the caller may rely on (the index's sort key, activity, moves)."""
    return {
        "TableName": table,
        "IndexName": GSI_ACTIVITY,
        "KeyConditionExpression": f"{GSI_ACTIVITY}PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": user_pk(user_id)}},
    }


def messages_query(table: str, hot: dict[str, Any], *, newest_first: bool, first: str | None = None) -> dict[str, Any]:
    """The Query (DynamoDB JSON) of the messages of the session ``hot`` (its hot item, plain values)
    describes, oldest or newest first, from sort key ``first`` on: its incarnation's messages (an expired
    earlier session that reused the id has older ones). Messages in a cut are not filtered here (a Query's
    filter may not name the sort key, DynamoDB's rule): readers drop them with :func:`session_service.rules.visible`."""
    values: dict[str, Any] = {
        ":pk": session_pk(str(hot["session_id"])),
        ":first": max(first or "", message_start(str(hot["created_at"]))),
        ":last": MESSAGE_END,
    }
    return {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
        "ExpressionAttributeValues": {name: _attribute(value) for name, value in values.items()},
        "ScanIndexForward": not newest_first,
        "ConsistentRead": True,
    }


def _attribute(text: str) -> dict[str, str]:
    return {"S": text}


def session_items(
    table: Table, clock: Clock, session_id: str, caller: str, *sort_keys: str
) -> dict[str, dict[str, Any]]:
    """The caller's live session's items with these sort keys (the hot item's first), by sort key, read with the
    caller's counts (consistent). Raises :class:`SessionNotFound` when the session is missing, another user's,
    expired or deleted, or while the caller's data is being erased (SPEC section 9: gone for every reader from
    the moment the erasure was accepted)."""
    keys = [key(session_pk(session_id), sort_key) for sort_key in sort_keys]
    found = table.batch_get([*keys, user_counts_key(caller)])
    counts = next((item for item in found if item["PK"] == user_pk(caller)), None)
    by_sort_key = {str(item["SK"]): item for item in found if item["PK"] == session_pk(session_id)}
    if not is_live(by_sort_key.get(sort_keys[0]), caller, int(clock().timestamp())) or erasing(counts):
        raise SessionNotFound()
    return by_sort_key


def hot(table: Table, clock: Clock, session_id: str, caller: str) -> dict[str, Any]:
    """The caller's live session's hot item (:func:`session_items`). Raises :class:`SessionNotFound`."""
    return session_items(table, clock, session_id, caller, SESSION_SK)[SESSION_SK]


def hot_and_summary(
    table: Table, clock: Clock, session_id: str, caller: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The hot and summary items of the caller's live session (:func:`session_items`)."""
    found = session_items(table, clock, session_id, caller, SESSION_SK, SUMMARY_SK)
    return found[SESSION_SK], found.get(SUMMARY_SK)


def read_session(table: Table, clock: Clock, session_id: str, caller: str) -> Session:
    """The caller's live session: its hot, data and summary items (:func:`session_items`)."""
    found = session_items(table, clock, session_id, caller, SESSION_SK, DATA_SK, SUMMARY_SK)
    return session_from_items(found[SESSION_SK], found.get(DATA_SK), found.get(SUMMARY_SK))


def session_parts(table: Table, session_id: str) -> dict[str, dict[str, Any]]:
    """A session's hot, data and summary items by sort key (one consistent Query), whoever owns them."""
    response = table.query(
        {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
            "ExpressionAttributeValues": serialize({":pk": session_pk(session_id), ":sk": SESSION_SK}),
            "ConsistentRead": True,
        }
    )
    return {item["SK"]: item for item in map(deserialize, response.get("Items", []))}


def user_erasing(table: Table, caller: str) -> bool:
    """True while the caller's data is being erased (the caller's counts, read consistently)."""
    return erasing(table.get(user_counts_key(caller), consistent=True))


def find_message(table: Table, session_id: str, message_id: str) -> dict[str, Any] | None:
    """A message item by id, in one consistent Query of LSI1 (DynamoDB fetches the attributes the index does not
    hold from the table in the same request); ``None`` when there is none. Of several (an older incarnation of the
    id, taken over, may have used the id: its items wait for the stream's clean-up), the newest: the caller tells
    whether it is the current incarnation's (:func:`~session_service.rules.shows`)."""
    try:
        message_id = str(uuid.UUID(message_id))
    except ValueError:
        return None
    response = table.query(
        {
            "IndexName": LSI_MESSAGE_ID,
            "KeyConditionExpression": f"PK = :pk AND {LSI_MESSAGE_ID}SK = :id",
            "ExpressionAttributeValues": serialize({":pk": session_pk(session_id), ":id": message_id}),
            "Select": "ALL_ATTRIBUTES",
            "ConsistentRead": True,
        }
    )
    found = [deserialize(raw) for raw in response.get("Items", [])]
    return max(found, key=lambda item: str(item.get("created_at", ""))) if found else None


def find_messages(table: Table, session_id: str, message_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """:func:`find_message` of each id, concurrently: id -> its message item or ``None``."""
    return dict(zip(message_ids, _READS.map(partial(find_message, table, session_id), message_ids), strict=True))


def hot_and_message(
    table: Table, clock: Clock, session_id: str, caller: str, message_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The caller's live session's hot item (:func:`hot`) and its message ``message_id`` (:func:`find_message`,
    ``None`` when there is none), read concurrently. Raises :class:`SessionNotFound`."""
    found = _READS.submit(find_message, table, session_id, message_id)  # both reads in one round trip's time
    hot_item = hot(table, clock, session_id, caller)
    return hot_item, found.result()


def with_content(table: Table, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with its content so far: a reply still streaming adds its chunks (one Query of its chunk
    range); any other message is returned as it is."""
    if not is_streaming(message) or not int(message.get("chunks", 0)):
        return message
    first, last = chunk_range(str(message["SK"]))
    chunks = table.query_all(
        {
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": serialize({":pk": message["PK"], ":first": first, ":last": last}),
            "ProjectionExpression": "content",
            "ConsistentRead": True,
        }
    )
    return {**message, "content": str(message["content"]) + "".join(str(c["content"]) for c in chunks)}


def memories_query(session_id: str, memory_type: MemoryType | None, incarnation: str) -> dict[str, Any]:
    """The Query (DynamoDB JSON, for :class:`~session_service.data.dynamo.Table`) of a session's memory records of
    one type (or of all), by type then oldest first: those of its incarnation ``incarnation`` (records of an
    expired earlier session that reused the id wait for the stream's clean-up)."""
    return {
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "FilterExpression": "created_at >= :incarnation",
        "ExpressionAttributeValues": serialize(
            {":pk": session_pk(session_id), ":prefix": memory_prefix(memory_type), ":incarnation": incarnation}
        ),
        "ConsistentRead": True,
    }
