"""The summary function: the table's second stream consumer, which makes the sessions' summaries apart from the
statistics (SPEC section 6: a slow summarizer never delays statistics or usage).

Its event source mapping's filter (``template.yaml``) hands it only the inserts and changes of session hot items; a
record asks for a summary when the session's ``message_count`` passed a
:func:`~session_service.stream.records.summary_point` (:func:`point_passed`), read from the record's raw
``message_count``, ``created_at`` and ``version`` alone: nothing else of an image is deserialised unless its session
is due.

**The rule for summary points** (SPEC section 6: the summary is regenerated after new messages, at the summary
points). Every batch in which a session passed a summary point leaves the session with a summary made at or after
the session's version at that point (one summary per session per batch, made from its newest
:data:`~session_service.stream.upkeep.SUMMARY_HISTORY` messages as its newest record of the batch shows them). A
summary is *made* at least once and *written* at most once per point:

* the write is conditioned never to replace a summary of a newer incarnation or of newer messages
  (:func:`summary_put`);
* the summary item records the session's version it was made at
  (:data:`~session_service.data.stats.SUMMARY_VERSION`), and a point whose version the stored summary reaches is
  covered: a redelivered or replayed batch writes nothing and asks the summarizer nothing, while messages appended
  after a removal (a deleted or popped message, a clear) pass their points again at later versions and get theirs;
* after the write, the hot item is read: a summary whose session was deleted, erased or removed by TTL meanwhile is
  taken back, so a summary never outlives its session (a delete after that read comes after the write: the
  statistics function's clean-up of it finds the summary).

**Failures.** When a summary cannot be made (the summarizer or DynamoDB failed), the others of the batch are
written first and the batch then fails: Lambda retries it and the summaries written already are skipped. The
statistics function is not involved: its batches commit whether or not summaries are made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from session_service.data import dynamo, items
from session_service.data import keys as table_keys
from session_service.data.dynamo import ConditionFailed, deserialize, serialize
from session_service.data.stats import SUMMARY_VERSION
from session_service.observability import logger, metrics
from session_service.stream.records import MalformedRecord, summary_point
from session_service.stream.upkeep import MAINTENANCE_WORKERS, SUMMARY_HISTORY, Upkeep, pool
from session_service.summarizer import Summarizer

SUMMARY_PROJECTION = f"session_id, created_at, summary_through, {SUMMARY_VERSION}"
"""What is read of a stored summary: enough to tell whether it covers a session already."""


def summary_put(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """The conditional write of a summary item (PutItem's or a transaction's ``Put``): a newer incarnation's
    summary is never replaced by an older one's, nor a summary of newer messages by one of older (incarnation
    times and message sort keys sort as text)."""
    return {
        "TableName": table,
        "Item": serialize(item),
        "ConditionExpression": (
            "attribute_not_exists(PK) OR created_at < :incarnation"
            " OR (created_at = :incarnation AND summary_through < :through)"
        ),
        "ExpressionAttributeValues": serialize(
            {":incarnation": item["created_at"], ":through": item["summary_through"]}
        ),
    }


@dataclass(frozen=True)
class Due:
    """A session due for a summary: its newest image of the batch (DynamoDB JSON, as the record has it), the last
    summary point its ``message_count`` passed in the batch and the session's ``version`` then: a summary made at
    that version or later is owed."""

    session_id: str
    image: dict[str, Any]
    point: int
    version: int


@dataclass
class SummaryOutcome:
    """What :meth:`SummaryWriter.apply` did (for logs, metrics and tests): the sessions due, the summaries made
    (or found with nothing newer to summarize), written, and skipped because the stored one covers the session
    already (the summarizer not asked)."""

    due: int = 0
    made: int = 0
    written: int = 0
    covered: int = 0


def _raw_text(image: dict[str, Any] | None, name: str) -> str | None:
    value = (image or {}).get(name, {})
    text = value.get("S") if isinstance(value, dict) else None
    return text if isinstance(text, str) else None


def _raw_count(image: dict[str, Any] | None, name: str = "message_count") -> int:
    value = (image or {}).get(name, {})
    number = value.get("N") if isinstance(value, dict) else None
    if number is None:
        return 0
    try:
        return int(number)
    except ValueError as exc:
        raise MalformedRecord(f"{name} is not an integer") from exc


def point_passed(old: dict[str, Any] | None, new: dict[str, Any]) -> int:
    """The highest :func:`~session_service.stream.records.summary_point` a session's ``message_count`` passed from
    raw image ``old`` to ``new`` (DynamoDB JSON; only ``message_count`` and ``created_at`` are read), ``0`` for
    none. A new incarnation counts from zero."""
    same = old is not None and _raw_text(old, "created_at") == _raw_text(new, "created_at")
    before = _raw_count(old) if same else 0
    return next((count for count in range(_raw_count(new), before, -1) if summary_point(count)), 0)


def due_sessions(records: Sequence[dict[str, Any]]) -> list[Due]:
    """The sessions of ``records`` (Lambda stream records, in order) due for a summary: those whose current
    incarnation passed a summary point in the batch, with their newest image of the batch and the highest point,
    unless that image is a removal or a tombstone. A record whose ``message_count`` is unreadable asks for nothing
    (the statistics function reports it)."""
    newest: dict[str, dict[str, Any] | None] = {}
    points: dict[str, tuple[int, int]] = {}
    for record in records:
        stream = record.get("dynamodb") or {}
        keys = stream.get("Keys") or {}
        partition, sort = _raw_text(keys, "PK"), _raw_text(keys, "SK")
        session_id = table_keys.session_id_of(partition) if partition else None
        if session_id is None or sort != table_keys.SESSION_SK:
            continue
        new = stream.get("NewImage")
        if record.get("eventName") == "REMOVE" or not new:
            newest[session_id] = None
            points.pop(session_id, None)
            continue
        if _raw_text(new, items.ENTITY) != items.SESSION_ENTITY:
            continue
        previous = newest.get(session_id)
        if previous is not None and _raw_text(previous, "created_at") != _raw_text(new, "created_at"):
            points.pop(session_id, None)  # an expired id created again: the old incarnation's points are moot
        newest[session_id] = new
        try:
            point = point_passed(stream.get("OldImage"), new)
        except MalformedRecord:  # the statistics function reports it; a summary waits for the next good record
            logger.warning("Unreadable session record", extra={"event_id": record.get("eventID")})
            continue
        if point:  # the latest point passed, and the session's version when it was
            points[session_id] = (point, _raw_count(new, "version"))
    found = []
    for session_id, (point, version) in sorted(points.items()):
        image = newest[session_id]
        if image is not None and _raw_text(image, "status") != items.DELETED_STATUS:
            found.append(Due(session_id, image, point, version))
    return found


class SummaryWriter:
    """Makes the summaries a stream batch asks for (see the module docstring).

    ``client`` is a low-level DynamoDB client, ``table`` the session table, ``summarizer`` makes a summary from the
    newest ``history`` messages; ``workers`` threads make a batch's summaries concurrently; ``sleep`` is injectable
    for tests. Raises the first failure of a summary once the batch's other summaries are written.
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
        self._workers = workers
        self._sleep = sleep
        self.upkeep = Upkeep(client, table, summarizer, history=history, workers=workers, sleep=sleep)

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Process a Lambda DynamoDB stream event ``{"Records": [...]}``: make and write the summaries it asks
        for. Returns ``{"batchItemFailures": []}``; raises when a summary could not be made (Lambda retries the
        batch; the summaries written are not made again)."""
        outcome = self.apply(event.get("Records") or [])
        logger.info(
            "Summaries made",
            extra={
                "records": len(event.get("Records") or []),
                "due": outcome.due,
                "made": outcome.made,
                "written": outcome.written,
                "covered": outcome.covered,
            },
        )
        metrics.add_metric(name="SummariesWritten", unit=MetricUnit.Count, value=outcome.written)
        return {"batchItemFailures": []}

    def apply(self, records: Sequence[dict[str, Any]]) -> SummaryOutcome:
        """Make and write the summaries ``records`` (Lambda stream records, in order) ask for; returns what was
        done. Raises the first failure (the summarizer's or DynamoDB's) once the others are written."""
        due = due_sessions(records)
        outcome = SummaryOutcome(due=len(due))
        if not due:
            return outcome
        stored = self._stored([d.session_id for d in due])
        # Made concurrently (reads and summarizer calls); written one by one, each its own small transaction.
        work = pool(self._workers)
        futures = [work.submit(self._make, d, stored.get(d.session_id, {})) for d in due]
        failure: Exception | None = None
        for future in futures:
            try:
                made = future.result()
            except Exception as exc:  # raised once the others are written
                failure = failure or exc
                continue
            if made is None:
                outcome.covered += 1
                continue
            outcome.made += 1
            if made and self._write(made):
                outcome.written += 1
        if failure is not None:
            raise failure
        return outcome

    def _stored(self, session_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored summaries of ``session_ids`` (a consistent batch read of :data:`SUMMARY_PROJECTION`)."""
        keys = [table_keys.summary_key(session_id) for session_id in session_ids]
        found = dynamo.batch_get(self._client, self._table, keys, projection=SUMMARY_PROJECTION, sleep=self._sleep)
        return {str(item["session_id"]): item for item in found}

    def _make(self, due: Due, stored: dict[str, Any]) -> dict[str, Any] | None:
        """The new summary item of ``due`` (made from its newest messages); ``None`` when ``stored`` covers its
        summary point already (the summarizer is not asked), ``{}`` when there is nothing newer to summarize."""
        hot = deserialize(due.image)
        incarnation = str(hot["created_at"])
        if stored.get("created_at") == incarnation and int(stored.get(SUMMARY_VERSION, -1)) >= due.version:
            return None
        item = self.upkeep.summary_of(
            due.session_id, hot, lambda: self.upkeep.newest_messages(hot), stored, unless_covered=False
        )
        return {**item, SUMMARY_VERSION: int(hot["version"])} if item else {}

    def _write(self, item: dict[str, Any]) -> bool:
        """Put the summary ``item`` on its condition (:func:`summary_put`), then check that the session's hot item
        is still its incarnation and not a tombstone, and take the summary back when it is not; True when written
        and kept.

        A delete (a tombstone, an erasure, TTL) before the check is seen by it; one after the check comes after the
        put, so the clean-up its stream record runs finds the summary and deletes it. A put and a read (2 write
        units for a summary of ~1 KB, 1 read unit) cost a third of a transaction with a ``ConditionCheck``."""
        try:
            dynamo.conditional(self._client, "put_item", **summary_put(self._table, item))
        except ConditionFailed:  # a newer summary is stored
            return False
        response = dynamo.call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=table_keys.session_key(str(item["session_id"])),
            ConsistentRead=True,
            ProjectionExpression="created_at, #status",
            ExpressionAttributeNames={"#status": "status"},
        )
        hot = deserialize(response["Item"]) if response.get("Item") else {}
        if hot.get("created_at") == item["created_at"] and hot.get("status") != items.DELETED_STATUS:
            return True
        with suppress(ConditionFailed):  # the session went: the summary goes too (unless a newer one replaced it)
            dynamo.conditional(
                self._client,
                "delete_item",
                TableName=self._table,
                Key=table_keys.summary_key(str(item["session_id"])),
                ConditionExpression="created_at = :incarnation AND summary_through = :through",
                ExpressionAttributeValues=serialize(
                    {":incarnation": item["created_at"], ":through": item["summary_through"]}
                ),
            )
        return False
