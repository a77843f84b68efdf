"""The shared reads of the operation families, and the Queries that several of them (and the stream) build.

* :func:`session_items` (and :func:`hot`, :func:`hot_and_summary`, :func:`read_session`): the caller's live
  session's items and the caller's counts, read together, so a session missing, another user's, expired, deleted,
  or of a user being erased is :class:`~session_service.errors.SessionNotFound` for every reader alike.
* :func:`find_message`, :func:`find_messages`, :func:`hot_and_message`: a message by id (by key: its time-ordered
  id, or its ``MID#`` item; LSI1 only for messages stored before ids were time-ordered), with the session's hot
  item.
* :func:`with_content`: a streamed reply's content so far (its chunks).

``clock`` is the operation's clock: liveness is judged at the time the read returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from session_service.data.dynamo import Table, deserialize, serialize
from session_service.data.items import is_live, is_streaming, message_values, session_from_items
from session_service.data.keys import (
    DATA_SK,
    GSI_ACTIVITY,
    LSI_MESSAGE_ID,
    MESSAGE_END,
    MESSAGE_ID_PREFIX,
    MESSAGE_PREFIX,
    SESSION_SK,
    SUMMARY_SK,
    TIMESTAMP_END,
    agent_message_key,
    chunk_range,
    key,
    memory_prefix,
    message_sk_of_id,
    message_start,
    session_pk,
    state_sk,
    timestamp_start,
    user_counts_key,
    user_pk,
)
from session_service.data.state import MESSAGE_COUNT, is_current
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


def messages_from_time_query(table: str, hot: dict[str, Any], micros: int, *, newest_first: bool) -> dict[str, Any]:
    """The Query (DynamoDB JSON) of the messages of the session ``hot`` describes whose client timestamp is
    ``micros`` microseconds or later, by timestamp, oldest or newest first: one Query of LSI1 (``TS#`` keys:
    :func:`~session_service.data.keys.timestamp_message_key`; all attributes, which DynamoDB fetches from the table
    in the same request), so its cost grows neither with the messages before that time nor with those without a
    timestamp. Readers drop the messages of older incarnations and in cuts (:func:`session_service.rules.shows`)."""
    values = {
        ":pk": session_pk(str(hot["session_id"])),
        ":first": timestamp_start(micros),
        ":last": TIMESTAMP_END,
    }
    return {
        "TableName": table,
        "IndexName": LSI_MESSAGE_ID,
        "KeyConditionExpression": f"PK = :pk AND {LSI_MESSAGE_ID}SK BETWEEN :first AND :last",
        "ExpressionAttributeValues": {name: _attribute(value) for name, value in values.items()},
        "Select": "ALL_ATTRIBUTES",
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


def agent_counts(
    table: Table, session_id: str, agents: Sequence[str], *, session_document: bool = False
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Each agent's message count (its item's ``message_count``; 0 for an agent without an item) and the documents
    read (the agents', and the session's own with ``session_document``) that an older incarnation of the session id
    left (its items not yet removed by the stream function: they count 0, the caller deletes them), read with the
    hot item in one consistent BatchGetItem (none when nothing is named)."""
    sort_keys = [state_sk(agent) for agent in agents] + ([state_sk(None)] if session_document else [])
    if not sort_keys:
        return {}, []
    found = table.batch_get([key(session_pk(session_id), sort_key) for sort_key in [SESSION_SK, *sort_keys]])
    by_sort_key = {str(item["SK"]): item for item in found}
    hot = by_sort_key.pop(SESSION_SK, None)
    stale = [item for item in by_sort_key.values() if hot is not None and not is_current(item, hot)]
    for item in stale:
        del by_sort_key[str(item["SK"])]
    return {agent: int(by_sort_key.get(state_sk(agent), {}).get(MESSAGE_COUNT, 0)) for agent in agents}, stale


