"""The single table's keys: every key format and prefix, and the one table of access patterns.

Attribute names and the item <-> model mapping live beside it: :mod:`session_service.data.items` (sessions,
messages, chunks, memory records, tombstones, erasures), :mod:`session_service.data.state` (state documents, agents),
:mod:`session_service.data.stats` (``STATS``, counts,
usage, per-model usage, marks); the requests are built by :mod:`session_service.data.reads` and
:mod:`session_service.data.actions` and run by :mod:`session_service.data.dynamo`.

Key design (one table, generic key names; every entity owns its key format). A session is three items in
its own partition: a small *hot* item that every append updates (owner, status, times, counters, version,
title), a *data* item with ``metadata`` and ``conversation_data`` that only a PUT rewrites, and a *summary*
item that only the stream function writes. An append never rewrites what it does not change, so its cost
does not grow with what the session holds.

=====================  ==============================  ======================================  ==================
entity                 PK                              SK                                      GSIs
=====================  ==============================  ======================================  ==================
session (hot)          ``SESSION#<session_id>``        ``SESSION``                             GSI1, GSI2, [GSI3]
session data           ``SESSION#<session_id>``        ``SESSION#DATA``                        -
session summary        ``SESSION#<session_id>``        ``SESSION#SUMMARY``                     -
message                ``SESSION#<session_id>``        ``MSG#<created_at>#<message_id>``       LSI1: before, agents',
                                                                                                       client times
streamed reply chunk   ``SESSION#<session_id>``        ``CHK#<created_at>#<message_id>#<index>``  -
client message id      ``SESSION#<session_id>``        ``MID#<message_id>``                    -
session state          ``SESSION#<session_id>``        ``STATE#SESSION``                       -
agent (its state)      ``SESSION#<session_id>``        ``STATE#AGENT#<agent_id>``              -
memory record          ``SESSION#<session_id>``        ``MEM#<memory_type>#<created_at>#<id>``  -
per-user counts        ``USER#<user_id>``              ``COUNTS``                              -
per-user usage         ``USER#<user_id>``              ``USAGE``                               -
per-user model usage   ``USER#<user_id>``              ``MODEL#<sha256 of the pair, 32 hex>``  -
per-user namespace use ``USER#<user_id>``              ``USAGE#NS#<namespace>``                GSI3
user state             ``USER#<user_id>``              ``USTATE#<namespace or empty>``         -
namespace state        ``NS#<namespace>``              ``STATE``                               -
service statistics     ``STATS``, ``STATS#<1..N-1>``   ``GLOBAL``                              -
stream applied mark    ``STREAM#SESSION#<id>``         ``APPLIED``                             -
erasure's progress     ``ERASURE#<user_id>``           ``PROGRESS``                            -
erased session's count ``ERASURE#<user_id>``           ``CLEARED#<session_id>``                -
idempotency record     ``IDEMPOTENCY#<user_id>``       ``<function>#<hash>`` (Powertools)      -
keyed write's guard    ``IDEMPOTENCY#<user_id>``       ``WRITE#<hash of operation and key>``   -
=====================  ==============================  ======================================  ==================

Both GSIs project keys only and are keyed by the owner: GSI1 (``GSI1PK = USER#<user_id>``, ``GSI1SK =
<last_activity>``) lists a user's sessions by recent activity, GSI2 (``GSI2SK = <status>#<last_activity>``)
the sessions of one status (``active_only`` is ``begins_with(GSI2SK, "active#")``). GSI3 is sparse (keys only):
a user's usage of a namespace carries ``GSI3PK = NSUSAGE#<namespace>``, ``GSI3SK = <user_id>`` (a namespace's usage
by user, set by the stream function with its counters); and
a session created in a namespace carries ``GSI3PK = NS#<namespace>`` (fixed) and ``GSI3SK =
<user_id>#<last_activity>``: a user's sessions of a namespace are ``begins_with(GSI3SK, "<user_id>#")``, every
user's the partition. Appends do not move
them: the stream function moves the sort keys to the session's ``last_activity`` (:func:`index_keys`) once
it is :data:`INDEX_GRAIN_SECONDS` past them, so an append writes no index and a busy session moves its keys
once a minute, not once per append. A listing reads its rows (hot items) and the user's counts with one
BatchGetItem and orders the page's rows by their exact ``last_activity``: exact within a page, to the minute
across pages.

A message is found by its id by key, so an append writes no index entry: an id the server names is time-ordered
(:func:`time_ordered_id`, a UUIDv7 holding the message's creation time to the microsecond), so its sort key follows
from it (:func:`message_sk_of_id`); a ``message_id`` the client chose is reserved by a ``MID#`` item written in
the append's transaction, which names the message's sort key. One consistent BatchGetItem reads both keys (with
the session's hot item and the owner's counts where the operation reads them), and the message a ``MID#`` item
names next. Messages stored before ids were time-ordered carry ``LSI1SK = <message_id>`` and are found by a
Query of LSI1 (keys only; DynamoDB fetches the rest of the item in the same request), made alongside for an id
that is not time-ordered. An append with client-chosen ids checks them first the same way (the id is unique in
the session) and an append repeated with them writes nothing. A message item stores what its keys and the hot
item do not say (not its id, session, owner, nor a field at its default:
:func:`~session_service.data.items.message_values` reads them back; ``created_at`` stays, the incarnation every
item carries). A streamed reply's chunks are items of their own (``CHK#<created_at>#<message_id>#<index>``:
they sort like their messages, outside the range message Queries read); finalizing the reply writes their
text into the message.

A message of an agent (``agent_id``) carries ``LSI1SK`` = ``AGENT#<agent_id>#<position, 10 digits>``: the agent's
messages are numbered from 0 in the order stored (the count so far is ``message_count`` on the agent's item, moved
in the append's transaction on the count read), and read from any position by one Query of LSI1 (``LSI1SK
BETWEEN`` the position's key and the agent's last), whose cost grows neither with the position nor with the
other agents' messages (an agent id holds no ``#``, so no other agent's key falls in the range). Besides
messages stored before ids were time-ordered and those with a client timestamp (below), no other message writes
``LSI1SK``.

A message with a client ``timestamp`` (epoch seconds, kept to the microsecond) and no ``agent_id`` carries ``LSI1SK =
TS#<timestamp in microseconds, 17 digits>#<created_at>`` (:func:`timestamp_message_key`; the timestamp is read back
from it, not stored twice): the messages at or after a time are one Query of LSI1 (``LSI1SK BETWEEN TS#<t> AND
TS#~``, in either direction), whose cost grows neither with the messages before ``t`` nor with the messages without
a timestamp (only messages with one pay the index entry's write). An agent's message keeps its ``AGENT#`` key (it is
read by position) and stores its timestamp as the number ``timestamp`` (microseconds): it is not in that Query.
No other ``LSI1SK`` starts with ``TS#`` (that of a message stored before is its id, a UUID). The hot item's
``last_message_timestamp`` (epoch seconds, a number) is set by every append: its last message's timestamp, else
that message's creation time.

A session's state document and each agent's (:mod:`session_service.data.state`) are items of their own beside
the hot item, never in it: an append without a state change writes none of them, and a change writes only its
document's item (its top-level keys are attributes of their own, each changed by key in one UpdateItem), with
a ConditionCheck of the hot item in the same transaction.

A truncation *cuts* a key range: the write that adjusts the counters records the range in the hot item's
``cuts`` map (a range of message sort keys, which also names their chunks: :func:`cut_ranges`), readers drop
the messages in it from that moment (:func:`session_service.rules.visible`), and the stream function deletes
its items in the background and removes the cut. A clear cuts the session's whole message range the same way
(its counters set to zero in the same update). Nothing else cuts: one message, or a pop's newest messages, is
deleted in its own transaction, and a streamed reply's chunks, once it is finalized or deleted, are deleted by
the stream function on the reply's own record. ``cut_through`` (the highest cut bound ever) keeps an append
from landing inside a cut; ``cut_count`` changes with every truncation and clear, so a change of one message
conditioned on it cannot apply to a message a truncation or clear already removed.

Every item of a session carries ``created_at``, its *incarnation*: an expired session's id may be created
again, and the new session ignores (and the stream function deletes) every item older than itself. The session's
ETag names the hot item's ``created_at`` with its version, and every conditional write (``If-Match``) checks both:
the new session restarts at version 1, so an ETag of the older one would otherwise match.

A permanent delete writes no delete: it turns the hot item into a *tombstone*
(:data:`~session_service.data.items.DELETED_STATUS`, ``expires_at`` = the delete's second, out of both GSIs, no
cuts) and moves the owner's counts, in one transaction. Every reader treats an expired session as gone, so it is
gone at once; a create takes the id over as it takes over any expired one. The stream function then deletes the
partition's items of that incarnation (created before :func:`~session_service.data.items.tombstone_bound`) and,
last, the tombstone itself.

Erasing a user writes two items: the erasure's progress record and :data:`~session_service.data.stats.ERASING` on
the user's counts item. Every reader of a user's data reads that counts item with what it reads (one BatchGetItem),
so the user's data is gone for readers at once, whatever its amount; a create's ADD to the counts is conditioned on
it. The stream function then turns the user's sessions into tombstones (marked
:data:`~session_service.data.items.ERASED_BY`) and cleans them up as any permanent delete, and deletes the user's
partition and idempotency records last (:mod:`session_service.stream.erasure`).

Access patterns (requests made by the operation families, :mod:`session_service.operations`, and by
:mod:`session_service.stream`):

=====================================  ==============================================================
pattern                                request
=====================================  ==============================================================
create / ensure a session              TransactWriteItems: Put hot (``attribute_not_exists``), Put data,
                                       ADD user counts; on an expired id, the same conditioned on it;
                                       ensuring one that exists: that transaction cancelled + Query it;
                                       with state: + Put the session's document (older than the session,
                                       or none) + Update the user's / namespace's document, in that
                                       transaction; then BatchGetItem the documents (the answer's state)
create a batch of sessions             TransactWriteItems: Put hot and data of each, ADD each owner's
                                       counts once
get a session                          BatchGetItem hot, data, summary and the owner's counts (consistent)
                                       [?include=state: + the session's document; then BatchGetItem the
                                       user's and the namespace's documents]
summary                                BatchGetItem hot + summary + the owner's counts
session exists (HEAD)                  BatchGetItem hot + the owner's counts
update / end a session                 TransactWriteItems: Update hot (owner, live, status, [version and
                                       incarnation = If-Match]),
                                       [Update data], [ADD user counts]; then BatchGetItem to answer
                                       (end: none)
delete permanently (one or a batch)    BatchGetItem hot + TransactWriteItems: Update hot into a tombstone
                                       (owner, live, status, incarnation) + ADD user counts
list a user's sessions                 Query GSI1 or GSI2 (keys only) + BatchGetItem rows and counts
                                       [?include=state: + the rows' documents; then BatchGetItem the
                                       user's and namespaces' documents the rows name]
list a user's sessions of a namespace  Query GSI3 ``begins_with(GSI3SK, <user_id>#)`` (keys only) +
                                       BatchGetItem rows and counts [+ the rows' documents, the user's
                                       and the namespace's: ?include=state]
a namespace's usage by user (trusted)  Query GSI3 ``GSI3PK = NSUSAGE#<namespace>`` (keys only) + BatchGetItem
                                       the page's usage items and their owners' counts
list a namespace's sessions (trusted)  Query GSI3 ``GSI3PK = NS#<namespace>`` (keys only) + BatchGetItem
                                       rows and their owners' counts [+ the rows' documents, the owners'
                                       and the namespace's: ?include=state]
append messages                        [BatchGetItem hot + counts + the client-chosen ids' MID# and derived
                                       keys, Query LSI1 per id not time-ordered alongside] + TransactWriteItems:
                                       Put messages [+ Put MID#] + Update hot (ADD); a batch too big for one:
                                       transactions of 49 messages in order
list messages (asc or desc)            BatchGetItem hot + counts, Query
                                       ``SK BETWEEN MSG#<created_at> AND MSG#~``
                                       (messages in cuts dropped) [+ Query a streaming reply's chunks]
context                                BatchGetItem hot + summary + counts, Query messages newest first
                                       (more Queries only for a budget of more than 21 messages)
one message by id                      BatchGetItem hot + counts + the message's derived key + its MID#;
                                       for an id not time-ordered a Query LSI1 alongside; a MID# found:
                                       + BatchGetItem the message it names
change / delete one message            the above + TransactWriteItems: message (``version``), [its MID#],
                                       hot (ADD)
delete the messages after one          the above + Query the tail (sums) + Update hot (ADD, SET cut)
pop the newest messages                BatchGetItem hot + counts, Query messages newest first
                                       + TransactWriteItems: Delete messages (``version``), [their MID#],
                                       hot (ADD, ``cut_count``)
clear a session's messages             BatchGetItem hot + counts, Query the newest message (its key)
                                       + Update hot (SET cut of the whole range, counters to zero)
chunk of a streamed reply              find the message (BatchGetItem derived key + MID# [+ Query LSI1])
                                       + TransactWriteItems: Put chunk, Update message, hot + Query the
                                       chunks (the answer)
state document: read                   BatchGetItem hot + counts + the document's item (consistent)
state document: change                 TransactWriteItems: ConditionCheck hot (owner, live, active,
                                       [incarnation = If-Match's]) +
                                       Update the document (SET / REMOVE its keys, ADD version; [version =
                                       If-Match]; an agent's: exists, or not for a create); then GetItem
                                       it (the answer)
append with a state change             the append's TransactWriteItems + that Update of the document
                                       (a batch's ``state``: the session's document)
conditional append (If-Match)          the append's TransactWriteItems, its Update hot also conditioned on
                                       the If-Match's ``version`` and ``created_at`` (one transaction only)
user / namespace state: read, change   a user's: BatchGetItem the document + the user's counts (consistent;
                                       erasing: never written) / TransactWriteItems: Update the document
                                       (SET / REMOVE its keys, ADD version; [version = If-Match]) +
                                       ConditionCheck the user's counts (not erasing), then that BatchGetItem;
                                       a namespace's: GetItem / the Update alone, then GetItem
session state merged (every scope)     BatchGetItem hot + counts + the session's document, then
                                       BatchGetItem the user's and the namespace's documents
append with user / namespace state     GetItem hot (its namespace) + the append's TransactWriteItems
                                       + Update each document (Update hot also on ``created_at``)
append messages of agents              BatchGetItem the agents' items (their counts) + the append's
                                       TransactWriteItems + Update each agent's item (ADD message_count,
                                       on the count read; with its state change, if any)
an agent's messages from a position    BatchGetItem hot + counts, Query LSI1 ``LSI1SK BETWEEN
                                       AGENT#<agent>#<position> AND AGENT#<agent>#9999999999`` (Limit, all
                                       attributes; concurrent)
messages from a client timestamp       BatchGetItem hot + counts, Query LSI1 ``LSI1SK BETWEEN TS#<t> AND
                                       TS#~`` (asc or desc; all attributes; messages in cuts or of older
                                       incarnations dropped)
an agent's message at a position       BatchGetItem hot + counts, Query LSI1 ``LSI1SK = AGENT#<agent>#<n>``
                                       (concurrent) [+ the message's change, as by id]
add / list memory records              TransactWriteItems / BatchGetItem hot + counts, Query
                                       ``begins_with MEM#[type#]``
export a user's data                   per page GetItem counts (the first page: Query ``USER#<user_id>``
                                       ``SK BETWEEN COUNTS AND USTATE#~``, the counts and the user's
                                       documents) + Query GSI1 (keys); per session one Query ``SK BETWEEN
                                       MEM# AND STATE#~`` (memory, messages, session items, state documents;
                                       part by part past 1 MB, + Query ``begins_with STATE#``)
erase a user                           TransactWriteItems: Put progress (none running), SET the counts'
                                       :data:`~session_service.data.stats.ERASING`
erasure's progress                     GetItem ``ERASURE#<user_id>``
a write with ``Idempotency-Key``       + Put the write guard in the write's own transaction, + Powertools'
                                       record writes (a conditional put before, an update after)
statistics                             BatchGetItem the N ``STATS`` shards (summed)
usage of a user                        Query ``USER#<user_id>``, ``SK < USTATE#`` (usage, per-model usage,
                                       per-namespace usage, counts; not the user's state documents)
stream: counts, marks                  BatchGetItem marks, erasures + TransactWriteItems (ADD one STATS
                                       shard, COUNTS, USAGE, MODEL#, USAGE#NS#; SET marks)
stream: index keys                     UpdateItem hot (``last_activity`` unchanged since the image)
stream: summary (summary function)     BatchGetItem summaries + Query newest messages + conditional Put
                                       + GetItem hot (the session still there)
stream: a removed session's content    Query the partition (keys, ``created_at``) [+ UpdateItem its erasure
                                       count, if not set] + BatchWriteItem deletes
                                       [+ DeleteItem of a tombstone (its incarnation, still a tombstone)]
stream: a cut                          Query its chunks' and messages' ranges (keys) + BatchWriteItem
                                       deletes + UpdateItem hot (REMOVE the cut)
stream: a reply finalized or deleted   Query its chunks' range (keys) + BatchWriteItem deletes
stream: a tombstone removed            GetItem its mark [+ GetItem its erasure count] + TransactWriteItems:
                                       Delete the mark (that incarnation's) [+ Delete the count + ADD the
                                       erasure's progress]
stream: an erasure's pass              GetItem progress + Query GSI1 (keys) + BatchGetItem hot items +
                                       TransactWriteItems (tombstones, counts, progress); at the end Query +
                                       UpdateItem progress (their count, if not set) + BatchWriteItem the
                                       ``USER#`` and ``IDEMPOTENCY#`` partitions + Update progress
=====================================  ==============================================================

Usage by model: a session's hot item holds, beside its totals, three flat number attributes per (``provider``,
``model``) its messages name (:func:`~session_service.data.stats.usage_attribute`: messages, tokens, cost), moved by
the same ``ADD`` as the totals (DynamoDB's ``ADD`` works on top-level attributes only, and an append writes without
reading, so a nested map could not be created). Messages naming neither provider nor model add none: they are the
totals minus the named rows. A session names at most ``MAX_MODELS_PER_SESSION`` pairs (its
:data:`~session_service.data.stats.MODELS` set, checked in the same update). The stream function adds each session's
totals to the owner's usage item (``USER#<user_id>``/``USAGE``) and each model's share to the owner's item of that
model (:func:`model_usage_key`), so a user's usage is what the user's sessions hold, as ``STATS`` is for the whole
service. Usage by namespace: the hot item's ``namespace`` (fixed at creation) is in every record of it, so the stream
function adds a namespaced session's totals to the owner's item of that namespace too (:func:`namespace_usage_key`);
neither an append nor a message item holds anything more for it.

Times are ISO 8601 UTC strings with microseconds and ``Z`` (so they sort as text); ``expires_at`` is epoch
seconds (the table's TTL attribute, on hot items only); money is a DynamoDB number (exact decimal).
``metadata``, ``conversation_data`` and a message's ``data`` are stored as JSON text, so any JSON value
round-trips exactly.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from session_service.models import MemoryType, SessionStatus

SESSION_SK = "SESSION"
DATA_SK = "SESSION#DATA"
SUMMARY_SK = "SESSION#SUMMARY"
MESSAGE_PREFIX = "MSG#"
MESSAGE_END = "MSG#~"
"""Above every message sort key ("~" sorts after the digits of a time)."""
MESSAGE_ID_PREFIX = "MID#"
CHUNK_PREFIX = "CHK#"
LSI_MESSAGE_ID = "LSI1"
"""A session's messages by id (keys only; the sort key ``LSI1SK`` is the message id): written by messages stored
before ids were time-ordered (:func:`time_ordered_id`), read only to find those (the table keeps the index: an
LSI is defined with the table, and removing it replaces the table). Agents' messages write their position in it
(:func:`agent_message_key`), and messages with a client timestamp that time (:func:`timestamp_message_key`)."""
STATE_PREFIX = "STATE#"
SESSION_STATE_SK = "STATE#SESSION"
AGENT_STATE_PREFIX = "STATE#AGENT#"
AGENT_MESSAGE_PREFIX = "AGENT#"
POSITION_DIGITS = 10
"""An agent message's position is written with this many digits in ``LSI1SK``, so an agent's messages sort in
order."""
MAX_POSITION = 10**POSITION_DIGITS - 1
TIMESTAMP_PREFIX = "TS#"
TIMESTAMP_END = "TS#~"
"""Above every client timestamp's ``LSI1SK`` ("~" sorts after the digits)."""
TIMESTAMP_DIGITS = 17
"""A client timestamp's microseconds are written with this many digits in ``LSI1SK``, so they sort in order (a
timestamp is below 10**11 seconds: :data:`~session_service.models.MAX_MESSAGE_TIMESTAMP`)."""
CHUNK_DIGITS = 6
"""A chunk's index is written with this many digits, so chunks sort in order (``MAX_CHUNK_INDEX``)."""
MEMORY_PREFIX = "MEM#"
COUNTS_SK = "COUNTS"
USAGE_SK = "USAGE"
MODEL_USAGE_PREFIX = "MODEL#"
"""Sort-key prefix of a user's per-model usage item: ``MODEL#<hash of the pair>`` (:func:`model_usage_key`)."""
NAMESPACE_USAGE_PREFIX = "USAGE#NS#"
"""Sort-key prefix of a user's usage of one namespace (:func:`namespace_usage_key`): it sorts after ``USAGE`` and
before ``USTATE#``, so the usage Query reads it."""
STATS_KEY = {"PK": {"S": "STATS"}, "SK": {"S": "GLOBAL"}}
"""The statistics' shard 0 (:func:`stats_key`)."""
MARK_PREFIX = "STREAM#SESSION#"
MARK_SK = "APPLIED"
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
GUARD_PREFIX = "WRITE#"
GSI_ACTIVITY = "GSI1"
"""A user's sessions by recent activity (keys only)."""
GSI_STATUS = "GSI2"
"""A user's sessions of one status by recent activity (keys only)."""
GSI_NAMESPACE = "GSI3"
"""The sessions of a namespace (sparse: only sessions created in one), by user then recent activity (keys only)."""
INDEX_GRAIN_SECONDS = 60
"""The stream function moves a session's GSI sort keys once its activity is this far past them: the indexes
order sessions by activity to the minute, and a listing page orders its rows by their exact
``last_activity`` (read with the rows)."""
ERASURE_PREFIX = "ERASURE#"
ERASURE_SK = "PROGRESS"
ERASURE_COUNT_PREFIX = "CLEARED#"


