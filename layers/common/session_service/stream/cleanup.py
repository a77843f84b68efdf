"""What the stream deletes: a removed session's contents, its tombstone and applied mark, and the messages a request
cut (SPEC section 6).

* **TTL expiry**: a REMOVE by the TTL service deletes the session's messages and memory records before its mark
  moves, so a crash in between repeats the deletion. Only items created before the session's final
  ``expires_at`` are deleted: a new session that reuses the id after the removal keeps its own.
* **Permanent delete** (and an erasure's tombstones): the tombstone's MODIFY deletes the partition's items of that
  incarnation: those created before :func:`~session_service.data.items.tombstone_bound`, and those a request that
  committed before the tombstone wrote with a later time, up to a later incarnation of the id (which keeps its own);
  then, once the batch's counts are committed (a retry must still find the incarnation), the tombstone itself while
  it is still that tombstone.
* **Forgetting a session**: when a session's hot item leaves the table (a tombstone deleted here, or any item TTL
  removed), its applied mark is deleted too, conditioned on being that incarnation's, so nothing of the session is
  left. An erasure's session is counted in the erasure's progress in the same transaction, with its items
  (``items_deleted``: its contents as counted before they were deleted, its hot item and its mark): exactly once.
* **Cuts**: the items in the ranges a request cut (deleted messages, their chunks and reserved ids), at most
  :data:`MAX_CUT_ITEMS` per cut and batch.
* **A streamed reply's chunks**: once the reply is finalized (its chunks are its content now) or deleted, as its
  record shows; no cut waits for them, so finalizing a reply never waits for the stream function.

Every deletion is idempotent or conditioned, so a record delivered again deletes nothing twice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from session_service.data import actions as table_actions
from session_service.data import dynamo, items
from session_service.data import keys as table_keys
from session_service.data.dynamo import ConditionFailed, TransactionCanceled, deserialize, serialize
from session_service.data.stats import MARK_APPLIED
from session_service.models import MAX_CHUNK_INDEX
from session_service.stream.commit import read_stored
from session_service.stream.records import Change

MAX_CUT_ITEMS = 5_000
"""Items of one cut deleted per batch; the rest follow through the stream record of the cut's progress."""


