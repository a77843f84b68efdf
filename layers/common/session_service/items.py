"""The single table's items: every key format, attribute name and item <-> model mapping lives here.

Key design (one table, generic key names; every entity owns its key format). A session is three items in
its own partition: a small *hot* item that every append updates (owner, status, times, counters, version,
title), a *data* item with ``metadata`` and ``conversation_data`` that only a PUT rewrites, and a *summary*
item that only the stream function writes. An append never rewrites what it does not change, so its cost
does not grow with what the session holds.

=====================  ==============================  ======================================  ==================
entity                 PK                              SK                                      GSIs
=====================  ==============================  ======================================  ==================
session (hot)          ``SESSION#<session_id>``        ``SESSION``                             GSI1, GSI2
session data           ``SESSION#<session_id>``        ``SESSION#DATA``                        -
session summary        ``SESSION#<session_id>``        ``SESSION#SUMMARY``                     -
message                ``SESSION#<session_id>``        ``MSG#<created_at>#<message_id>``       LSI1
streamed reply chunk   ``SESSION#<session_id>``        ``CHK#<created_at>#<message_id>#<index>``  -
client message id      ``SESSION#<session_id>``        ``MID#<message_id>``                    -
memory record          ``SESSION#<session_id>``        ``MEM#<memory_type>#<created_at>#<id>``  -
per-user counts        ``USER#<user_id>``              ``COUNTS``                              -
per-user usage         ``USER#<user_id>``              ``USAGE``                               -
per-user model usage   ``USER#<user_id>``              ``MODEL#<sha256 of the pair, 32 hex>``  -
service statistics     ``STATS``                       ``GLOBAL``                              -
stream applied mark    ``STREAM#SESSION#<id>``         ``APPLIED``                             -
erasure's progress     ``ERASURE#<user_id>``           ``PROGRESS``                            -
idempotency record     ``IDEMPOTENCY#<user_id>``       ``<function>#<hash>`` (Powertools)      -
keyed write's guard    ``IDEMPOTENCY#<user_id>``       ``WRITE#<hash of operation and key>``   -
=====================  ==============================  ======================================  ==================

Both GSIs project keys only and are keyed by the owner: GSI1 (``GSI1PK = USER#<user_id>``, ``GSI1SK =
<last_activity>``) lists a user's sessions by recent activity, GSI2 (``GSI2SK = <status>#<last_activity>``)
the sessions of one status (``active_only`` is ``begins_with(GSI2SK, "active#")``). Appends do not move
them: the stream function moves both sort keys to the session's ``last_activity`` (:func:`index_keys`) once
it is :data:`INDEX_GRAIN_SECONDS` past them, so an append writes no index and a busy session moves its keys
once a minute, not once per append. A listing reads its rows (hot items) and the user's counts with one
BatchGetItem and orders the page's rows by their exact ``last_activity``: exact within a page, to the minute
across pages.

A message is found by its id with one consistent Query of LSI1 (``LSI1SK = <message_id>``, keys only;
DynamoDB fetches the item's other attributes from the table in the same request). A streamed reply's
chunks are items of their own (``CHK#<created_at>#<message_id>#<index>``: they sort like their messages,
outside the range message Queries read); finalizing the reply writes their text into the message. A
``message_id`` the client chose is reserved by a ``MID#`` item written in the append's transaction, and
checked first against the session's messages (LSI1): the id is unique in the session, and an append
repeated with it writes nothing.

Deleting messages *cuts* key ranges: the transaction that adjusts the counters records the range in the hot
item's ``cuts`` map (a range of message sort keys, which also names their chunks: :func:`cut_ranges`),
readers drop the messages in it from that moment (:func:`visible`), and the stream
function deletes its items in the background and removes the cut. ``cut_through`` (the highest cut bound
ever) keeps an append from landing inside a cut; ``cut_count`` changes with every truncation, so a change of
one message conditioned on it cannot apply to a message a truncation already removed.

Every item of a session carries ``created_at``, its *incarnation*: an expired session's id may be created
again, and the new session ignores (and the stream function deletes) every item older than itself.

A permanent delete writes no delete: it turns the hot item into a *tombstone* (:data:`DELETED_STATUS`,
``expires_at`` = the delete's second, out of both GSIs, no cuts) and moves the owner's counts, in one
transaction. Every reader treats an expired session as gone, so it is gone at once; a create takes the id
over as it takes over any expired one. The stream function then deletes the partition's items of that
incarnation (created before :func:`tombstone_bound`) and, last, the tombstone itself.

Erasing a user writes two items: the erasure's progress record and :data:`ERASING` on the user's counts item.
Every reader of a user's data reads that counts item with what it reads (one BatchGetItem), so the user's data
is gone for readers at once, whatever its amount; a create's ADD to the counts is conditioned on it. The stream
function then turns the user's sessions into tombstones (marked :data:`ERASED_BY`) and cleans them up as any
permanent delete, and deletes the user's partition and idempotency records last
(:mod:`session_service.erasure`).

Access patterns (requests made by :mod:`session_service.repository` and :mod:`session_service.stream`):

=====================================  ==============================================================
pattern                                request
=====================================  ==============================================================
create / ensure a session              TransactWriteItems: Put hot (``attribute_not_exists``), Put data,
                                       ADD user counts; on an expired id, the same conditioned on it
get a session                          BatchGetItem hot, data, summary and the owner's counts (consistent)
summary                                BatchGetItem hot + summary + the owner's counts
update / end a session                 TransactWriteItems: Update hot (owner, live, status, version),
                                       [Update data], [ADD user counts]; then get
delete permanently (one or a batch)    BatchGetItem hot + TransactWriteItems: Update hot into a tombstone
                                       (owner, live, status, incarnation) + ADD user counts
list a user's sessions                 Query GSI1 or GSI2 (keys only) + BatchGetItem rows and counts
append messages                        TransactWriteItems: Put messages [+ Put MID#] + Update hot (ADD)
list messages (asc or desc)            BatchGetItem hot + counts, Query ``SK BETWEEN MSG#<created_at> AND MSG#~``
                                       (messages in cuts dropped) [+ Query a streaming reply's chunks]
context                                BatchGetItem hot + summary + counts, Query messages newest first
one message by id                      BatchGetItem hot + counts, Query LSI1 ``LSI1SK = <message_id>``
                                       (concurrent)
change / delete one message            the above + TransactWriteItems: message (``version``) + hot (ADD)
delete the messages after one          the above + Query the tail (sums) + Update hot (ADD, SET cut)
chunk of a streamed reply              Query LSI1 + TransactWriteItems: Put chunk, Update message, hot
add / list memory records              TransactWriteItems / BatchGetItem hot + counts, Query
                                       ``begins_with MEM#[type#]``
erase a user                           TransactWriteItems: Put progress (none running), SET the counts'
                                       :data:`ERASING`
erasure's progress                     GetItem ``ERASURE#<user_id>``
statistics                             GetItem ``STATS``
usage of a user                        Query ``USER#<user_id>`` (usage, per-model usage, counts)
stream: counts, marks, summaries       BatchGetItem marks, summaries, erasures + TransactWriteItems (ADD
                                       STATS, COUNTS, USAGE, MODEL#; SET marks; Put summaries)
stream: index keys                     UpdateItem hot (``last_activity`` unchanged since the image)
stream: summary                        Query newest messages (while the marks are read) + a Put above
stream: a removed session's content    Query the partition (keys, ``created_at``) + BatchWriteItem deletes
                                       [+ DeleteItem of a tombstone (its incarnation, still a tombstone)]
stream: a cut                          Query its chunks' and messages' ranges (keys) + BatchWriteItem
                                       deletes + UpdateItem hot (REMOVE the cut)
stream: a tombstone removed            GetItem its mark + TransactWriteItems: Delete the mark (that
                                       incarnation's) [+ ADD the erasure's progress]
stream: an erasure's pass              GetItem progress + Query GSI1 (keys) + BatchGetItem hot items +
                                       TransactWriteItems (tombstones, counts, progress); at the end Query +
                                       BatchWriteItem the ``USER#`` and ``IDEMPOTENCY#`` partitions + Update
                                       progress
=====================================  ==============================================================

Usage by model: a session's hot item holds, beside its totals, three flat number attributes per
(``provider``, ``model``) its messages name (:func:`usage_attribute`: messages, tokens, cost), moved by the
same ``ADD`` as the totals (DynamoDB's ``ADD`` works on top-level attributes only, and an append writes without
reading, so a nested map could not be created). Messages naming neither provider nor model add none: they are
the totals minus the named rows. A session names at most ``MAX_MODELS_PER_SESSION`` pairs (its :data:`MODELS` set,
checked in the same update). The stream function adds each session's totals to the owner's usage item
(``USER#<user_id>``/``USAGE``) and each model's share to the owner's item of that model (:func:`model_usage_key`),
so a user's usage is what the user's sessions hold, as ``STATS`` is for the whole service.

Times are ISO 8601 UTC strings with microseconds and ``Z`` (so they sort as text); ``expires_at`` is epoch
seconds (the table's TTL attribute, on hot items only); money is a DynamoDB number (exact decimal).
``metadata`` and ``conversation_data`` are stored as JSON text, so any JSON value round-trips exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from session_service.dynamo import serialize
from session_service.models import (
    MAX_CHUNK_INDEX,
    Memory,
    MemoryCreate,
    MemoryType,
    Message,
    MessageCreate,
    MessageStatus,
    Session,
    SessionCreate,
    SessionListItem,
    SessionStatus,
    dump_json,
)

SESSION_SK = "SESSION"
DATA_SK = "SESSION#DATA"
SUMMARY_SK = "SESSION#SUMMARY"
MESSAGE_PREFIX = "MSG#"
MESSAGE_END = "MSG#~"
"""Above every message sort key ("~" sorts after the digits of a time)."""
MESSAGE_ID_PREFIX = "MID#"
CHUNK_PREFIX = "CHK#"
LSI_MESSAGE_ID = "LSI1"
"""A session's messages by id (keys only; the sort key ``LSI1SK`` is the message id)."""
CHUNK_DIGITS = 6
"""A chunk's index is written with this many digits, so chunks sort in order (``MAX_CHUNK_INDEX``)."""
MAX_PENDING_CUTS = 20
"""Cut ranges a session may hold at once while the stream function deletes them (each is a filter term)."""
MEMORY_PREFIX = "MEM#"
COUNTS_SK = "COUNTS"
USAGE_SK = "USAGE"
MODEL_USAGE_PREFIX = "MODEL#"
"""Sort-key prefix of a user's per-model usage item: ``MODEL#<hash of the pair>`` (:func:`model_usage_key`)."""
MODELS = "models"
"""The hot item's string set of the (provider, model) pairs its messages named (the JSON of each pair), kept
for the cap :data:`~session_service.models.MAX_MODELS_PER_SESSION`."""
USAGE_PREFIX = "by:"
"""Names of the per-model usage attributes begin with it (:func:`usage_attribute`)."""
USAGE_FIELDS = {"m": "messages", "t": "tokens", "c": "cost"}
"""Suffix of a per-model usage attribute -> the field it counts (cost in USD, exact)."""
STATS_KEY = {"PK": {"S": "STATS"}, "SK": {"S": "GLOBAL"}}
MARK_PREFIX = "STREAM#SESSION#"
MARK_SK = "APPLIED"
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
GUARD_PREFIX = "WRITE#"
GSI_ACTIVITY = "GSI1"
"""A user's sessions by recent activity (keys only)."""
GSI_STATUS = "GSI2"
"""A user's sessions of one status by recent activity (keys only)."""
INDEX_GRAIN_SECONDS = 60
"""The stream function moves a session's GSI sort keys once its activity is this far past them: the indexes
order sessions by activity to the minute, and a listing page orders its rows by their exact
``last_activity`` (read with the rows)."""
ENTITY = "entity"
"""Attribute naming an item's kind (the values below); the stream function reads it from images."""
SESSION_ENTITY = "session"
DATA_ENTITY = "session_data"
SUMMARY_ENTITY = "session_summary"
MESSAGE_ENTITY = "message"
MEMORY_ENTITY = "memory"
CHUNK_ENTITY = "message_chunk"
MESSAGE_ID_ENTITY = "message_id"
MARK_ENTITY = "stream_mark"
GUARD_ENTITY = "write_guard"
ERASURE_PREFIX = "ERASURE#"
ERASURE_SK = "PROGRESS"
ERASURE_ENTITY = "erasure"
ERASING = "erasing_since"
"""The user's counts item carries this (the erasure's start, ISO) while the user's data is being erased: every
reader of the user's data reads the counts with it and answers as if nothing existed."""
ERASED_BY = "by_erasure"
"""Set on a tombstone an erasure made: its stream clean-up counts the session in the erasure's progress."""
ERASURE_RETENTION_SECONDS = 30 * 24 * 3600
"""An erasure's progress record expires (TTL) this long after the erasure finished (SPEC section 9)."""
DELETED_STATUS = "deleted"
"""The ``status`` of a permanently deleted session's hot item (a tombstone, :func:`tombstone_update`): internal,
never a :class:`~session_service.models.SessionStatus`, never in an index, never answered (it is expired)."""