def iso(moment: datetime) -> str:
    """``2025-10-03T09:53:09.821305Z``: fixed width, so ISO strings sort like the times they name."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


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


def stats_key(shard: int) -> dict[str, Any]:
    """The key of the statistics' shard ``shard`` (:data:`~session_service.data.stats.STATS_SHARDS` of them, summed on
    read): :data:`STATS_KEY` for shard 0, ``STATS#<shard>``/``GLOBAL`` for the others (a partition key each)."""
    return STATS_KEY if shard == 0 else key(f"STATS#{shard}", "GLOBAL")


def session_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's hot item."""
    return key(session_pk(session_id), SESSION_SK)


def data_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's data item (``metadata``, ``conversation_data``)."""
    return key(session_pk(session_id), DATA_SK)


def summary_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's summary item."""
    return key(session_pk(session_id), SUMMARY_SK)


def state_sk(agent_id: str | None) -> str:
    """Sort key of a session's state document (``agent_id`` ``None``) or of an agent's (the agent's item)."""
    return SESSION_STATE_SK if agent_id is None else f"{AGENT_STATE_PREFIX}{agent_id}"


def state_key(session_id: str, agent_id: str | None) -> dict[str, Any]:
    """Primary key of a session's state document, or of the item of its agent ``agent_id``."""
    return key(session_pk(session_id), state_sk(agent_id))