class Cleanup:
    """Deletes what a batch's records leave behind (see the module docstring).

    ``client`` is a low-level DynamoDB client, ``table`` the session table, ``sleep`` injectable for tests. DynamoDB
    failures propagate (Lambda then retries the batch).
    """

    def __init__(self, client: Any, table: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._table = table
        self._sleep = sleep

    def delete_contents(
        self, session_id: str, created_before: str, deleted: str | None = None, erased_by: str | None = None
    ) -> int:
        """Delete every item of a session's partition created before ``created_before`` (ISO time): the content of
        a session that TTL removed, that an expired id's new session replaced, or that was deleted for good.
        Returns the number of items deleted; idempotent.

        A new session that reuses the id is created after ``created_before`` and keeps everything of its own. A hot
        item is never deleted here: an old one left is a tombstone, deleted by :meth:`delete_tombstone` once the
        batch's counts are committed (until then its incarnation is in the table, so a retried batch still applies
        the session's records).

        ``deleted``: the incarnation (``created_at``) a tombstone ended. A request that committed before the
        tombstone may have drawn a later time than the delete (an append or a memory record racing it), so the items
        at or after ``created_before`` go too, unless a later incarnation of the id owns them: the hot item, read
        after the partition, is then that incarnation's, and only the items created before it go (an item of a
        later incarnation is written after its hot item, so after that read when the Query missed it). The read
        is made only when the partition holds such items. For an erasure's session (``erased_by``: the user), the
        items to delete are counted first (:meth:`count_erased`), so what a failed batch deleted is counted too.
        """
        keys, later = [], []
        for raw in dynamo.query_keys(self._client, self._table, table_keys.session_pk(session_id), "created_at"):
            if raw["SK"]["S"] == table_keys.SESSION_SK or "created_at" not in raw:
                continue
            created = raw["created_at"]["S"]
            if created < created_before:
                keys.append({"PK": raw["PK"], "SK": raw["SK"]})
            elif deleted is not None:
                later.append((created, {"PK": raw["PK"], "SK": raw["SK"]}))
        if later:
            end = self._incarnation_after(session_id, deleted)
            keys += [key for created, key in later if created < end]
        if erased_by is not None:
            self.count_erased(erased_by, session_id, len(keys))
        return dynamo.delete_keys(self._client, self._table, keys, sleep=self._sleep)

    def _incarnation_after(self, session_id: str, incarnation: str | None) -> str:
        """The ``created_at`` of the session's hot item when it is an incarnation later than ``incarnation``; else
        (the tombstone, or no hot item) a time above every item's."""
        response = dynamo.call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=table_keys.session_key(session_id),
            ProjectionExpression="created_at",
            ConsistentRead=True,
        )
        created = str(response.get("Item", {}).get("created_at", {}).get("S", ""))
        return created if incarnation is not None and created > incarnation else "~"

    def count_erased(self, user_id: str, session_id: str, found: int) -> None:
        """Keep the count of an erased session's items ``found`` before they are deleted, once: the first count
        stays (a batch delivered again after its deletes finds fewer), until :meth:`forget` adds it to the erasure's
        progress and deletes it in one transaction."""
        dynamo.call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=table_keys.erasure_count_key(user_id, session_id),
            UpdateExpression="SET items_found = if_not_exists(items_found, :n)",
            ExpressionAttributeValues=serialize({":n": found}),
        )

    def delete_tombstone(self, session_id: str, incarnation: str) -> int:
        """Delete a session's hot item while it is still the tombstone of ``incarnation`` (a create may have
        taken the id over meanwhile); return 1 when deleted, else 0. Its removal comes back through the stream
        and changes nothing (:func:`~session_service.stream.records.contribution` of a tombstone is zero)."""
        try:
            dynamo.conditional(
                self._client,
                "delete_item",
                TableName=self._table,
                Key=table_keys.session_key(session_id),
                ConditionExpression="created_at = :incarnation AND #status = :deleted",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize({":incarnation": incarnation, ":deleted": items.DELETED_STATUS}),
            )
        except ConditionFailed:
            return 0
        return 1

    def forget(self, change: Change) -> int:
        """A session's hot item left the table (TTL removed it, or its tombstone was deleted): delete its applied
        mark, which nothing needs any more (no record of that incarnation can follow the removal, and Lambda
        hands the removal over only once the batches before it succeeded; a record delivered again finds no
        mark and no incarnation, and is skipped: :func:`~session_service.stream.records.still_there`). Conditioned
        on the mark being that incarnation's (a later one of the id keeps its own). An erasure's session is counted
        as cleaned (``sessions_cleared``) in the same transaction, so exactly once. Returns the items deleted (0 or
        1)."""
        incarnation = change.mark.split("#", 1)[0]
        marks = read_stored(self._client, self._table, [change.session_id], sleep=self._sleep).marks
        if not marks.get(change.session_id, "").startswith(f"{incarnation}#"):
            return 0  # forgotten already (a record delivered again), or never applied
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": table_keys.mark_key(change.session_id),
                    "ConditionExpression": f"begins_with({MARK_APPLIED}, :incarnation)",
                    "ExpressionAttributeValues": serialize({":incarnation": f"{incarnation}#"}),
                }
            }
        ]
        if change.by_erasure:
            count_key = table_keys.erasure_count_key(change.user_id, change.session_id)
            found = dynamo.call(self._client, "get_item", TableName=self._table, Key=count_key, ConsistentRead=True)
            contents = int(deserialize(found["Item"])["items_found"]) if found.get("Item") else 0
            # The session's items: its contents (counted before they were deleted), its hot item, this mark.
            progress = {"sessions_cleared": 1, "items_deleted": contents + 2}
            actions.append({"Delete": {"TableName": self._table, "Key": count_key}})
            actions.append(table_actions.add_action(self._table, table_keys.erasure_key(change.user_id), progress))
        try:
            dynamo.transact_write(self._client, actions, sleep=self._sleep)
        except TransactionCanceled:
            return 0  # forgotten meanwhile by another delivery
        return 1

    def delete_chunks(self, session_id: str, message_sort_key: str) -> int:
        """Delete the chunks of the streamed reply ``message_sort_key`` of a session (finalized or deleted: nothing
        reads them any more, and none can be added: a chunk's write is conditioned on the reply's version); return
        the number deleted. Idempotent (a record delivered again finds none)."""
        query = self._range_query(session_id, *table_keys.chunk_range(message_sort_key), "PK, SK")
        found = dynamo.query_keys_where(self._client, query, limit=MAX_CHUNK_INDEX + 1)
        return dynamo.delete_keys(self._client, self._table, list(found), sleep=self._sleep)

    def _range_query(self, session_id: str, first: str, last: str, projection: str) -> dict[str, Any]:
        """The consistent Query of the session's items with sort keys from ``first`` to ``last``, projected."""
        return {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": serialize(
                {":pk": table_keys.session_pk(session_id), ":first": first, ":last": last}
            ),
            "ProjectionExpression": projection,
            "ConsistentRead": True,
        }

    def clear_cuts(self, session_id: str, hot: dict[str, Any]) -> int:
        """Delete the items in each cut of the session's hot item ``hot`` (deleted messages, their chunks and
        reserved ids) and remove the cut; return the number of items deleted.

        Readers skip a cut from the moment it is written, so this only frees the table. At most
        :data:`MAX_CUT_ITEMS` items per cut and batch: a larger cut counts the pass in the hot item (``passes``),
        and that write's stream record brings the rest. Idempotent (a cut already removed deletes nothing).
        """
        deleted = 0
        for cut_id, cut in (hot.get("cuts") or {}).items():
            keys: list[dict[str, Any]] = []
            # The chunks first: a message is deleted once nothing of it is left behind.
            messages, chunks = table_keys.cut_ranges(str(cut["from"]), str(cut["to"]))
            for low, high in (chunks, messages):
                if len(keys) >= MAX_CUT_ITEMS:
                    break
                query = self._range_query(session_id, low, high, "PK, SK, body_hash")
                for found in map(deserialize, dynamo.query_keys_where(self._client, query, limit=MAX_CUT_ITEMS + 1)):
                    if len(keys) >= MAX_CUT_ITEMS:
                        break
                    keys.append(table_keys.key(str(found["PK"]), str(found["SK"])))
                    if found.get("body_hash") is not None:  # a client-chosen id's reservation goes with it
                        message_id = table_keys.message_id_of(str(found["SK"]))
                        keys.append(table_keys.message_id_key(session_id, message_id))
            done = len(keys) < MAX_CUT_ITEMS
            deleted += dynamo.delete_keys(self._client, self._table, keys, sleep=self._sleep)
            # Done: the cut goes. Not yet: the cut counts this pass, a change of the hot item whose stream
            # record brings the rest (what was deleted is not found again).
            progress = "SET cuts.#cut.passes = if_not_exists(cuts.#cut.passes, :zero) + :one"
            with contextlib.suppress(ConditionFailed):  # removed by another delivery of a record
                dynamo.conditional(
                    self._client,
                    "update_item",
                    TableName=self._table,
                    Key=table_keys.session_key(session_id),
                    UpdateExpression="REMOVE cuts.#cut" if done else progress,
                    ConditionExpression="attribute_exists(cuts.#cut)",
                    ExpressionAttributeNames={"#cut": cut_id},
                    **({} if done else {"ExpressionAttributeValues": serialize({":zero": 0, ":one": 1})}),
                )
        return deleted