# -- times --------------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """``2025-10-03T09:53:09.821305Z``: fixed width, so ISO strings sort like the times they name."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# -- keys ---------------------------------------------------------------------------------------------


def session_pk(session_id: str) -> str:
    """Partition key of a session and of everything it holds."""
    return f"SESSION#{session_id}"


def session_id_of(partition_key: str) -> str | None:
    """The session id a partition key names (inverse of :func:`session_pk`), or ``None``."""
    prefix = session_pk("")
    return partition_key[len(prefix) :] or None if partition_key.startswith(prefix) else None


def key(partition: str, sort: str) -> dict[str, Any]:
    """A primary key in DynamoDB JSON."""
    return {"PK": {"S": partition}, "SK": {"S": sort}}


def session_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's hot item."""
    return key(session_pk(session_id), SESSION_SK)


def data_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's data item (``metadata``, ``conversation_data``)."""
    return key(session_pk(session_id), DATA_SK)


def summary_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's summary item."""
    return key(session_pk(session_id), SUMMARY_SK)


def user_pk(user_id: str) -> str:
    """Partition key of a user's counts and the GSI1/GSI2 partition of the user's sessions."""
    return f"USER#{user_id}"


def user_counts_key(user_id: str) -> dict[str, Any]:
    """Primary key of a user's counts item (:func:`count_attribute`)."""
    return key(user_pk(user_id), COUNTS_SK)