def agent_message_key(agent_id: str, position: int) -> str:
    """``LSI1SK`` of the message at ``position`` (from 0) of the session's agent ``agent_id`` (an id without
    ``#``)."""
    return f"{AGENT_MESSAGE_PREFIX}{agent_id}#{position:0{POSITION_DIGITS}d}"


def timestamp_micros(timestamp: float) -> int:
    """A client timestamp (epoch seconds) in whole microseconds (rounded to the nearest)."""
    return round(Decimal(repr(float(timestamp))) * 1_000_000)


def seconds_of_micros(micros: int) -> Decimal:
    """Epoch seconds (exact, six decimals at most) of ``micros`` microseconds."""
    return Decimal(micros).scaleb(-6)


def timestamp_start(micros: int) -> str:
    """The lowest ``LSI1SK`` of a message whose client timestamp is ``micros`` microseconds or later."""
    return f"{TIMESTAMP_PREFIX}{micros:0{TIMESTAMP_DIGITS}d}"


def timestamp_message_key(micros: int, created_at: str) -> str:
    """``LSI1SK`` of a message (without an agent) whose client timestamp is ``micros`` microseconds, created at
    ``created_at`` (messages of the same timestamp sort in the order stored)."""
    return f"{timestamp_start(micros)}#{created_at}"


