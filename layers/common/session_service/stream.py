"""The table's stream, applied exactly once: statistics, per-user counts, TTL clean-up, summaries.

Lambda delivers DynamoDB stream records at least once, in order per item, in batches of up to 100 from one
shard (SPEC section 6; ``template.yaml``: ``ReportBatchItemFailures``, bisect on error, 5 retries, an SQS
on-failure queue). This module turns a batch into its derived writes:

* **Statistics and user counts** come from SESSION items only. A session contributes
  ``(1 session, 1 if active, message_count, total_tokens, total_cost)``; INSERT adds the new image's
  contribution, MODIFY adds ``new - old``, REMOVE subtracts the old one. Message and memory records change
  nothing here (the session's counters already include them), so ``total_messages`` is the sum of
  ``message_count`` over the sessions that exist, and a removed (expired) session leaves every count.
* **Once per batch**: the deltas of a batch are summed and written in one ``TransactWriteItems`` (``ADD`` on
  the ``STATS`` item and on each touched user's ``COUNTS`` item), so a busy table does not make ``STATS`` a
  hot key. A transaction holds at most 100 items (an AWS limit): a batch touching more is cut into
  consecutive runs of records, one transaction each.
* **Exactly-once effect**: the same transaction moves a per-session *applied mark*
  (``PK = STREAM#SESSION#<session_id>``, ``SK = APPLIED``) to the state the last applied record left the
  session in: ``<created_at>#<version, 12 digits>#<0, or 1 once removed>``. Every write of a session bumps
  its ``version`` and ``created_at`` names the incarnation (an id can be reused once TTL removed it), so
  marks sort as text in the order of the session's history. A record whose mark is not above the stored one
  was applied already and is skipped; the mark's condition (``attribute_not_exists(PK) OR applied =
  :previous``) makes two deliveries race safely. Per-session marks need no shard id (a Lambda record does not
  carry one) and stay right across shard splits and a ``ParallelizationFactor`` above 1, because DynamoDB
  orders the records of one item. Marks expire (``expires_at``) two days after the session could last have
  produced a record, beyond the stream's 24-hour retention.
* **Partial failure**: a record that cannot be parsed is reported in ``batchItemFailures`` through Powertools'
  batch processor. Lambda then retries from the lowest failed sequence number, so only the records before
  it are applied now; the rest come again.
* **TTL expiry**: a REMOVE by the TTL service (``userIdentity`` ``Service``/``dynamodb.amazonaws.com``)
  also deletes the session's messages and memory records (Query + ``BatchWriteItem``), before its mark
  moves, so a crash in between repeats the deletion. Only items created before the session's final
  ``expires_at`` are deleted: a new session that reuses the id after the removal keeps its own.
* **Summaries**: after message INSERTs, each touched session's ``session_summary`` is regenerated once per
  batch from its last :data:`SUMMARY_HISTORY` messages (one Query that also returns the session item). The
  write is ``SET session_summary, summary_through`` conditioned on ``summary_through`` being older than the
  newest message summarized, so an older summary never replaces a newer one; it leaves ``version`` and the
  activity times alone, so the MODIFY it causes changes no count and asks for no summary.

Writes of this module's own items (STATS, COUNTS, marks) come back through the stream and are ignored; a
batch with nothing to count writes nothing, so they cannot loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from session_service import dynamo, items
from session_service.dynamo import ConditionFailed, TransactionCanceled, deserialize, serialize
from session_service.observability import logger, metrics
from session_service.summarizer import Summarizer, Turn, summarizer_for

MARK_RETENTION_SECONDS = 2 * 24 * 3600
"""How long a mark outlives the last record its session can produce (the stream keeps records 24 hours)."""
SUMMARY_HISTORY = 50
"""Messages read (newest first) to regenerate a summary."""
MAX_COMMIT_ATTEMPTS = 6
"""Re-reads of the applied marks when another delivery moved them first."""
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
"""``userIdentity.principalId`` of a delete made by DynamoDB's Time to Live (AWS DynamoDB Streams docs)."""


class MalformedRecord(ValueError):
    """A stream record this module cannot read (missing sequence number, image or attribute)."""