def count_attribute(status: SessionStatus | None) -> str:
    """The user's counts attribute of sessions in ``status`` (``None``: all sessions)."""
    return f"status_{status.value}" if status else "sessions"


def counts_lost(hots: Iterable[dict[str, Any]]) -> dict[str, int]:
    """What a user's counts lose when the sessions ``hots`` (hot items, plain values) leave them: one session
    each, and one of its status (:func:`count_attribute` -> a negative number)."""
    counts: dict[str, int] = {}
    for hot in hots:
        for name in (count_attribute(None), count_attribute(SessionStatus(hot["status"]))):
            counts[name] = counts.get(name, 0) - 1
    return counts


def user_sessions_query(table: str, user_id: str) -> dict[str, Any]:
    """The Query (DynamoDB JSON) of every one of a user's sessions in GSI1 (keys only: ``PK``, ``SK``, the index
    keys), in no order the caller may rely on (the index's sort key, activity, moves)."""
    return {
        "TableName": table,
        "IndexName": GSI_ACTIVITY,
        "KeyConditionExpression": f"{GSI_ACTIVITY}PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": user_pk(user_id)}},
    }


def user_usage_key(user_id: str) -> dict[str, Any]:
    """Primary key of a user's usage item (``USER#<user_id>``/``USAGE``; in the user's partition, so erasing the
    partition erases it). It holds ``sessions``, ``active_sessions``, ``messages``, ``tokens``, ``cost`` and
    the per-model attributes of :func:`usage_attribute`; the stream function keeps it."""
    return key(user_pk(user_id), USAGE_SK)


