"""A user's erasure (GDPR article 17, SPEC section 9), carried out by the stream function in the background.

The request (:func:`~session_service.operations.users.erase_user`) writes two things: the erasure's
progress record (``ERASURE#<user_id>``, :func:`~session_service.data.items.erasure_item`) and the mark
:data:`~session_service.data.stats.ERASING` on the user's counts item, which every reader of the user's data reads:
the data is gone for readers from that moment, whatever its amount. The rest is driven by the progress record's
own stream records, one *pass* per record, so no request and no Lambda invocation waits for thousands of writes:

1. **Tombstones.** A pass reads up to :data:`SESSIONS_PER_PASS` of the user's sessions (GSI1; their hot items
   read consistently, expired ones included) and turns them into tombstones marked
   :data:`~session_service.data.items.ERASED_BY` in one transaction, with the user's counts and the progress record
   (``sessions_erased``, ``passes``: conditioned on the pass read, so two deliveries of a record cannot both
   apply it). That write's stream record brings the next pass.
2. **Clean-up.** Each tombstone's own stream record runs the session clean-up every permanent delete runs
   (:mod:`~session_service.stream.cleanup`): the statistics and the user's usage lose the session exactly once, its
   items and then the tombstone are deleted; the tombstone's removal deletes the session's applied mark and
   counts the session in ``sessions_cleared``, in one transaction conditioned on that mark, so exactly once.
   Each count moves the progress record, whose stream record brings a pass.
3. **The user's own items.** A pass that finds no session left, the user's counts at zero sessions (a session
   created just before the erasure may still be missing from GSI1, which is eventually consistent) and every
   tombstone cleaned, deletes the user's partition (counts, usage) and idempotency partition, then marks the
   record ``erased``, to expire (TTL) :data:`~session_service.data.items.ERASURE_RETENTION_SECONDS` later. Only that
   record stays: the user id and counts.

Every step is idempotent or conditioned, so a replayed or duplicated stream record changes nothing twice.

**A lost record.** A stream record of the progress that Lambda gives up on (retries exhausted: sent to the
on-failure queue) brings no pass, and nothing else might: the erasure would stay ``erasing``. Each pass's write sets
``moved_at``; a request of the user (``GET /users/{u}/erasure``, or ``DELETE /users/{u}`` again) that finds the
record still for :data:`~session_service.operations.users.ERASURE_STALL_SECONDS` touches it
(:class:`~session_service.data.service_actions.ErasureNudge`: ``nudged_at``, ``nudges``), and that MODIFY
record, like any move of a running erasure's progress, brings a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from session_service.data import actions as table_actions
from session_service.data import dynamo, items, reads, stats
from session_service.data import keys as table_keys
from session_service.data.dynamo import ConditionFailed, TransactionCanceled, deserialize, serialize
from session_service.models import ErasureStatus

SESSIONS_PER_PASS = 50
"""Sessions turned into tombstones per pass: one transaction of at most 52 actions (DynamoDB allows 100)."""
INDEX_LAG_SECONDS = 1.0
"""How long a pass waits before asking for another when the counts still hold sessions GSI1 does not show yet."""
MAX_PASS_ATTEMPTS = 3
"""Re-reads of a pass whose sessions changed under it (a status change) before it asks for another pass."""


class Eraser:
    """Carries out the passes of users' erasures (see the module docstring).

    ``client`` is a low-level DynamoDB client, ``table_name`` the session table; ``clock`` (epoch seconds) and
    ``sleep`` are injectable for tests. DynamoDB failures propagate (Lambda then retries the stream batch).
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._sleep = sleep

    def advance(self, user_id: str) -> int:
        """Run one pass of ``user_id``'s erasure, if it still runs; return the items it wrote or deleted.

        A pass that has nothing to do yet (tombstones not cleaned) writes nothing: the clean-up's own writes to
        the progress record bring the next one.
        """
        progress = self._read(table_keys.erasure_key(user_id))
        if progress is None or progress.get("status") != ErasureStatus.ERASING.value:
            return 0
        for _ in range(MAX_PASS_ATTEMPTS):
            hots = self._next_sessions(user_id)
            if not hots:
                break
            try:
                self._tombstone(user_id, hots, progress)
            except TransactionCanceled as canceled:
                if canceled.failed(len(hots) + 1):  # another delivery ran this pass
                    return 0
                continue  # a session changed status (or expired, or was deleted) since the read
            return len(hots)
        else:
            return self._ask_again(progress)
        counts = self._read(table_keys.user_counts_key(user_id)) or {}
        if int(counts.get(stats.count_attribute(None), 0)) > 0:
            # Sessions GSI1 does not show yet (or a TTL removal the stream has not applied): look again soon.
            self._sleep(INDEX_LAG_SECONDS)
            return self._ask_again(progress)
        if int(progress["sessions_cleared"]) < int(progress["sessions_erased"]):
            return 0
        return self._finish(user_id, progress)

    # -- steps ----------------------------------------------------------------------------------------

    def _read(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = dynamo.call(self._client, "get_item", TableName=self._table, Key=key, ConsistentRead=True)
        return deserialize(response["Item"]) if response.get("Item") else None

    def _next_sessions(self, user_id: str) -> list[dict[str, Any]]:
        """Up to :data:`SESSIONS_PER_PASS` hot items of the user's sessions that are not tombstones yet (GSI1 may
        still list sessions already turned; they are skipped)."""
        found: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []

        def read(batch: list[dict[str, Any]]) -> None:
            for hot in dynamo.batch_get(self._client, self._table, batch):
                if hot.get("user_id") == user_id and not items.is_tombstone(hot):
                    found.append(hot)

        for raw in self._index_keys(user_id):
            keys.append({"PK": raw["PK"], "SK": raw["SK"]})
            if len(keys) == SESSIONS_PER_PASS:
                read(keys)
                keys = []
                if len(found) >= SESSIONS_PER_PASS:
                    break
        if keys:
            read(keys)
        return sorted(found, key=lambda hot: str(hot["session_id"]))[:SESSIONS_PER_PASS]

    def _index_keys(self, user_id: str) -> Iterator[dict[str, Any]]:
        return dynamo.query_keys_where(self._client, reads.user_sessions_query(self._table, user_id), limit=100_000)

    def _tombstone(self, user_id: str, hots: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """One transaction: ``hots`` become tombstones (each still the incarnation and status read), the user's
        counts lose them, the progress record counts them (conditioned on the pass read)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        condition = "user_id = :user AND created_at = :incarnation AND #status = :was"
        actions = [
            table_actions.tombstone_action(
                self._table,
                hot,
                now,
                condition,
                {":user": user_id, ":incarnation": hot["created_at"], ":was": hot["status"]},
                erasure=True,
            )
            for hot in hots
        ]
        actions.append(
            table_actions.add_action(self._table, table_keys.user_counts_key(user_id), stats.counts_lost(hots))
        )
        actions.append(self._progress_update(progress, "", "sessions_erased :n, passes :one", {":n": len(hots)}))
        dynamo.transact_write(self._client, actions, sleep=self._sleep)

    def _progress_update(
        self, progress: dict[str, Any], sets: str, adds: str, values: dict[str, Any], *, removes: str = ""
    ) -> dict[str, Any]:
        """A transaction's Update of the progress record (``SET`` ``sets``, ``ADD`` ``adds``), conditioned on its
        pass being the one read; it sets ``moved_at`` (now): a record that stays still for long is a stalled
        erasure, which the user's next request restarts
        (:class:`~session_service.data.service_actions.ErasureNudge`)."""
        moved = f"SET moved_at = :moved{', ' + sets if sets else ''}"
        return {
            "Update": {
                "TableName": self._table,
                "Key": table_keys.erasure_key(str(progress["user_id"])),
                "UpdateExpression": f"{moved} ADD {adds}{' REMOVE ' + removes if removes else ''}",
                "ConditionExpression": "#status = :erasing AND passes = :passes",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize(
                    {
                        **values,
                        ":one": 1,
                        ":erasing": ErasureStatus.ERASING.value,
                        ":passes": int(progress["passes"]),
                        ":moved": table_keys.iso(datetime.fromtimestamp(self._clock(), UTC)),
                    }
                ),
            }
        }

    def _ask_again(self, progress: dict[str, Any]) -> int:
        """Move the progress record (``passes``) so that its stream record brings another pass; return 1 (0 when
        another delivery moved it first)."""
        return self._move_progress(self._progress_update(progress, "", "passes :one", {}))

    def _move_progress(self, update: dict[str, Any]) -> int:
        """Make one :meth:`_progress_update` on its own (a conditional UpdateItem, not a one-item transaction at
        twice the write units); return 1, or 0 when another delivery moved the record first."""
        try:
            dynamo.conditional(self._client, "update_item", **update["Update"])
        except ConditionFailed:
            return 0
        return 1

    def _finish(self, user_id: str, progress: dict[str, Any]) -> int:
        """Delete the user's partition (counts, usage) and idempotency partition, then mark the erasure
        ``erased`` (expiring :data:`~session_service.data.items.ERASURE_RETENTION_SECONDS` later).

        The items are counted on the progress record (``final_items``) before they are deleted, once: a pass run
        again after a failure past the deletes finds fewer, and adds the first count, in the write that marks the
        erasure ``erased`` (conditioned on the pass, so once)."""
        keys = [
            {"PK": raw["PK"], "SK": raw["SK"]}
            for partition in (table_keys.user_pk(user_id), table_keys.idempotency_pk(user_id))
            for raw in dynamo.query_keys(self._client, self._table, partition)
        ]
        try:
            counted = dynamo.conditional(
                self._client,
                "update_item",
                TableName=self._table,
                Key=table_keys.erasure_key(user_id),
                UpdateExpression="SET final_items = if_not_exists(final_items, :n)",
                ConditionExpression="#status = :erasing AND passes = :passes",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(
                    {":n": len(keys), ":erasing": ErasureStatus.ERASING.value, ":passes": int(progress["passes"])}
                ),
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            return 0  # another delivery moved it (or finished it) first
        final_items = int(deserialize(counted["Attributes"])["final_items"])
        deleted = dynamo.delete_keys(self._client, self._table, keys, sleep=self._sleep)
        now = self._clock()
        update = self._progress_update(
            progress,
            "#status = :erased, finished_at = :now, expires_at = :until",
            "items_deleted :n, passes :one",
            {
                ":erased": ErasureStatus.ERASED.value,
                ":now": table_keys.iso(datetime.fromtimestamp(now, UTC)),
                ":until": int(now) + items.ERASURE_RETENTION_SECONDS,
                ":n": final_items,
            },
            removes="final_items",
        )
        return deleted + self._move_progress(update)  # 0: another delivery finished it