def timestamp_of(lsi_sort_key: str) -> int | None:
    """The microseconds a client timestamp's ``LSI1SK`` names (:func:`timestamp_message_key`), or ``None``."""
    if not lsi_sort_key.startswith(TIMESTAMP_PREFIX):
        return None
    return int(lsi_sort_key[len(TIMESTAMP_PREFIX) :].split("#", 1)[0])


def position_of(lsi_sort_key: str) -> int | None:
    """The position an agent message's ``LSI1SK`` names (:func:`agent_message_key`), or ``None`` for any other."""
    if not lsi_sort_key.startswith(AGENT_MESSAGE_PREFIX):
        return None
    return int(lsi_sort_key.rsplit("#", 1)[1])


def user_pk(user_id: str) -> str:
    """Partition key of a user's counts and the GSI1/GSI2 partition of the user's sessions."""
    return f"USER#{user_id}"


def namespace_pk(namespace: str) -> str:
    """GSI3 partition of a namespace's sessions (every user's)."""
    return f"NS#{namespace}"


def namespace_user_prefix(user_id: str) -> str:
    """GSI3 sort-key prefix of one user's sessions in a namespace (a user id holds no ``#``, so no other user's
    key starts with it)."""
    return f"{user_id}#"


USER_STATE_PREFIX = "USTATE#"
"""Sort-key prefix of a user's state document of a namespace, in the user's partition: it sorts after every other
item there (``COUNTS``, ``MODEL#``, ``USAGE``), so the usage Query stops before it (``SK <`` the prefix)."""
NAMESPACE_STATE_SK = "STATE"
"""Sort key of a namespace's state document (partition ``NS#<namespace>``)."""