def model_pair(provider: str | None, model: str | None) -> str:
    """The JSON of ``[provider, model]`` (compact, non-ASCII kept): a pair's one spelling, in the hot item's
    :data:`MODELS` set and in the user's per-model usage item."""
    return json.dumps([provider, model], separators=(",", ":"), ensure_ascii=False)


def model_usage_key(user_id: str, pair: str) -> dict[str, Any]:
    """Primary key of a user's usage of one (provider, model) ``pair`` (:func:`model_pair`): an item of its own
    in the user's partition (``MODEL#<sha256 of the pair, 32 hex digits>``), so neither an item nor an update
    expression grows with the number of models a user names (DynamoDB: 400 KB an item, 4 KB an expression)."""
    digest = hashlib.sha256(pair.encode("utf-8")).hexdigest()[:32]
    return key(user_pk(user_id), f"{MODEL_USAGE_PREFIX}{digest}")


def usage_attribute(provider: str | None, model: str | None, usage_field: str) -> str:
    """The name of a per-model usage attribute: :data:`USAGE_PREFIX`, the JSON of ``[provider, model]``
    (compact, non-ASCII kept: a name is unambiguous whatever the strings hold, ``null`` for a missing one),
    ``:`` and the field's suffix (a key of :data:`USAGE_FIELDS`: ``m`` messages, ``t`` tokens, ``c`` cost USD).

    ``usage_attribute("bedrock", "claude", "t") == 'by:["bedrock","claude"]:t'``. Such names hold characters an
    expression may not name directly: requests pass them as ``ExpressionAttributeNames``. Raises
    ``ValueError`` for an unknown field, or when both ``provider`` and ``model`` are missing (such messages
    are counted in the totals only)."""
    if usage_field not in USAGE_FIELDS:
        raise ValueError(f"unknown usage field {usage_field!r}")
    if provider is None and model is None:
        raise ValueError("a usage row names a provider or a model")
    return f"{USAGE_PREFIX}{json.dumps([provider, model], separators=(',', ':'), ensure_ascii=False)}:{usage_field}"


def parse_usage_attribute(name: str) -> tuple[str | None, str | None, str] | None:
    """``(provider, model, field suffix)`` of a per-model usage attribute (inverse of :func:`usage_attribute`),
    or ``None`` when ``name`` is not one (every other attribute of a hot or usage item)."""
    if not name.startswith(USAGE_PREFIX):
        return None
    encoded, _, usage_field = name[len(USAGE_PREFIX) :].rpartition(":")
    if usage_field not in USAGE_FIELDS:
        return None
    try:
        pair = json.loads(encoded)
    except ValueError:
        return None
    if not isinstance(pair, list) or len(pair) != 2:
        return None
    provider, model = pair
    if not all(value is None or isinstance(value, str) for value in (provider, model)):
        return None
    if provider is None and model is None:
        return None
    return provider, model, usage_field


def usage_increments(provider: str | None, model: str | None, messages: int, tokens: int, cost: Any) -> dict[str, Any]:
    """The per-model usage attributes a change of ``messages``, ``tokens`` and ``cost`` (USD) under (``provider``,
    ``model``) moves, by how much (zeros left out); ``{}`` when the messages name neither."""
    if provider is None and model is None:
        return {}
    moves = {"m": messages, "t": tokens, "c": cost}
    return {usage_attribute(provider, model, suffix): value for suffix, value in moves.items() if value}