class StreamApplyError(RuntimeError):
    """The derived writes could not be made after bounded retries; Lambda retries the batch."""


@dataclass(frozen=True)
class Delta:
    """Change of the counts: sessions and active sessions (counts), messages, tokens, cost (USD, exact)."""

    sessions: int = 0
    active: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)

    def __add__(self, other: Delta) -> Delta:
        return Delta(
            self.sessions + other.sessions,
            self.active + other.active,
            self.messages + other.messages,
            self.tokens + other.tokens,
            self.cost + other.cost,
        )

    def __neg__(self) -> Delta:
        return Delta(-self.sessions, -self.active, -self.messages, -self.tokens, -self.cost)

    def __sub__(self, other: Delta) -> Delta:
        return self + (-other)

    def is_zero(self) -> bool:
        """True when applying this delta would change nothing."""
        return not (self.sessions or self.active or self.messages or self.tokens or self.cost)

    def counts_zero(self) -> bool:
        """True when a user's counts (sessions, active sessions) would not change."""
        return not (self.sessions or self.active)


@dataclass(frozen=True)
class Change:
    """What one stream record means here.

    ``kind`` is ``session`` (counts), ``message`` (a new message: refresh the summary) or ``other``
    (ignored). For a session: ``mark`` is the applied mark the record leads to, ``keep_until`` the epoch
    second after which its mark may expire, ``expired_before`` (TTL removals only) the ISO time before which
    the session's items were created.
    """

    sequence: int
    kind: str
    session_id: str = ""
    user_id: str = ""
    mark: str = ""
    delta: Delta = field(default_factory=Delta)
    keep_until: int = 0
    expired_before: str | None = None


@dataclass
class Outcome:
    """What :meth:`StreamProcessor.apply` did (for logs, metrics and tests)."""

    applied: int = 0
    skipped: int = 0
    transactions: int = 0
    deleted_items: int = 0
    summaries: int = 0
    delta: Delta = field(default_factory=Delta)


def _number(image: dict[str, Any], name: str, *, integral: bool = True) -> Decimal:
    value = image.get(name, Decimal(0))
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise MalformedRecord(f"{name} is not a number")
    value = Decimal(value)
    if not value.is_finite() or (integral and value != value.to_integral_value()):
        raise MalformedRecord(f"{name} is not an integer")
    return value


def _text(image: dict[str, Any], name: str) -> str:
    value = image.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"{name} is missing")
    return value


def contribution(image: dict[str, Any]) -> Delta:
    """A session item's share of the statistics (``image`` in plain values, numbers as ``Decimal``).

    Raises :class:`MalformedRecord` when a counter is not a number or ``status`` is missing.
    """
    status = _text(image, "status")
    return Delta(
        sessions=1,
        active=int(status == "active"),
        messages=int(_number(image, "message_count")),
        tokens=int(_number(image, "total_tokens")),
        cost=_number(image, "total_cost", integral=False),
    )


def applied_mark(image: dict[str, Any], *, removed: bool) -> str:
    """The applied mark of a session state: ``<created_at>#<version:012d>#<0|1>`` (sorts as history)."""
    version = int(_number(image, "version"))
    return f"{_text(image, 'created_at')}#{version:012d}#{int(removed)}"


def _sequence(record: DynamoDBRecord) -> int:
    stream = record.dynamodb
    text = stream.sequence_number if stream is not None else None
    if not isinstance(text, str) or not text.isdigit():
        raise MalformedRecord("SequenceNumber is missing")
    return int(text)


def is_ttl_removal(record: DynamoDBRecord) -> bool:
    """True for a REMOVE made by DynamoDB's Time to Live (``userIdentity`` of type ``Service``)."""
    identity = record.user_identity
    return identity.get("type") == "Service" and identity.get("principalId") == TTL_PRINCIPAL