def user_state_key(user_id: str, namespace: str | None) -> dict[str, Any]:
    """Primary key of the user's state document in ``namespace`` (``None``: the sessions of no namespace; a
    namespace is never empty, so ``USTATE#`` alone names none)."""
    return key(user_pk(user_id), f"{USER_STATE_PREFIX}{namespace or ''}")


def user_state_namespace(sort_key: str) -> str | None:
    """The namespace a user's state document's sort key names (``None``: the sessions of none)."""
    return sort_key[len(USER_STATE_PREFIX) :] or None


def namespace_state_key(namespace: str) -> dict[str, Any]:
    """Primary key of a namespace's state document (shared by every user of the namespace)."""
    return key(namespace_pk(namespace), NAMESPACE_STATE_SK)


def user_counts_key(user_id: str) -> dict[str, Any]:
    """Primary key of a user's counts item (:func:`count_attribute`)."""
    return key(user_pk(user_id), COUNTS_SK)


def user_usage_key(user_id: str) -> dict[str, Any]:
    """Primary key of a user's usage item (``USER#<user_id>``/``USAGE``; in the user's partition, so erasing the
    partition erases it). It holds ``sessions``, ``active_sessions``, ``messages``, ``tokens``, ``cost`` and
    the per-model attributes of :func:`usage_attribute`; the stream function keeps it."""
    return key(user_pk(user_id), USAGE_SK)


