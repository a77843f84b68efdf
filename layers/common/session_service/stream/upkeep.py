"""What the stream keeps current beside the counts: the sessions' index keys and their summaries (SPEC section 6).

* **Index keys**: a session's GSI sort keys (its activity, for the listings) move here, not in the append: when a
  session record shows its ``last_activity`` a minute or more past its keys
  (:func:`~session_service.data.keys.index_lags`), the newest such record of the batch moves them, conditioned on the
  item still being as that record left it, so a key never moves back in time.
* **Summaries**: when a session's ``message_count`` reaches a
  :func:`~session_service.stream.records.summary_point`, its summary is made once per batch from its last
  :data:`SUMMARY_HISTORY` messages into the session's summary item, which the commit puts on the condition that it
  never replaces a summary of newer messages (:func:`~session_service.stream.commit.summary_put`). A summary that
  would cover no newer message than the stored one is not made. The session item is not written, so a summary
  costs appends nothing.

The index moves and summaries of a batch are independent single-item work, made concurrently on one thread pool
kept for the process (:func:`pool`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any

from session_service import rules
from session_service.data import dynamo, items, keys, reads
from session_service.data.dynamo import ConditionFailed, deserialize, serialize
from session_service.errors import ServiceUnavailable
from session_service.stream.records import IndexMove
from session_service.summarizer import Summarizer, Turn, message_text

SUMMARY_HISTORY = 50
"""Messages read (newest first) to make a summary."""
MAINTENANCE_WORKERS = 8
"""Concurrent index moves and summaries of one batch (independent single-item work)."""


@cache
def pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads kept for the process (a warm Lambda container reuses it between batches)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stream")


class Upkeep:
    """Moves lagging index keys and makes summaries (see the module docstring).

    ``client`` is a low-level DynamoDB client, ``table`` the session table, ``summarizer`` makes summaries from the
    newest ``history`` messages; ``workers`` threads do a batch's work concurrently; ``sleep`` is injectable for
    tests.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        summarizer: Summarizer,
        *,
        history: int = SUMMARY_HISTORY,
        workers: int = MAINTENANCE_WORKERS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        self._summarizer = summarizer
        self._history = history
        self._workers = workers
        self._sleep = sleep

    # -- index keys -----------------------------------------------------------------------------------

    def move_indexes(self, moves: Sequence[IndexMove]) -> int:
        """Make ``moves`` concurrently; returns the moves made. Raises what a write raises after its own retries
        (Lambda then retries the batch)."""
        return sum(int(moved) for moved in pool(self._workers).map(self.move_index, moves))

    def move_index(self, move: IndexMove) -> bool:
        """Set a hot item's GSI sort keys to its ``last_activity`` (``move.keys``); True when written.

        Conditioned on the item still being the incarnation, status and ``last_activity`` the image showed,
        so a move never takes an index key back in time: when the session changed since, its newer record
        moves the keys. A conflict with a concurrent append is retried.
        """
        names = {f"#k{i}": name for i, name in enumerate(move.keys)}
        values = {f":k{i}": value for i, value in enumerate(move.keys.values())}
        values.update({":incarnation": move.incarnation, ":status": move.status, ":activity": move.last_activity})
        for attempt in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
            try:
                dynamo.conditional(
                    self._client,
                    "update_item",
                    TableName=self._table,
                    Key=keys.session_key(move.session_id),
                    UpdateExpression="SET " + ", ".join(f"#k{i} = :k{i}" for i in range(len(names))),
                    ConditionExpression=(
                        "created_at = :incarnation AND #status = :status AND last_activity = :activity"
                    ),
                    ExpressionAttributeNames={**names, "#status": "status"},
                    ExpressionAttributeValues=serialize(values),
                )
                return True
            except ConditionFailed:
                return False
            except ServiceUnavailable:  # a concurrent append's transaction, or throttling
                if attempt == dynamo.MAX_TRANSACTION_ATTEMPTS - 1:
                    raise
                self._sleep(min(1.0, 0.02 * 2**attempt))
        return False  # pragma: no cover - the loop returns or raises

    # -- summaries ------------------------------------------------------------------------------------

    def read_histories(self, hots: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Future[list[dict[str, Any]]]]:
        """Start reading the newest messages of each of ``hots`` ((session id, its image) in record order), on the
        pool; returns the reads under way by session id (a session's last image's)."""
        return {session_id: pool(self._workers).submit(self.newest_messages, hot) for session_id, hot in hots}

    def make_summaries(
        self,
        due: dict[str, tuple[dict[str, Any], bool]],
        histories: dict[str, Future[list[dict[str, Any]]]],
        stored: dict[str, dict[str, Any]],
    ) -> tuple[dict[str, dict[str, Any]], Exception | None]:
        """New summary items of the sessions that are due (session id -> its newest image, and whether to check
        first that the stored summary does not already cover it; ``histories`` holds the reads of their newest
        messages, under way; ``stored`` their stored summaries as read), made concurrently. Returns them by
        session id, and the first failure (a summarizer's or DynamoDB's error) for the caller to raise once the
        counts are committed."""
        made = {
            session_id: pool(self._workers).submit(
                self.summary_of,
                session_id,
                image,
                histories[session_id].result,
                stored.get(session_id, {}),
                unless_covered=check,
            )
            for session_id, (image, check) in due.items()
        }
        summaries: dict[str, dict[str, Any]] = {}
        failure: Exception | None = None
        for session_id, future in made.items():
            try:
                item = future.result()
            except Exception as exc:  # raised again once the counts are committed
                failure = failure or exc
                continue
            if item is not None:
                summaries[session_id] = item
        return summaries, failure

    def summary_of(
        self,
        session_id: str,
        hot: dict[str, Any],
        history: Callable[[], list[dict[str, Any]]],
        stored: dict[str, Any],
        *,
        unless_covered: bool,
    ) -> dict[str, Any] | None:
        """A new summary item for the session ``hot`` (its hot item) shows, or ``None`` when it has no messages or
        the stored summary (``stored``, ``{}`` for none) covers it already: with ``unless_covered``, its
        ``message_count``; always, the newest message read (the conditional write would keep the stored one).
        ``history`` gives its newest messages, newest first (:meth:`newest_messages`); it is not called when the
        stored summary covers ``message_count``."""
        incarnation = str(hot["created_at"])
        summary = stored if stored and stored.get("created_at") == incarnation else {}
        if unless_covered and summary and int(summary.get("summary_messages", 0)) >= int(hot.get("message_count", 0)):
            return None
        messages = history()
        if not messages:
            return None
        newest = str(messages[0]["SK"])
        if str(summary.get("summary_through", "")) >= newest:
            return None
        turns = [
            Turn(str(m.get("role", "")), message_text(str(m.get("content", "")), m.get("data")))
            for m in reversed(messages)
        ]
        return items.summary_item(
            session_id, incarnation, self._summarizer.summarize(turns), newest, int(hot.get("message_count", 0))
        )

    def newest_messages(self, hot: dict[str, Any]) -> list[dict[str, Any]]:
        """The newest ``history`` messages of the session ``hot`` (its hot item) describes, newest first, without
        those in its cuts."""
        query = reads.messages_query(self._table, hot, newest_first=True)
        response = dynamo.call(self._client, "query", **query, Limit=self._history)
        return [m for m in map(deserialize, response.get("Items", [])) if rules.visible(str(m["SK"]), hot)]