def parse_record(record: DynamoDBRecord, *, now: float | None = None) -> Change:
    """Read one stream record (``NEW_AND_OLD_IMAGES``) into a :class:`Change`.

    Items other than sessions and messages (memory, STATS, COUNTS, marks, Powertools idempotency records)
    are ``other``. Raises :class:`MalformedRecord` for a record without sequence number, event name or the
    images its event needs, or a session image with unreadable counters.
    """
    sequence = _sequence(record)
    stream = record.dynamodb
    if stream is None or record.event_name is None:
        raise MalformedRecord("not a DynamoDB stream record")
    event = record.event_name
    new, old = stream.new_image, stream.old_image
    image = new if event is not DynamoDBRecordEventName.REMOVE else old
    if not image:
        raise MalformedRecord(f"{event.value} record without its image")
    entity = image.get(items.ENTITY)
    if entity == items.MESSAGE_ENTITY and event is DynamoDBRecordEventName.INSERT:
        return Change(sequence, "message", session_id=_text(image, "session_id"))
    if entity != items.SESSION_ENTITY:
        return Change(sequence, "other")
    clock = time.time() if now is None else now
    session_id, user_id = _text(image, "session_id"), _text(image, "user_id")
    keep_until = int(max(clock, float(_number(image, "expires_at")))) + MARK_RETENTION_SECONDS
    if event is DynamoDBRecordEventName.INSERT:
        delta = contribution(new)
    elif event is DynamoDBRecordEventName.MODIFY:
        if not old:
            raise MalformedRecord("MODIFY record without OldImage")
        delta = contribution(new) - contribution(old)
    else:
        delta = -contribution(old)
    removed = event is DynamoDBRecordEventName.REMOVE
    expired_before = None
    if removed and is_ttl_removal(record):
        expired_before = items.iso(datetime.fromtimestamp(int(_number(old, "expires_at")), UTC))
    return Change(
        sequence,
        "session",
        session_id=session_id,
        user_id=user_id,
        mark=applied_mark(image, removed=removed),
        delta=delta,
        keep_until=keep_until,
        expired_before=expired_before,
    )


def applicable_prefix(changes: Iterable[Change], failed_sequences: Iterable[int]) -> list[Change]:
    """The changes before the first failed record, in sequence order (Lambda retries from that record)."""
    first_failure = min(failed_sequences, default=None)
    ordered = sorted(changes, key=lambda change: change.sequence)
    return [c for c in ordered if first_failure is None or c.sequence < first_failure]


class _MarksMoved(Exception):
    """A mark's condition failed: another delivery applied records first; re-read and recompute."""