def model_usage_key(user_id: str, pair: str) -> dict[str, Any]:
    """Primary key of a user's usage of one (provider, model) ``pair`` (:func:`model_pair`): an item of its own
    in the user's partition (``MODEL#<sha256 of the pair, 32 hex digits>``), so neither an item nor an update
    expression grows with the number of models a user names (DynamoDB: 400 KB an item, 4 KB an expression)."""
    digest = hashlib.sha256(pair.encode("utf-8")).hexdigest()[:32]
    return key(user_pk(user_id), f"{MODEL_USAGE_PREFIX}{digest}")


def namespace_usage_key(user_id: str, namespace: str) -> dict[str, Any]:
    """Primary key of a user's usage of the sessions of one ``namespace`` (``USER#<user_id>``/``USAGE#NS#<namespace>``;
    in the user's partition, so erasing the partition erases it). It holds the totals of :func:`user_usage_key`."""
    return key(user_pk(user_id), f"{NAMESPACE_USAGE_PREFIX}{namespace}")


def namespace_usage_index_keys(user_id: str, namespace: str) -> dict[str, str]:
    """GSI3 keys of a user's usage item of ``namespace``: ``NSUSAGE#<namespace>`` and the user id, so a namespace's
    usage is read by user (a partition apart from the namespace's sessions, ``NS#<namespace>``)."""
    return {f"{GSI_NAMESPACE}PK": namespace_usage_index_pk(namespace), f"{GSI_NAMESPACE}SK": user_id}