def message_usage(message: dict[str, Any], sign: int = 1) -> dict[str, Any]:
    """The per-model usage attributes a message item (plain values) adds to its session (``sign`` -1: what its
    removal takes away): one message, its ``tokens_used`` and ``cost_usd`` under its ``provider`` and
    ``model``; ``{}`` when it names neither."""
    return usage_increments(
        message.get("provider"),
        message.get("model"),
        sign,
        sign * int(message.get("tokens_used", 0)),
        sign * Decimal(message.get("cost_usd", 0)),
    )


def sum_usage(*parts: dict[str, Any]) -> dict[str, Any]:
    """The per-model usage moves ``parts`` (name -> number) add up to, zeros left out."""
    total: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total.get(name, 0) + value
    return {name: value for name, value in total.items() if value}


def usage_of(item: dict[str, Any]) -> dict[str, Any]:
    """The per-model usage attributes of a hot or usage item (plain values): name -> number."""
    return {name: value for name, value in item.items() if parse_usage_attribute(name) is not None}


def erasing(counts: dict[str, Any] | None) -> bool:
    """True when a user's counts item says the user's data is being erased (:data:`ERASING`)."""
    return counts is not None and ERASING in counts


def erasure_key(user_id: str) -> dict[str, Any]:
    """Primary key of the progress record of a user's erasure (outside the user's partition, which it outlives)."""
    return key(f"{ERASURE_PREFIX}{user_id}", ERASURE_SK)


def erasure_user_of(partition_key: str, sort_key: str) -> str | None:
    """The user id an erasure progress record's key names (inverse of :func:`erasure_key`), or ``None``."""
    if sort_key != ERASURE_SK or not partition_key.startswith(ERASURE_PREFIX):
        return None
    return partition_key[len(ERASURE_PREFIX) :] or None


def erasure_item(user_id: str, now: datetime) -> dict[str, Any]:
    """A new erasure's progress record: ``status`` erasing, its counters at zero (``sessions_erased``: sessions
    turned into tombstones, ``sessions_cleared``: of those, cleaned up by the stream function, ``items_deleted``,
    ``passes``). It holds the user id and counts, nothing else (SPEC section 9)."""
    return {
        "PK": f"{ERASURE_PREFIX}{user_id}",
        "SK": ERASURE_SK,
        ENTITY: ERASURE_ENTITY,
        "user_id": user_id,
        "status": "erasing",
        "started_at": iso(now),
        "sessions_erased": 0,
        "sessions_cleared": 0,
        "items_deleted": 0,
        "passes": 0,
    }


def mark_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's stream applied mark."""
    return key(f"{MARK_PREFIX}{session_id}", MARK_SK)


def idempotency_pk(caller: str) -> str:
    """Partition key of a caller's idempotency records (Powertools' ``static_pk_value``)."""
    return f"{IDEMPOTENCY_PREFIX}{caller}"


def guard_item(caller: str, token: str, request: str, ids: list[str], at: datetime, ttl: int) -> dict[str, Any]:
    """A keyed create's write guard (:class:`~session_service.idempotency.WriteGuard`): in the caller's
    idempotency partition, the ids and time the create drew; expires with the idempotency records (``ttl``
    seconds)."""
    return {
        "PK": idempotency_pk(caller),
        "SK": f"{GUARD_PREFIX}{token}",
        ENTITY: GUARD_ENTITY,
        "request": request,
        "ids": ids,
        "created_at": iso(at),
        "expires_at": int(at.timestamp()) + ttl,
    }


def message_start(created_at: str) -> str:
    """Sort key below every message created at or after ``created_at`` (an incarnation's first)."""
    return f"{MESSAGE_PREFIX}{created_at}"


def memory_prefix(memory_type: MemoryType | None) -> str:
    """Sort-key prefix of a session's memory records, of one type or of all."""
    return f"{MEMORY_PREFIX}{memory_type.value}#" if memory_type else MEMORY_PREFIX


def index_keys(item: dict[str, Any]) -> dict[str, str]:
    """The GSI sort keys a hot item should have: its ``last_activity``, and ``<status>#<last_activity>``."""
    activity = str(item["last_activity"])
    return {f"{GSI_ACTIVITY}SK": activity, f"{GSI_STATUS}SK": f"{item['status']}#{activity}"}


def index_lags(item: dict[str, Any]) -> bool:
    """True when a hot item's GSI sort keys should move: GSI2's key is not ``<status>#<GSI1's key>`` (a status
    change sets it to the time of the change), or its ``last_activity`` is :data:`INDEX_GRAIN_SECONDS` or more
    past the activity the keys show."""
    shown = str(item.get(f"{GSI_ACTIVITY}SK", ""))
    if not shown or item.get(f"{GSI_STATUS}SK") != f"{item['status']}#{shown}":  # a status change set GSI2SK
        return True
    try:
        lag = parse_iso(str(item["last_activity"])) - parse_iso(shown)
    except ValueError:
        return True
    return lag.total_seconds() >= INDEX_GRAIN_SECONDS