class StreamProcessor:
    """Applies DynamoDB stream batches to the table's derived items (see the module docstring).

    ``client`` is a low-level DynamoDB client, ``table_name`` the session table, ``summarizer`` makes
    summaries; ``clock`` (epoch seconds) and ``sleep`` are injectable for tests.
    Raises :class:`~session_service.errors.ServiceUnavailable`, :class:`~session_service.errors.StoreUnavailable` and
    :class:`StreamApplyError` when DynamoDB keeps failing: Lambda then retries the batch, and what was
    applied already is skipped.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        summarizer: Summarizer,
        *,
        history: int = SUMMARY_HISTORY,
        max_transact_items: int = dynamo.MAX_TRANSACTION_ITEMS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._summarizer = summarizer
        self._history = history
        self._max_items = max_transact_items
        self._clock = clock
        self._sleep = sleep

    # -- entry point ----------------------------------------------------------------------------------

    def handle(self, event: dict[str, Any], context: Any = None) -> PartialItemFailureResponse:
        """Process a Lambda DynamoDB stream event ``{"Records": [...]}``.

        Returns ``{"batchItemFailures": [{"itemIdentifier": <sequence number>}, ...]}`` for records that
        could not be read; everything before the first of them is applied. Raises Powertools'
        ``BatchProcessingError`` when every record failed, and lets DynamoDB failures propagate (the whole
        batch is then retried).
        """
        parsed: list[Change] = []
        failed: list[int] = []
        now = self._clock()

        def record_handler(record: DynamoDBRecord) -> None:
            try:
                parsed.append(parse_record(record, now=now))
            except Exception:
                try:
                    failed.append(_sequence(record))
                except MalformedRecord:
                    failed.append(-1)  # no position known: apply nothing of this batch
                logger.exception("Unreadable stream record", extra={"event_id": record.event_id})
                raise

        response = process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
            context=context,
        )
        outcome = self.apply(applicable_prefix(parsed, failed))
        logger.info(
            "Stream batch applied",
            extra={
                "records": len(event.get("Records", [])),
                "failed": len(failed),
                "applied": outcome.applied,
                "skipped": outcome.skipped,
                "transactions": outcome.transactions,
                "deleted_items": outcome.deleted_items,
                "summaries": outcome.summaries,
            },
        )
        metrics.add_metric(name="StreamRecordsApplied", unit=MetricUnit.Count, value=outcome.applied)
        metrics.add_metric(name="StreamRecordsSkipped", unit=MetricUnit.Count, value=outcome.skipped)
        metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=len(failed))
        return response

    def apply(self, changes: Sequence[Change]) -> Outcome:
        """Apply ``changes`` (in sequence order, all readable) exactly once; see the module docstring."""
        outcome = Outcome()
        counted = [c for c in changes if c.kind == "session" and not c.delta.is_zero()]
        for _ in range(MAX_COMMIT_ATTEMPTS):
            marks = self._read_marks({c.session_id for c in counted})
            pending: list[Change] = []
            latest = dict(marks)
            for change in counted:
                if change.mark > latest.get(change.session_id, ""):
                    pending.append(change)
                    latest[change.session_id] = change.mark
            for change in pending:
                if change.expired_before is not None:
                    outcome.deleted_items += self._delete_expired_contents(change.session_id, change.expired_before)
            try:
                outcome.transactions += self._commit_runs(pending, marks)
            except _MarksMoved:
                continue
            outcome.applied = len(pending)
            outcome.skipped = len(counted) - len(pending)
            for change in pending:
                outcome.delta += change.delta
            break
        else:
            raise StreamApplyError("applied marks kept moving")
        for session_id in dict.fromkeys(c.session_id for c in changes if c.kind == "message"):
            outcome.summaries += int(self.refresh_summary(session_id))
        return outcome

    # -- counts ---------------------------------------------------------------------------------------

    def _read_marks(self, session_ids: set[str]) -> dict[str, str]:
        """The stored applied marks of ``session_ids`` (consistent BatchGetItem)."""
        found = dynamo.batch_get(
            self._client,
            self._table,
            [items.mark_key(i) for i in sorted(session_ids)],
            projection="session_id, applied",
            sleep=self._sleep,
        )
        return {str(mark["session_id"]): str(mark.get("applied", "")) for mark in found}

    def _commit_runs(self, pending: Sequence[Change], marks: dict[str, str]) -> int:
        """Write ``pending`` in runs that each fit one transaction; ``marks`` follows what is committed."""
        transactions = 0
        run: list[Change] = []
        users: set[str] = set()
        sessions: set[str] = set()
        for change in pending:
            grown_users, grown_sessions = users | {change.user_id}, sessions | {change.session_id}
            if run and 1 + len(grown_users) + len(grown_sessions) > self._max_items:
                self._commit(run, marks)
                transactions += 1
                run, grown_users, grown_sessions = [], {change.user_id}, {change.session_id}
            run.append(change)
            users, sessions = grown_users, grown_sessions
        if run:
            self._commit(run, marks)
            transactions += 1
        return transactions

    def _commit(self, run: Sequence[Change], marks: dict[str, str]) -> None:
        """One TransactWriteItems: ADD to STATS and to each user's COUNTS, move each session's mark."""
        total = Delta()
        per_user: dict[str, Delta] = {}
        final: dict[str, Change] = {}
        for change in run:
            total += change.delta
            per_user[change.user_id] = per_user.get(change.user_id, Delta()) + change.delta
            final[change.session_id] = change
        actions: list[dict[str, Any]] = []
        if not total.is_zero():
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": items.STATS_KEY,
                        "UpdateExpression": (
                            "ADD total_sessions :s, active_sessions :a, total_messages :m, total_tokens :t,"
                            " total_cost :c"
                        ),
                        "ExpressionAttributeValues": serialize(
                            {
                                ":s": total.sessions,
                                ":a": total.active,
                                ":m": total.messages,
                                ":t": total.tokens,
                                ":c": total.cost,
                            }
                        ),
                    }
                }
            )
        for user_id, delta in per_user.items():
            if delta.counts_zero():
                continue
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": items.user_counts_key(user_id),
                        "UpdateExpression": "ADD sessions :s, active_sessions :a",
                        "ExpressionAttributeValues": serialize({":s": delta.sessions, ":a": delta.active}),
                    }
                }
            )
        for session_id, change in final.items():
            previous = marks.get(session_id)
            values: dict[str, Any] = {
                ":mark": change.mark,
                ":entity": items.MARK_ENTITY,
                ":sid": session_id,
                ":until": change.keep_until,
            }
            condition = "attribute_not_exists(PK)"
            if previous is not None:
                condition += " OR applied = :previous"
                values[":previous"] = previous
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": items.mark_key(session_id),
                        "UpdateExpression": f"SET applied = :mark, {items.ENTITY} = :entity, session_id = :sid,"
                        " expires_at = :until",
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": serialize(values),
                    }
                }
            )
        try:
            dynamo.transact_write(self._client, actions, sleep=self._sleep)
        except TransactionCanceled as canceled:
            raise _MarksMoved() from canceled
        for session_id, change in final.items():
            marks[session_id] = change.mark

    # -- TTL expiry -----------------------------------------------------------------------------------

    def _delete_expired_contents(self, session_id: str, created_before: str) -> int:
        """Delete the messages and memory records of an expired session created before ``created_before``.

        Keys-only Query of the partition + BatchWriteItem of 25 (:func:`~session_service.dynamo.delete_keys`);
        idempotent. Returns the number of items deleted. Leaves the session item alone: TTL removed it, and
        one present now is a new session that reuses the id.
        """
        keys = [
            key
            for key in dynamo.query_keys(self._client, self._table, items.session_pk(session_id))
            if (created := items.created_at_of(key["SK"]["S"])) is not None and created < created_before
        ]
        return dynamo.delete_keys(self._client, self._table, keys, sleep=self._sleep)

    # -- summaries ------------------------------------------------------------------------------------

    def refresh_summary(self, session_id: str) -> bool:
        """Regenerate a session's summary from its last messages; True when a new summary was stored.

        One Query (``SK BETWEEN "MSG#" AND "SESSION"``, newest first) returns the session item and its
        newest messages. Nothing is written when the session is gone, has no messages, or its summary
        already covers the newest message; a concurrent newer summary wins (ConditionalCheckFailed).
        """
        response = dynamo.call(
            self._client,
            "query",
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :session",
            ExpressionAttributeValues=serialize(
                {":pk": items.session_pk(session_id), ":first": items.MESSAGE_PREFIX, ":session": items.SESSION_SK}
            ),
            ScanIndexForward=False,
            Limit=self._history + 1,
            ConsistentRead=True,
        )
        found = [deserialize(item) for item in response.get("Items", [])]
        if not found or found[0].get("SK") != items.SESSION_SK:
            return False
        session = found[0]
        messages = [item for item in found[1:] if items.is_message_key(str(item.get("SK", "")))]
        if not messages:
            return False
        newest = str(messages[0]["SK"])
        if str(session.get("summary_through", "")) >= newest:
            return False
        turns = [Turn(str(m.get("role", "")), str(m.get("content", ""))) for m in reversed(messages)]
        summary = self._summarizer.summarize(turns)
        try:
            dynamo.conditional(
                self._client,
                "update_item",
                TableName=self._table,
                Key=items.session_key(session_id),
                UpdateExpression="SET session_summary = :summary, summary_through = :through",
                ConditionExpression=(
                    "attribute_exists(PK) AND (attribute_not_exists(summary_through) OR summary_through < :through)"
                ),
                ExpressionAttributeValues=serialize({":summary": summary, ":through": newest}),
            )
        except ConditionFailed:
            return False
        return True


def stream_processor() -> StreamProcessor:
    """The processor over the configured table and summarizer (``SUMMARY_MODEL_ID``), from the cached wiring."""
    from session_service import wiring

    config = wiring.settings()
    return StreamProcessor(wiring.dynamodb_client(), config.table_name, summarizer_for(config.summary_model_id))