def namespace_usage_index_pk(namespace: str) -> str:
    """GSI3 partition of the usage items of a namespace (every user's)."""
    return f"NSUSAGE#{namespace}"


def namespace_of_usage_sk(sort_key: str) -> str | None:
    """The namespace a user's per-namespace usage item is about (inverse of :func:`namespace_usage_key`'s sort key),
    or ``None`` for any other sort key."""
    return sort_key[len(NAMESPACE_USAGE_PREFIX) :] if sort_key.startswith(NAMESPACE_USAGE_PREFIX) else None


def erasure_key(user_id: str) -> dict[str, Any]:
    """Primary key of the progress record of a user's erasure (outside the user's partition, which it outlives)."""
    return key(f"{ERASURE_PREFIX}{user_id}", ERASURE_SK)


def erasure_count_key(user_id: str, session_id: str) -> dict[str, Any]:
    """Primary key of the count of an erased session's items (written before they are deleted, deleted when the
    session is counted as cleared), beside the erasure's progress record."""
    return key(f"{ERASURE_PREFIX}{user_id}", f"{ERASURE_COUNT_PREFIX}{session_id}")


def erasure_user_of(partition_key: str, sort_key: str) -> str | None:
    """The user id an erasure progress record's key names (inverse of :func:`erasure_key`), or ``None``."""
    if sort_key != ERASURE_SK or not partition_key.startswith(ERASURE_PREFIX):
        return None
    return partition_key[len(ERASURE_PREFIX) :] or None