def is_tombstone(item: dict[str, Any] | None) -> bool:
    """True when ``item`` is a permanently deleted session's hot item (:data:`DELETED_STATUS`)."""
    return item is not None and item.get("status") == DELETED_STATUS


def tombstone_action(
    table: str, hot: dict[str, Any], now: datetime, condition: str, values: dict[str, Any], *, erasure: bool = False
) -> dict[str, Any]:
    """A transaction's Update turning the session ``hot`` (as read) into a tombstone at ``now``
    (:func:`tombstone_update`), on ``condition`` (``#status`` names ``status``; its ``values`` plain); an
    ``erasure``'s tombstone says so (:data:`ERASED_BY`). The old item comes back when the condition fails."""
    expression, own = tombstone_update(now)
    if erasure:
        expression = expression.replace(" REMOVE ", f", {ERASED_BY} = :erasure REMOVE ", 1)
        own[":erasure"] = True
    return {
        "Update": {
            "TableName": table,
            "Key": session_key(str(hot["session_id"])),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": serialize({**own, **values}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def tombstone_update(now: datetime) -> tuple[str, dict[str, Any]]:
    """The UpdateExpression (and its values, plain) turning a hot item into a tombstone at ``now``: status
    :data:`DELETED_STATUS` (``#status`` names ``status``), ``expires_at`` the current epoch second (every reader
    treats it as gone at once, and a create takes the id over), no GSI keys (no listing reads it), no cuts (the
    stream function deletes the whole incarnation), ``updated_at`` the delete's time (:func:`tombstone_bound`)
    and the version bumped (its stream record orders after every earlier one)."""
    expression = (
        "SET #status = :deleted, expires_at = :epoch, updated_at = :now, cuts = :no_cuts, version = version + :one"
        f" REMOVE {GSI_ACTIVITY}PK, {GSI_STATUS}PK"
    )
    values = {":deleted": DELETED_STATUS, ":epoch": int(now.timestamp()), ":now": iso(now), ":no_cuts": {}, ":one": 1}
    return expression, values


def tombstone_bound(item: dict[str, Any]) -> str:
    """The ISO time just above a tombstone's delete (its ``updated_at``): every item of the deleted incarnation
    was created before it; a later incarnation of the id is created after the delete, so after it."""
    return iso(parse_iso(str(item["updated_at"])) + timedelta(microseconds=1))


def status_index_prefix(status: SessionStatus) -> str:
    """GSI2 sort-key prefix of a user's sessions in ``status``."""
    return f"{status.value}#"


# -- items <-> models ---------------------------------------------------------------------------------


def new_session_items(
    session_id: str, caller: str, request: SessionCreate, now: datetime, ttl: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new session's hot and data items (plain values): ``active``, empty counters, ``expires_at = now +
    ttl`` (seconds)."""
    created = iso(now)
    hot = {
        "PK": session_pk(session_id),
        "SK": SESSION_SK,
        ENTITY: SESSION_ENTITY,
        "session_id": session_id,
        "user_id": caller,
        "title": request.title,
        "status": SessionStatus.ACTIVE.value,
        "message_count": 0,
        "memory_count": 0,
        "total_tokens": 0,
        "total_cost": Decimal(0),
        "created_at": created,
        "updated_at": created,
        "last_activity": created,
        "ttl_seconds": ttl,
        "expires_at": int(now.timestamp()) + ttl,
        "version": 1,
        "cuts": {},
        "cut_count": 0,
        f"{GSI_ACTIVITY}PK": user_pk(caller),
        f"{GSI_STATUS}PK": user_pk(caller),
    }
    hot.update(index_keys(hot))
    data = {
        "PK": session_pk(session_id),
        "SK": DATA_SK,
        ENTITY: DATA_ENTITY,
        "session_id": session_id,
        "created_at": created,
        "metadata": dump_json(request.metadata),
        "conversation_data": dump_json(request.conversation_data),
    }
    return hot, data


def summary_item(session_id: str, incarnation: str, summary: str, through: str, messages: int) -> dict[str, Any]:
    """A session's summary item: the text, the sort key of the newest message it covers, and the session's
    ``message_count`` when it was made."""
    return {
        "PK": session_pk(session_id),
        "SK": SUMMARY_SK,
        ENTITY: SUMMARY_ENTITY,
        "session_id": session_id,
        "created_at": incarnation,
        "session_summary": summary,
        "summary_through": through,
        "summary_messages": messages,
    }


def summary_text(hot: dict[str, Any], summary: dict[str, Any] | None) -> str:
    """The summary of the session ``hot`` describes: ``''`` when there is none yet, or it belongs to an
    earlier incarnation of the id."""
    if summary is None or summary.get("created_at") != hot.get("created_at"):
        return ""
    return str(summary.get("session_summary", ""))


def session_from_items(hot: dict[str, Any], data: dict[str, Any] | None, summary: dict[str, Any] | None) -> Session:
    """Map a session's hot, data and summary items (plain values) to the :class:`Session` model."""
    same = data is not None and data.get("created_at") == hot["created_at"]
    return Session(
        session_id=hot["session_id"],
        user_id=hot["user_id"],
        title=hot.get("title", ""),
        status=SessionStatus(hot["status"]),
        conversation_data=json.loads(data.get("conversation_data", "{}")) if same and data else {},
        metadata=json.loads(data.get("metadata", "{}")) if same and data else {},
        is_active=hot["status"] == SessionStatus.ACTIVE,
        message_count=int(hot.get("message_count", 0)),
        total_tokens=int(hot.get("total_tokens", 0)),
        total_cost=Decimal(hot.get("total_cost", 0)),
        session_summary=summary_text(hot, summary),
        created_at=parse_iso(hot["created_at"]),
        updated_at=parse_iso(hot["updated_at"]),
        last_activity=parse_iso(hot["last_activity"]),
        expires_at=datetime.fromtimestamp(int(hot["expires_at"]), UTC),
        version=int(hot.get("version", 1)),
        memory_count=int(hot.get("memory_count", 0)),
    )


def list_item_from_item(hot: dict[str, Any]) -> SessionListItem:
    """Map a session's hot item (plain values) to a listing row."""
    return SessionListItem(
        session_id=hot["session_id"],
        user_id=hot["user_id"],
        title=hot.get("title", ""),
        status=SessionStatus(hot["status"]),
        is_active=hot["status"] == SessionStatus.ACTIVE,
        message_count=int(hot.get("message_count", 0)),
        total_tokens=int(hot.get("total_tokens", 0)),
        total_cost=Decimal(hot.get("total_cost", 0)),
        created_at=parse_iso(hot["created_at"]),
        updated_at=parse_iso(hot["updated_at"]),
        last_activity=parse_iso(hot["last_activity"]),
        expires_at=datetime.fromtimestamp(int(hot["expires_at"]), UTC),
    )


def memory_count_attribute(memory_type: MemoryType | None) -> str:
    """The hot item's attribute counting its memory records of one type (or of all types)."""
    return f"memory_count_{memory_type.value}" if memory_type else "memory_count"


def message_sk(created_at: str, message_id: str) -> str:
    """A message's sort key: its creation time, then its id (messages sort by time)."""
    return f"{MESSAGE_PREFIX}{created_at}#{message_id}"


def chunk_sk(message_sort_key: str, index: int) -> str:
    """Sort key of chunk ``index`` of the streamed reply whose sort key is ``message_sort_key``: the message's
    key with ``CHK#`` for ``MSG#``, so chunks sort like their messages but outside the messages' range."""
    return f"{_chunk_space(message_sort_key)}#{index:0{CHUNK_DIGITS}d}"


def chunk_range(message_sort_key: str) -> tuple[str, str]:
    """The inclusive sort-key range of a message's chunks."""
    return f"{_chunk_space(message_sort_key)}#", f"{_chunk_space(message_sort_key)}#~"


def _chunk_space(message_key_bound: str) -> str:
    """A bound of message sort keys mapped to the chunks of those messages."""
    return f"{CHUNK_PREFIX}{message_key_bound.removeprefix(MESSAGE_PREFIX)}"


def message_range(message_sort_key: str) -> tuple[str, str]:
    """The inclusive range of message sort keys of a message, as a cut: it covers the message's chunks too
    (:func:`cut_ranges`)."""
    return message_sort_key, f"{message_sort_key}#~"


def chunks_cut(message_sort_key: str) -> tuple[str, str]:
    """A cut of a message's chunks alone (no message sort key lies in it)."""
    return f"{message_sort_key}#", f"{message_sort_key}#~"


def cut_ranges(first: str, last: str) -> list[tuple[str, str]]:
    """The sort-key ranges of a cut ``[first, last]`` of message sort keys: the messages in it, and the
    chunks of those messages."""
    return [(first, last), (_chunk_space(first), _chunk_space(last))]


def after_message(message_sort_key: str) -> str:
    """The lowest sort key above a message and its chunks (where the messages after it begin)."""
    return f"{message_sort_key}#~~"


def message_id_key(session_id: str, message_id: str) -> dict[str, Any]:
    """Primary key (DynamoDB JSON) of the item reserving a client-chosen ``message_id`` in a session."""
    return key(session_pk(session_id), f"{MESSAGE_ID_PREFIX}{message_id}")


def message_item(
    session_id: str, caller: str, message_id: str, request: MessageCreate, created: datetime, request_hash: str | None
) -> dict[str, Any]:
    """A message's item (plain values). ``request_hash`` (the body's hash, when the client chose the id) is
    what a repeated append is compared with; ``version`` counts the item's changes, ``chunks`` a streamed
    reply's chunks so far and ``content_bytes`` its content's UTF-8 size."""
    item = {
        "PK": session_pk(session_id),
        "SK": message_sk(iso(created), message_id),
        f"{LSI_MESSAGE_ID}SK": message_id,
        ENTITY: MESSAGE_ENTITY,
        "message_id": message_id,
        "session_id": session_id,
        "user_id": caller,
        "role": request.role.value,
        "content": request.content,
        "message_type": request.message_type.value,
        "metadata": dump_json(request.metadata),
        "tokens_used": request.tokens_used,
        "cost_usd": request.cost_usd,
        "created_at": iso(created),
        "status": request.status.value,
        "version": 1,
        "chunks": 0,
        "content_bytes": len(request.content.encode("utf-8")),
    }
    item.update({name: value for name, value in (("provider", request.provider), ("model", request.model)) if value})
    if request_hash is not None:
        item["body_hash"] = request_hash
    return item


def message_id_item(session_id: str, message_id: str, message_sort_key: str, created: str) -> dict[str, Any]:
    """The item reserving a client-chosen ``message_id``: it names the message's sort key."""
    return {
        "PK": session_pk(session_id),
        "SK": f"{MESSAGE_ID_PREFIX}{message_id}",
        ENTITY: MESSAGE_ID_ENTITY,
        "message_sk": message_sort_key,
        "created_at": created,
    }


def chunk_item(message: dict[str, Any], index: int, content: str) -> dict[str, Any]:
    """Chunk ``index`` of the streamed reply ``message`` (its item, plain values)."""
    if not 0 <= index <= MAX_CHUNK_INDEX:
        raise ValueError(f"chunk index out of range: {index}")
    return {
        "PK": message["PK"],
        "SK": chunk_sk(str(message["SK"]), index),
        ENTITY: CHUNK_ENTITY,
        "message_id": message["message_id"],
        "index": index,
        "content": content,
        "created_at": message["created_at"],
    }


def is_streaming(message: dict[str, Any]) -> bool:
    """True for a streamed reply that is still ``in_progress`` (its content so far includes its chunks)."""
    return message.get("status") == MessageStatus.IN_PROGRESS.value


def visible(sort_key: str, hot: dict[str, Any]) -> bool:
    """False when ``sort_key`` lies in one of the cuts of the session's hot item ``hot`` (deleted, waiting
    for the stream)."""
    return not any(str(c["from"]) <= sort_key <= str(c["to"]) for c in (hot.get("cuts") or {}).values())


def past_cuts(sort_key: str, hot: dict[str, Any]) -> str:
    """The lowest sort key at or above ``sort_key`` that no cut of the session ``hot`` holds: a reader paging
    through messages skips a cut's range instead of reading what it hides. (Above a cut's upper bound
    ``<message key>#~``, ``~`` appended, lies no message key of the range.)"""
    cuts = list((hot.get("cuts") or {}).values())
    for _ in range(len(cuts)):
        holding = [str(c["to"]) for c in cuts if str(c["from"]) <= sort_key <= str(c["to"])]
        if not holding:
            break
        sort_key = f"{max(holding)}~"
    return sort_key


def messages_query(table: str, hot: dict[str, Any], *, newest_first: bool, first: str | None = None) -> dict[str, Any]:
    """The Query (DynamoDB JSON) of the messages of the session ``hot`` (its hot item, plain values)
    describes, oldest or newest first, from sort key ``first`` on: its incarnation's messages (an expired
    earlier session that reused the id has older ones). Messages in a cut are not filtered here (a Query's
    filter may not name the sort key, DynamoDB's rule): readers drop them with :func:`visible`."""
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


def _record(item: dict[str, Any]) -> dict[str, Any]:
    """A message or memory item's values as its model reads them (``metadata`` is stored as JSON text)."""
    return {**item, "metadata": json.loads(item.get("metadata", "{}"))}


def message_from_item(item: dict[str, Any]) -> Message:
    """Map a message item (plain values) to the :class:`Message` model."""
    return Message.model_validate(_record(item))


def memory_item(session_id: str, caller: str, memory_id: str, request: MemoryCreate, now: datetime) -> dict[str, Any]:
    """A memory record's item (plain values); its sort key groups records by type."""
    return {
        "PK": session_pk(session_id),
        "SK": f"{memory_prefix(request.memory_type)}{iso(now)}#{memory_id}",
        ENTITY: MEMORY_ENTITY,
        "memory_id": memory_id,
        "session_id": session_id,
        "user_id": caller,
        "memory_type": request.memory_type.value,
        "content": request.content,
        "metadata": dump_json(request.metadata),
        "created_at": iso(now),
    }


def memory_from_item(item: dict[str, Any]) -> Memory:
    """Map a memory record item (plain values) to the :class:`Memory` model."""
    return Memory.model_validate(_record(item))
