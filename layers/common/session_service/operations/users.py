"""A user's data as a whole, and the service's: erasure (request and progress), usage, statistics, health."""

from __future__ import annotations

from typing import Any

from session_service.data.actions import transact
from session_service.data.dynamo import ConditionFailed, TransactionCanceled, serialize
from session_service.data.items import erasure_from_item
from session_service.data.keys import (
    COUNTS_SK,
    GSI_NAMESPACE,
    STATS_KEY,
    USER_STATE_PREFIX,
    erasure_key,
    namespace_usage_index_pk,
    parse_iso,
    stats_key,
    user_counts_key,
    user_pk,
)
from session_service.data.service_actions import ErasureNudge, ErasureStart, MarkErasing
from session_service.data.stats import STATS_SHARDS, erasing, namespace_user_usage, stats_from_items, usage_from_items
from session_service.errors import ErasureNotFound, ServiceUnavailable
from session_service.models import Erasure, ErasureStatus, NamespaceUsageList, Stats, Usage
from session_service.operations import Store

ERASURE_STALL_SECONDS = 300
"""How long a running erasure's progress may stay still before a request of its user restarts it
(:func:`nudge_if_stalled`): longer than Lambda's retries of a failing stream batch (5 attempts with backoff), after
which a record is sent to the on-failure queue and nothing else would move the erasure on."""


def erase_user(store: Store, caller: str) -> None:
    """DELETE /users/{user_id}: erase everything of ``caller`` (GDPR article 17); returns at once.

    One transaction: the erasure's progress record (``status`` erasing; conditioned on no erasure of the
    user running, so a repeated request writes nothing) and :data:`~session_service.data.stats.ERASING` on the
    caller's counts item. From then on every reader of the caller's data reads that mark and finds nothing
    (:func:`~session_service.data.reads.session_items`, the listing), and a create is refused
    (:class:`~session_service.errors.UserErasing`). The stream function does the rest in the background, driven
    by the progress record's own stream records (:mod:`session_service.stream.erasure`): it turns the user's sessions
    into tombstones, lets the session clean-up delete their items, then deletes the user's counts, usage and
    idempotency records, and marks the record ``erased``. Asked again while it runs, it is that erasure, restarted
    when stalled (:func:`nudge_if_stalled`). Raises :class:`ServiceUnavailable` when DynamoDB keeps refusing.
    """
    now = store.clock()
    try:
        transact(store.table, [ErasureStart(caller, now), MarkErasing(caller, now)])
    except TransactionCanceled as canceled:
        if not canceled.failed(0):
            raise ServiceUnavailable() from canceled
        # An erasure of the caller runs already: this request is that one.
        running = canceled.item(0) or store.table.get(erasure_key(caller), consistent=True)
        if running is not None:
            nudge_if_stalled(store, caller, running)


def nudge_if_stalled(store: Store, caller: str, progress: dict[str, Any]) -> bool:
    """Restart ``caller``'s running erasure when its progress record ``progress`` (as read) has not moved for
    :data:`ERASURE_STALL_SECONDS` (no pass since, nor a nudge): a stream record of it was lost (sent to the
    on-failure queue once Lambda's retries ran out), and nothing else would bring the next pass. Touches the record
    (:class:`~session_service.data.service_actions.ErasureNudge`, conditioned on it being as read), whose stream record
    brings a pass. Returns True when this request nudged it."""
    if progress.get("status") != ErasureStatus.ERASING.value:
        return False
    moved = max(str(progress[name]) for name in ("started_at", "moved_at", "nudged_at") if name in progress)
    now = store.clock()
    if (now - parse_iso(moved)).total_seconds() < ERASURE_STALL_SECONDS:
        return False
    try:
        store.table.update(ErasureNudge(caller, now, progress).render(store.table.name)["Update"])
    except ConditionFailed:
        return False  # it moved meanwhile, or another request nudged it
    return True


def erasure(store: Store, caller: str) -> Erasure:
    """GET /users/{user_id}/erasure: the progress of the caller's latest erasure (its record, read consistently).

    A running erasure whose progress stalled is restarted (:func:`nudge_if_stalled`): the user's next look at it
    drives it on. Raises :class:`ErasureNotFound` when none was asked for (or its record expired, 30 days after it
    finished)."""
    item = store.table.get(erasure_key(caller), consistent=True)
    if item is None:
        raise ErasureNotFound()
    nudge_if_stalled(store, caller, item)
    return erasure_from_item(caller, item)


def get_stats(store: Store) -> Stats:
    """Service-wide statistics as the stream function keeps them: the ``STATS`` shards, read in one BatchGetItem and
    summed (:data:`~session_service.data.stats.STATS_SHARDS`)."""
    return stats_from_items(store.table.batch_get([stats_key(shard) for shard in range(STATS_SHARDS)]))


def get_usage(store: Store, user_id: str) -> Usage:
    """The user's usage as the stream function keeps it (:func:`~session_service.data.stats.usage_from_items`):
    one Query of the user's partition (eventually consistent: the stream writes it, not the request) reads the
    usage item (totals), the per-model usage items and the counts (zeros while the user's data is being erased:
    gone for every reader, SPEC section 9)."""
    # The user's state documents sort after every usage item: the Query stops before them.
    values = serialize({":pk": user_pk(user_id), ":state": USER_STATE_PREFIX})
    query = {"KeyConditionExpression": "PK = :pk AND SK < :state", "ExpressionAttributeValues": values}
    return usage_from_items(user_id, store.table.query_all(query))


def get_namespace_usage(
    store: Store, namespace: str, *, page_size: int = 50, next_token: str | None = None
) -> NamespaceUsageList:
    """A page of ``namespace``'s usage by user (a trusted caller's read), in user id order: one Query of GSI3
    (``GSI3PK = NSUSAGE#<namespace>``, keys only) and one BatchGetItem of the page's usage items and their owners'
    counts (a user being erased shows none), whatever the namespace holds. Rows that hold nothing are left out, so a
    page may be shorter than ``page_size``. Raises :class:`~session_service.errors.InvalidCursor` for a foreign or
    altered cursor."""
    scope = f"namespace-usage|{namespace}|{page_size}"
    pk = namespace_usage_index_pk(namespace)
    items, cursor = store.index_page(GSI_NAMESPACE, pk, scope, page_size, next_token)
    row_keys = [{"PK": raw["PK"], "SK": raw["SK"]} for raw in items]
    owners = [str(raw[f"{GSI_NAMESPACE}SK"]["S"]) for raw in items]
    found = {
        (item["PK"], item["SK"]): item
        for item in store.table.batch_get([*row_keys, *(user_counts_key(owner) for owner in owners)])
    }
    rows = []
    for owner, row_key in zip(owners, row_keys, strict=True):
        item = found.get((row_key["PK"]["S"], row_key["SK"]["S"]))
        if item is None or erasing(found.get((user_pk(owner), COUNTS_SK))):
            continue
        row = namespace_user_usage(owner, item)
        if row.sessions or row.active_sessions or row.messages or row.tokens or row.cost:
            rows.append(row)
    return NamespaceUsageList(namespace=namespace, users=rows, next_token=cursor)


def ping(store: Store) -> bool:
    """True when the table answers a read (used by ``GET /health/detailed``)."""
    return store.table.answers(STATS_KEY)