def hot_and_agent_messages(
    table: Table, clock: Clock, session_id: str, caller: str, agent_id: str, first: int, last: int, limit: int
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """The caller's live session's hot item (:func:`hot`) and the messages of its agent ``agent_id`` at positions
    ``first`` to ``last`` (:func:`_agent_messages`, read alongside): two requests at once, whose cost grows neither
    with ``first`` nor with the other agents' messages. Raises :class:`SessionNotFound`."""
    messages = _READS.submit(_agent_messages, table, session_id, agent_id, first, last, limit)
    hot_item = hot(table, clock, session_id, caller)
    items, more = messages.result()
    return hot_item, items, more


def _agent_messages(
    table: Table, session_id: str, agent_id: str, first: int, last: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """The messages of the session's agent ``agent_id`` at positions ``first`` to ``last``, in order, at most
    ``limit`` (one consistent Query of LSI1 by position, all attributes: DynamoDB fetches from the table what the
    index does not hold, in the same request), as :func:`~session_service.data.items.message_values` gives them,
    and whether the agent has more past them (the Query stopped at ``limit``)."""
    request = {
        "IndexName": LSI_MESSAGE_ID,
        "KeyConditionExpression": f"PK = :pk AND {LSI_MESSAGE_ID}SK BETWEEN :first AND :last",
        "ExpressionAttributeValues": serialize(
            {
                ":pk": session_pk(session_id),
                ":first": agent_message_key(agent_id, first),
                ":last": agent_message_key(agent_id, last),
            }
        ),
        "Select": "ALL_ATTRIBUTES",
        "ConsistentRead": True,
    }
    response = table.query(request, Limit=limit)
    items = [message_values(deserialize(raw)) for raw in response.get("Items", [])]
    return items, "LastEvaluatedKey" in response


def user_erasing(table: Table, caller: str) -> bool:
    """True while the caller's data is being erased (the caller's counts, read consistently)."""
    return erasing(table.get(user_counts_key(caller), consistent=True))


def _lookup_keys(message_id: str) -> list[str]:
    """The sort keys that can find the message ``message_id`` (a normalized uuid) by key: the one its time-ordered
    id names (:func:`~session_service.data.keys.message_sk_of_id`), and its ``MID#`` reservation."""
    derived = message_sk_of_id(message_id)
    return [*([derived] if derived else []), f"{MESSAGE_ID_PREFIX}{message_id}"]


def _legacy_find(table: Table, session_id: str, message_id: str) -> list[dict[str, Any]]:
    """The messages of the session with the id ``message_id`` in LSI1 (one consistent Query; DynamoDB fetches the
    attributes the index does not hold from the table in the same request): messages the server named before its
    ids were time-ordered, the only ones found neither by key nor by a ``MID#`` item."""
    response = table.query(
        {
            "IndexName": LSI_MESSAGE_ID,
            "KeyConditionExpression": f"PK = :pk AND {LSI_MESSAGE_ID}SK = :id",
            "ExpressionAttributeValues": serialize({":pk": session_pk(session_id), ":id": message_id}),
            "Select": "ALL_ATTRIBUTES",
            "ConsistentRead": True,
        }
    )
    return [deserialize(raw) for raw in response.get("Items", [])]


def _resolve(
    table: Table,
    session_id: str,
    message_ids: Sequence[str],
    found: dict[str, dict[str, Any]],
    legacy: dict[str, Future[list[dict[str, Any]]]],
) -> dict[str, dict[str, Any] | None]:
    """Each id's message from what the first read ``found`` (items by sort key: the keys of :func:`_lookup_keys`)
    and the ``legacy`` Queries under way: the message its key names, else the one its ``MID#`` item names (read
    now, one BatchGetItem for all), else what LSI1 holds; of several (an older incarnation of the session id, taken
    over, may have used the id: its items wait for the stream's clean-up), the newest, as
    :func:`~session_service.data.items.message_values` gives it."""
    named = {
        mid: str(found[f"{MESSAGE_ID_PREFIX}{mid}"]["message_sk"])
        for mid in message_ids
        if f"{MESSAGE_ID_PREFIX}{mid}" in found
    }
    missing = sorted({sk for sk in named.values() if sk not in found})
    if missing:
        messages = table.batch_get([key(session_pk(session_id), sort_key) for sort_key in missing])
        found = {**found, **{str(item["SK"]): item for item in messages}}
    result: dict[str, dict[str, Any] | None] = {}
    for mid in message_ids:
        candidates = [found[sk] for sk in (*_lookup_keys(mid)[:-1], named.get(mid, "")) if sk in found]
        candidates += legacy[mid].result() if mid in legacy else []
        candidates = [c for c in candidates if str(c["SK"]).startswith(MESSAGE_PREFIX)]
        newest = max(candidates, key=lambda item: str(item.get("created_at", "")), default=None)
        result[mid] = message_values(newest) if newest is not None else None
    return result


def _normalized(message_ids: Sequence[str]) -> dict[str, str | None]:
    """Each id as a normalized uuid (message ids are uuids), or ``None`` when it is not one (no message has it)."""
    normal: dict[str, str | None] = {}
    for message_id in message_ids:
        try:
            normal[message_id] = str(uuid.UUID(message_id))
        except ValueError:
            normal[message_id] = None
    return normal


def find_messages(
    table: Table,
    session_id: str,
    message_ids: Sequence[str],
    read: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None,
) -> dict[str, dict[str, Any] | None]:
    """The messages of the session with these ids: id -> its message item (:func:`~session_service.data.items.
    message_values`) or ``None``, whoever owns the session (callers check).

    A message is found by key, not by an index: one consistent BatchGetItem of the sort key each time-ordered id
    names (a message the server named) and of each id's ``MID#`` item (a client-chosen id: it names the message's
    sort key, read next when one is found); while it runs, a Query of LSI1 for each id that is not time-ordered (a
    message named before ids were, :func:`_legacy_find`). ``read`` (sort keys -> the items found, by sort key) makes
    the first read instead, with what the caller reads with it (:func:`hot_and_message`)."""
    normal = _normalized(message_ids)
    ids = [mid for mid in dict.fromkeys(normal.values()) if mid is not None]
    legacy = {mid: _READS.submit(_legacy_find, table, session_id, mid) for mid in ids if not message_sk_of_id(mid)}
    sort_keys = [sk for mid in ids for sk in _lookup_keys(mid)]
    if read is None:
        keys = [key(session_pk(session_id), sk) for sk in sort_keys]
        found = {str(item["SK"]): item for item in table.batch_get(keys)} if keys else {}
    else:
        found = read(sort_keys)
    resolved = _resolve(table, session_id, ids, found, legacy)
    return {given: resolved[mid] if mid is not None else None for given, mid in normal.items()}


def find_message(table: Table, session_id: str, message_id: str) -> dict[str, Any] | None:
    """The message of the session with the id ``message_id`` (:func:`find_messages`), or ``None``."""
    return find_messages(table, session_id, [message_id])[message_id]


def hot_and_messages(
    table: Table, clock: Clock, session_id: str, caller: str, message_ids: Sequence[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any] | None]]:
    """The caller's live session's hot item (:func:`hot`) and its messages with these ids (:func:`find_messages`,
    id -> item or ``None``): the messages' keys are read in the hot item's BatchGetItem, so messages the server
    named cost that one request. Raises :class:`SessionNotFound`."""
    hot_item: dict[str, Any] = {}

    def read(sort_keys: list[str]) -> dict[str, dict[str, Any]]:
        found = session_items(table, clock, session_id, caller, SESSION_SK, *sort_keys)
        hot_item.update(found[SESSION_SK])
        return found

    return hot_item, find_messages(table, session_id, message_ids, read)


def hot_and_message(
    table: Table, clock: Clock, session_id: str, caller: str, message_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The caller's live session's hot item and its message ``message_id`` (:func:`hot_and_messages`, ``None``
    when there is none). Raises :class:`SessionNotFound`."""
    hot_item, found = hot_and_messages(table, clock, session_id, caller, [message_id])
    return hot_item, found[message_id]


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