def mark_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's stream applied mark."""
    return key(f"{MARK_PREFIX}{session_id}", MARK_SK)


def idempotency_pk(caller: str) -> str:
    """Partition key of a caller's idempotency records (Powertools' ``static_pk_value``)."""
    return f"{IDEMPOTENCY_PREFIX}{caller}"


def message_start(created_at: str) -> str:
    """Sort key below every message created at or after ``created_at`` (an incarnation's first)."""
    return f"{MESSAGE_PREFIX}{created_at}"


def memory_prefix(memory_type: MemoryType | None) -> str:
    """Sort-key prefix of a session's memory records, of one type or of all."""
    return f"{MEMORY_PREFIX}{memory_type.value}#" if memory_type else MEMORY_PREFIX


def status_index_prefix(status: SessionStatus) -> str:
    """GSI2 sort-key prefix of a user's sessions in ``status``."""
    return f"{status.value}#"


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOW_62 = (1 << 62) - 1


def micros_of(moment: datetime) -> int:
    """``moment`` in whole microseconds since the epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def time_ordered_id(created: datetime, seed: str) -> str:
    """The id of a message the server names, created at ``created``: an RFC 9562 UUIDv7 whose 48-bit Unix
    milliseconds and 12-bit ``rand_a`` (the microsecond within the millisecond, the RFC's method 3 of increased
    clock precision) hold ``created`` to the microsecond, and whose 62 random bits are the uuid ``seed``'s (a
    random uuid). The message's sort key is derivable from it (:func:`message_sk_of_id`)."""
    micros = micros_of(created)
    millis, within = divmod(micros, 1000)
    number = millis << 80 | 0x7 << 76 | within << 64 | 0b10 << 62 | uuid.UUID(seed).int & _LOW_62
    return str(uuid.UUID(int=number))


def message_sk_of_id(message_id: str) -> str | None:
    """The sort key a message with the time-ordered id ``message_id`` (:func:`time_ordered_id`) has when the server
    named it; ``None`` for any other id (a client's choice may look time-ordered too: the key it names then holds
    no message, and the id's ``MID#`` item names the message's)."""
    try:
        number = uuid.UUID(message_id).int
    except ValueError:
        return None
    within = number >> 64 & 0xFFF
    if number >> 76 & 0xF != 0x7 or number >> 62 & 0b11 != 0b10 or within >= 1000:
        return None
    created = _EPOCH + timedelta(milliseconds=number >> 80, microseconds=within)
    return message_sk(iso(created), str(uuid.UUID(int=number)))


def message_id_of(message_sort_key: str) -> str:
    """The message id a message's sort key ends with (:func:`message_sk`)."""
    return message_sort_key.rsplit("#", 1)[1]


def message_id_key(session_id: str, message_id: str) -> dict[str, Any]:
    """Primary key (DynamoDB JSON) of the item reserving a client-chosen ``message_id`` in a session."""
    return key(session_pk(session_id), f"{MESSAGE_ID_PREFIX}{message_id}")


def index_keys(item: dict[str, Any]) -> dict[str, str]:
    """The GSI sort keys a hot item should have: its ``last_activity``, ``<status>#<last_activity>``, and, for a
    session in a namespace, ``<user_id>#<last_activity>``."""
    activity = str(item["last_activity"])
    wanted = {f"{GSI_ACTIVITY}SK": activity, f"{GSI_STATUS}SK": f"{item['status']}#{activity}"}
    if item.get("namespace"):
        wanted[f"{GSI_NAMESPACE}SK"] = f"{namespace_user_prefix(str(item['user_id']))}{activity}"
    return wanted


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
