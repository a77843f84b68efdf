"""The table's stream, applied exactly once: statistics, per-user counts and usage, TTL clean-up, summaries.

Lambda delivers DynamoDB stream records at least once, in order per item, in batches of up to 100 from one
shard (SPEC section 6; ``template.yaml``: ``ReportBatchItemFailures``, bisect on error, 5 retries, an SQS
on-failure queue). This module turns a batch into its derived writes:

* **Statistics and user counts** come from SESSION items only. A session contributes
  ``(1 session, 1 if active, message_count, total_tokens, total_cost)``; INSERT adds the new image's
  contribution, MODIFY adds ``new - old``, REMOVE subtracts the old one. Message and memory records change
  nothing here (the session's counters already include them), so ``total_messages`` is the sum of
  ``message_count`` over the sessions that exist, and a removed (expired) session leaves every count.
* **Usage** (SPEC section 9) is the same contribution per owner: each touched user's usage item
  (``USER#<user_id>``/``USAGE``) gets ``ADD sessions, active_sessions, messages, tokens, cost``, and its item of
  each model the session's hot item counts (:func:`~session_service.items.usage_attribute`) the model's share
  (:func:`~session_service.items.model_usage_key`), so the
  usages of all users add up to ``STATS`` and a session that goes (TTL, permanent delete) leaves its owner's
  usage. An expired id created again by another user moves the old session out of the old owner's usage and
  the new one into the new owner's.
* **Once per batch**: the deltas of a batch are summed and written in one ``TransactWriteItems`` (``ADD`` on
  the ``STATS`` item, on each touched user's ``COUNTS`` item and on each touched user's ``USAGE`` item; a zero
  delta writes nothing), so a busy table does not make ``STATS`` a
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
  orders the records of one item. Marks do not expire: a mark is deleted when its session's hot item leaves
  the table (see *Forgetting a session*), so a session's mark lives exactly as long as the session can produce
  records (a TTL on marks let a mark expire before a session whose expiry a memory record had slid, and the
  session's removal was then taken for a delivery again).
* **Partial failure**: a record that cannot be parsed is reported in ``batchItemFailures`` through Powertools'
  batch processor. Lambda then retries from the lowest failed sequence number, so only the records before
  it are applied now; the rest come again.
* **TTL expiry**: a REMOVE by the TTL service (``userIdentity`` ``Service``/``dynamodb.amazonaws.com``)
  also deletes the session's messages and memory records (Query + ``BatchWriteItem``), before its mark
  moves, so a crash in between repeats the deletion. Only items created before the session's final
  ``expires_at`` are deleted: a new session that reuses the id after the removal keeps its own.
* **Permanent delete**: a request turns the hot item into a *tombstone* (expired at once, out of the indexes;
  the owner's counts moved in the same transaction). Its MODIFY record removes the session from the
  statistics (a tombstone contributes nothing) and deletes the partition's items of that incarnation (created
  before :func:`~session_service.items.tombstone_bound`), then, once the batch's counts are committed (a retry
  must still find the incarnation), the tombstone itself while it is still that tombstone; a replay skips it by
  its mark, and the deletions are idempotent.
* **Forgetting a session**: when a session's hot item leaves the table (a tombstone this function deleted, or any
  item TTL removed), the session's applied mark is deleted too (conditioned on being that incarnation's), so
  nothing of the session is left. No
  record of it can follow but a delivery again of one already applied (Lambda hands the removal over only once
  the batch that applied the tombstone succeeded): a record of a session that has no mark and whose
  incarnation is not in the table any more is skipped (:func:`_still_there`, one BatchGetItem of the hot items
  of the sessions a batch finds without a mark).
* **Erasure**: a user's erasure progress record (``ERASURE#<user_id>``) drives :class:`~session_service.erasure.
  Eraser`: each of its records while it runs brings a pass (tombstones, then the user's own items). Forgetting
  an erasure's tombstone counts it in the progress record in the same transaction.
* **Index keys**: a session's GSI sort keys (its activity, for the listings) move here, not in the append:
  when a session record shows its ``last_activity`` a minute or more past its keys
  (:func:`~session_service.items.index_lags`), the newest such record of the batch moves them with one
  UpdateItem conditioned on the item still being as that record left it, so a key never moves back in time.
* **Summaries**: when a session's ``message_count`` reaches a :func:`summary_point` (its first messages,
  then every tenth, at most every :data:`SUMMARY_EVERY` once the conversation is long), its summary is
  regenerated once per batch from its last :data:`SUMMARY_HISTORY` messages (one Query, made concurrently
  with the read of the marks, which also reads the stored summaries) into the session's summary item, put
  in the same transaction as the counts on the condition that it never replaces a summary of newer messages
  (one that failed only leaves that summary out). A summary that would cover no newer message than the stored
  one is not made. The session item is not written, so a summary costs appends nothing. When a summary
  cannot be made (the summarizer or DynamoDB failed), the counts are committed first and the batch then
  fails, so Lambda's retry makes the summary. Index moves of a batch run concurrently, after the commit.
  The concurrent calls share one thread pool for the process.

Writes of this module's own items (STATS, COUNTS, marks, summaries) come back through the stream and are
ignored from their keys alone; an index move comes back as a session MODIFY that changes no count and whose
keys are current, so nothing loops.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
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
from session_service.errors import ServiceUnavailable
from session_service.models import SessionStatus
from session_service.observability import logger, metrics
from session_service.stream.erasure import Eraser
from session_service.summarizer import Summarizer, Turn, summarizer_for

SUMMARY_HISTORY = 50
"""Messages read (newest first) to regenerate a summary."""
SUMMARY_EVERY = 20
"""At most this many messages of a long conversation wait for their summary."""
MAX_CUT_ITEMS = 5_000
"""Items of one cut deleted per batch; the rest follow through the stream record of the cut's progress."""
MAINTENANCE_WORKERS = 8
"""Concurrent index moves and summary refreshes of one batch (independent single-item writes)."""
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
    """Change of the counts: sessions and active sessions (counts), messages, tokens, cost (USD, exact), and
    ``by_model``: the per-model usage attributes (:func:`~session_service.items.usage_attribute` name ->
    number, zeros left out), which only the owners' usage items hold (``STATS`` has the totals)."""

    sessions: int = 0
    active: int = 0
    messages: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    by_model: dict[str, Decimal] = field(default_factory=dict, hash=False)

    def __add__(self, other: Delta) -> Delta:
        return Delta(
            self.sessions + other.sessions,
            self.active + other.active,
            self.messages + other.messages,
            self.tokens + other.tokens,
            self.cost + other.cost,
            items.sum_usage(self.by_model, other.by_model),
        )

    def __neg__(self) -> Delta:
        return Delta(
            -self.sessions,
            -self.active,
            -self.messages,
            -self.tokens,
            -self.cost,
            {name: -value for name, value in self.by_model.items()},
        )

    def __sub__(self, other: Delta) -> Delta:
        return self + (-other)

    def totals_zero(self) -> bool:
        """True when the statistics' part (all but ``by_model``) would change nothing."""
        return not (self.sessions or self.active or self.messages or self.tokens or self.cost)

    def is_zero(self) -> bool:
        """True when applying this delta would change nothing."""
        return self.totals_zero() and not any(self.by_model.values())

    def usage_adds(self) -> dict[str, Any]:
        """The ``ADD``s of a user's usage item: its totals (attribute name -> number; zeros left out)."""
        totals = {
            "sessions": self.sessions,
            "active_sessions": self.active,
            "messages": self.messages,
            "tokens": self.tokens,
            "cost": self.cost,
        }
        return {name: value for name, value in totals.items() if value}

    def model_adds(self) -> dict[str, dict[str, Any]]:
        """The ``ADD``s of the user's per-model usage items: pair (:func:`~session_service.items.model_pair`) ->
        ``messages``, ``tokens``, ``cost`` (zeros left out; pairs that move nothing left out)."""
        moves: dict[str, dict[str, Any]] = {}
        for name, value in self.by_model.items():
            parsed = items.parse_usage_attribute(name)
            if parsed is None or not value:
                continue
            provider, model, suffix = parsed
            pair = moves.setdefault(items.model_pair(provider, model), {})
            pair[items.USAGE_FIELDS[suffix]] = value
        return moves


@dataclass(frozen=True)
class IndexMove:
    """A hot item whose GSI sort keys lag its ``last_activity`` (an image's values): move them."""

    session_id: str
    incarnation: str
    status: str
    last_activity: str
    keys: dict[str, str]


@dataclass(frozen=True)
class Change:
    """What one stream record means here.

    ``kind`` is ``session`` (a session's hot item: counts, index keys, summaries), ``erasure`` (a user's erasure
    progress record: ``user_id`` names the user) or ``other`` (ignored).
    For a session: ``mark`` is the applied mark the record leads to, ``delta`` its share of the statistics,
    ``user_delta`` what its owner's counts lose (TTL removals only: requests move the counts of everything else),
    ``expired_before`` the ISO time before which the partition's items belong to a session that is gone (a TTL
    removal, an expired id created again, or a permanent delete), ``index`` the GSI keys to move, ``summary_due``
    whether its messages reached a :func:`summary_point` (``image`` is then the session as the record left it),
    ``usage`` what each owner's usage moves by (user id -> delta; two owners when an expired id was created again by
    another user: the old owner loses the old session, the new one gains the new), ``forget`` that the session's
    mark goes (its hot item left the table: nothing of the session is left to apply), ``by_erasure`` that an erasure
    made the tombstone (:mod:`session_service.erasure`), ``origins`` the incarnation (``created_at``) each ``usage``
    part is about.
    """

    sequence: int
    kind: str
    session_id: str = ""
    user_id: str = ""
    mark: str = ""
    delta: Delta = field(default_factory=Delta)
    user_delta: dict[str, int] = field(default_factory=dict)
    expired_before: str | None = None
    index: IndexMove | None = None
    summary_due: bool = False
    forget: bool = False
    by_erasure: bool = False
    image: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    usage: dict[str, Delta] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def counts(self) -> bool:
        """True when applying this change moves the session's mark (statistics, counts, usage or a clean-up)."""
        return self.kind == "session" and bool(
            not self.delta.is_zero() or self.user_delta or self.expired_before is not None
        )


@dataclass
class Outcome:
    """What :meth:`StreamProcessor.apply` did (for logs, metrics and tests)."""

    applied: int = 0
    skipped: int = 0
    transactions: int = 0
    deleted_items: int = 0
    summaries: int = 0
    index_moves: int = 0
    erasure_writes: int = 0
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
    """A session item's share of the statistics and of its owner's usage (``image`` in plain values, numbers as
    ``Decimal``): its totals, and its per-model usage attributes (``by_model``).

    A tombstone (a permanently deleted session, :func:`~session_service.items.is_tombstone`) contributes
    nothing: the record that made it removes the session from the statistics, and its removal changes nothing.
    Raises :class:`MalformedRecord` when a counter is not a number or ``status`` is missing.
    """
    status = _text(image, "status")
    if items.is_tombstone(image):
        return Delta()
    by_model = {}
    for name in items.usage_of(image):
        parsed = items.parse_usage_attribute(name)
        value = _number(image, name, integral=parsed is not None and parsed[2] != "c")
        if value:
            by_model[name] = value
    return Delta(
        sessions=1,
        active=int(status == "active"),
        messages=int(_number(image, "message_count")),
        tokens=int(_number(image, "total_tokens")),
        cost=_number(image, "total_cost", integral=False),
        by_model=by_model,
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


def _index_move(image: dict[str, Any]) -> IndexMove | None:
    """The index move a session image asks for, or ``None`` while its GSI keys are current enough
    (:func:`~session_service.items.index_lags`)."""
    if not items.index_lags(image):
        return None
    wanted = items.index_keys(image)
    return IndexMove(
        _text(image, "session_id"),
        _text(image, "created_at"),
        _text(image, "status"),
        _text(image, "last_activity"),
        wanted,
    )


def parse_record(record: DynamoDBRecord) -> Change:
    """Read one stream record (``NEW_AND_OLD_IMAGES``) into a :class:`Change`.

    Items other than session hot items and messages (session data and summaries, memory, STATS, COUNTS,
    marks, Powertools idempotency records) are ``other``, read from the keys alone. Raises
    :class:`MalformedRecord` for a record without sequence number, event name, keys or the images its event
    needs, or a session image with unreadable counters.
    """
    sequence = _sequence(record)
    stream = record.dynamodb
    if stream is None or record.event_name is None:
        raise MalformedRecord("not a DynamoDB stream record")
    event = record.event_name
    keys = stream.raw_event.get("Keys") or {}
    partition_key, sort_key = keys.get("PK", {}).get("S"), keys.get("SK", {}).get("S")
    if not isinstance(partition_key, str) or not isinstance(sort_key, str):
        raise MalformedRecord("Keys without PK and SK")
    erased_user = items.erasure_user_of(partition_key, sort_key)
    if erased_user is not None:  # an erasure's progress moved: its next pass
        running = event is not DynamoDBRecordEventName.REMOVE and (stream.new_image or {}).get("status") == "erasing"
        return Change(sequence, "erasure" if running else "other", user_id=erased_user)
    if sort_key != items.SESSION_SK or items.session_id_of(partition_key) is None:
        return Change(sequence, "other")
    new, old = stream.new_image, stream.old_image
    image = new if event is not DynamoDBRecordEventName.REMOVE else old
    if not image:
        raise MalformedRecord(f"{event.value} record without its image")
    if image.get(items.ENTITY) != items.SESSION_ENTITY:
        return Change(sequence, "other")
    session_id, user_id = _text(image, "session_id"), _text(image, "user_id")
    _number(image, "expires_at")  # read: a session record without it is malformed
    removed = event is DynamoDBRecordEventName.REMOVE
    expired_before = None
    user_delta: dict[str, int] = {}
    usage: dict[str, Delta]
    origins: dict[str, str] = {user_id: _text(image, "created_at")}
    if event is DynamoDBRecordEventName.INSERT:
        delta = contribution(new)
        usage = {user_id: delta}
    elif event is DynamoDBRecordEventName.MODIFY:
        if not old:
            raise MalformedRecord("MODIFY record without OldImage")
        delta = contribution(new) - contribution(old)
        previous_owner = _text(old, "user_id")
        if previous_owner == user_id:
            usage = {user_id: delta}
        else:  # another user created the expired id again
            usage = {previous_owner: -contribution(old), user_id: contribution(new)}
            origins[previous_owner] = _text(old, "created_at")
        if _text(old, "created_at") != _text(new, "created_at"):  # an expired id created again
            expired_before = _text(new, "created_at")
        elif items.is_tombstone(new):  # deleted for good: its items go now, not when TTL comes
            expired_before = _tombstone_bound(new)
    else:
        delta = -contribution(old)
        usage = {user_id: delta}
        if items.is_tombstone(old):  # its delete moved the counts already; the stream's own delete, or TTL's
            expired_before = _tombstone_bound(old) if is_ttl_removal(record) else None
        elif is_ttl_removal(record):
            expired_before = items.iso(datetime.fromtimestamp(int(_number(old, "expires_at")), UTC))
            status = SessionStatus(_text(old, "status"))
            user_delta = {items.count_attribute(None): -1, items.count_attribute(status): -1}
    return Change(
        sequence,
        "session",
        session_id=session_id,
        user_id=user_id,
        mark=applied_mark(image, removed=removed),
        delta=delta,
        user_delta=user_delta,
        expired_before=expired_before,
        index=None if removed or items.is_tombstone(image) else _index_move(image),
        summary_due=not removed and summary_due(old, new),
        forget=removed,
        by_erasure=bool(image.get(items.ERASED_BY)),
        image=None if removed else new,
        usage={owner: part for owner, part in usage.items() if not part.is_zero()},
        origins=origins,
    )


def _tombstone_bound(image: dict[str, Any]) -> str:
    try:
        return items.tombstone_bound(image)
    except (KeyError, ValueError) as exc:
        raise MalformedRecord("a tombstone without its updated_at") from exc


def _still_there(change: Change, incarnation: str | None) -> bool:
    """Whether a record of a session without an applied mark is to be applied: its incarnation (``created_at``)
    is still in the table, or none later took its id over (``incarnation``: the hot item's, ``None`` when there
    is none). A session's mark is forgotten only once its tombstone was removed, after everything it recorded
    was applied; a record of it delivered again then finds no hot item, or a later incarnation's, and is
    skipped. A session's first records find their own hot item (or its tombstone, until they are applied)."""
    return incarnation is not None and incarnation <= change.mark.split("#", 1)[0]


def _usage_items(change: Change) -> set[tuple[str, str]]:
    """The usage items ``change`` moves: (owner, ``""``) for an owner's usage item, (owner, pair) for a per-model
    one (each a transaction item of the commit)."""
    found: set[tuple[str, str]] = set()
    for owner, part in change.usage.items():
        found.add((owner, ""))
        found.update((owner, pair) for pair in part.model_adds())
    return found


def _without_erased_usage(change: Change, erasures: dict[str, str]) -> Change:
    """``change`` without the usage parts of sessions an erasure of their owner covers (created before it started,
    ``erasures``: user id -> start): the erasure deletes the owner's usage item, and a record applied late (its
    shard behind the erasure's) must not bring it back. The statistics still move."""
    kept = {
        owner: part
        for owner, part in change.usage.items()
        if owner not in erasures or change.origins.get(owner, "") >= erasures[owner]
    }
    return change if kept == change.usage else replace(change, usage=kept)


def summary_point(count: int) -> bool:
    """True when a session's summary is regenerated as its ``message_count`` reaches ``count``: at the first
    messages (1, 2, 3, 5), then every tenth message, and once the summary covers a long conversation, every
    tenth of it, at most every :data:`SUMMARY_EVERY` messages."""
    if count in (1, 2, 3, 5):
        return True
    return count >= 10 and count % min(SUMMARY_EVERY, max(10, count // 10)) == 0


def summary_due(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """True when a session's ``message_count`` passed a :func:`summary_point` from image ``old`` to ``new``."""
    before = int(_number(old, "message_count")) if old and old.get("created_at") == new.get("created_at") else 0
    after = int(_number(new, "message_count"))
    return any(summary_point(count) for count in range(before + 1, after + 1))


def applicable_prefix(changes: Iterable[Change], failed_sequences: Iterable[int]) -> list[Change]:
    """The changes before the first failed record, in sequence order (Lambda retries from that record)."""
    first_failure = min(failed_sequences, default=None)
    ordered = sorted(changes, key=lambda change: change.sequence)
    return [c for c in ordered if first_failure is None or c.sequence < first_failure]


@cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads kept for the process (a warm Lambda container reuses it between batches)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stream")


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
        workers: int = MAINTENANCE_WORKERS,
        max_transact_items: int = dynamo.MAX_TRANSACTION_ITEMS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._summarizer = summarizer
        self._history = history
        self._workers = workers
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

        def record_handler(record: DynamoDBRecord) -> None:
            try:
                parsed.append(parse_record(record))
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
                "index_moves": outcome.index_moves,
            },
        )
        metrics.add_metric(name="StreamRecordsApplied", unit=MetricUnit.Count, value=outcome.applied)
        metrics.add_metric(name="StreamRecordsSkipped", unit=MetricUnit.Count, value=outcome.skipped)
        metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=len(failed))
        return response

    def apply(self, changes: Sequence[Change]) -> Outcome:
        """Apply ``changes`` (in sequence order, all readable) exactly once; see the module docstring."""
        outcome = Outcome()
        counted = [c for c in changes if c.counts()]
        pool = _pool(self._workers)
        # No summary for a session this batch deletes for good (its items are deleted before the commit).
        newest = {c.session_id: c.image for c in changes if c.kind == "session"}
        gone = {session_id for session_id, image in newest.items() if items.is_tombstone(image)}
        # The newest messages of the sessions due for a summary are read while the marks are.
        histories = {
            c.session_id: pool.submit(self._newest_messages, c.image)
            for c in counted
            if c.summary_due and c.image is not None and c.session_id not in gone
        }
        pending: list[Change] = []
        erased: dict[str, int] = {}  # items deleted for erasures, by user
        summaries: dict[str, dict[str, Any]] | None = None
        failure: Exception | None = None
        owners = {owner for c in counted for owner in c.usage}
        for _ in range(MAX_COMMIT_ATTEMPTS):
            # The same BatchGetItem takes the stored summaries of the sessions due for one and the erasures of the
            # users whose usage moves.
            stored, summarized, erasures = self._read_marks(
                {c.session_id for c in counted}, set(histories) if summaries is None else set(), owners
            )
            current = self._incarnations({c.session_id for c in counted} - stored.keys())
            pending, latest = [], dict(stored)
            for change in counted:
                if change.session_id not in latest and not _still_there(change, current.get(change.session_id)):
                    continue  # a forgotten session's record, delivered again: applied long ago
                if change.mark > latest.get(change.session_id, ""):
                    pending.append(_without_erased_usage(change, erasures))
                    latest[change.session_id] = change.mark
            if summaries is None:
                # A change applied before (a retried batch whose summaries failed after the commit) may still owe
                # its summary: it is made unless the stored summary already covers it.
                applied_now = {id(c) for c in pending}
                due = {
                    c.session_id: (c.image, id(c) not in applied_now)
                    for c in counted
                    if c.summary_due and c.image is not None and c.session_id not in gone
                }
                summaries, failure = self._make_summaries(due, histories, summarized)
            for change in pending:
                if change.expired_before is not None:
                    deleted = self._delete_gone_contents(change.session_id, change.expired_before)
                    outcome.deleted_items += deleted
                    if change.by_erasure:
                        erased[change.user_id] = erased.get(change.user_id, 0) + deleted
            try:
                outcome.transactions += self._commit_runs(pending, stored, summaries, outcome)
            except _MarksMoved:
                continue
            outcome.applied = len(pending)
            outcome.skipped = len(counted) - len(pending)
            for change in pending:
                outcome.delta += change.delta
            break
        else:
            raise StreamApplyError("applied marks kept moving")
        moves = {c.session_id: c.index for c in changes if c.kind == "session"}
        outcome.index_moves = self._maintain([m for m in moves.values() if m])
        newest = {c.session_id: c.image for c in changes if c.kind == "session"}
        for session_id, image in newest.items():
            if image and image.get("cuts"):
                outcome.deleted_items += self.clear_cuts(session_id, image)
        if failure is not None:  # the counts are in; Lambda retries the batch for the summary
            raise failure
        # Last, once nothing of this batch can fail any more: a tombstone deleted, or a mark forgotten, before a
        # retry would make the retry skip what it must apply.
        for change in changes:
            if change.kind == "session" and change.image is not None and items.is_tombstone(change.image):
                deleted = self._delete_tombstone(change.session_id, str(change.image["created_at"]))
                outcome.deleted_items += deleted
                if change.by_erasure:
                    erased[change.user_id] = erased.get(change.user_id, 0) + deleted
        for change in changes:
            if change.forget:
                outcome.deleted_items += self._forget(change)
        for user_id, count in erased.items():
            self._count_erased(user_id, count)
        eraser = Eraser(self._client, self._table, clock=self._clock, sleep=self._sleep)
        for user_id in dict.fromkeys(c.user_id for c in changes if c.kind == "erasure"):
            outcome.erasure_writes += eraser.advance(user_id)
        return outcome

    # -- counts ---------------------------------------------------------------------------------------

    def _read_marks(
        self, session_ids: Iterable[str], summary_ids: Iterable[str] = (), user_ids: Iterable[str] = ()
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]], dict[str, str]]:
        """The stored applied marks of ``session_ids``, the stored summaries (``created_at``,
        ``summary_through``, ``summary_messages``) of ``summary_ids``, by session id, and the start
        (``started_at``) of the latest erasure of each of ``user_ids`` that has one, by user id (one consistent
        BatchGetItem per 100 keys)."""
        keys = [items.mark_key(i) for i in sorted(session_ids)] + [items.summary_key(i) for i in sorted(summary_ids)]
        keys += [items.erasure_key(user_id) for user_id in sorted(user_ids)]
        if not keys:
            return {}, {}, {}
        found = dynamo.batch_get(
            self._client,
            self._table,
            keys,
            projection="SK, session_id, applied, created_at, summary_through, summary_messages, user_id, started_at",
            sleep=self._sleep,
        )
        marks = {str(item["session_id"]): str(item.get("applied", "")) for item in found if item["SK"] == items.MARK_SK}
        summaries = {str(item["session_id"]): item for item in found if item["SK"] == items.SUMMARY_SK}
        erasures = {str(item["user_id"]): str(item["started_at"]) for item in found if item["SK"] == items.ERASURE_SK}
        return marks, summaries, erasures

    def _incarnations(self, session_ids: set[str]) -> dict[str, str]:
        """The ``created_at`` of the hot items of ``session_ids`` that exist (one consistent BatchGetItem per 100):
        read for the sessions without a mark, whose records are applied only while their incarnation is there."""
        if not session_ids:
            return {}
        keys = [items.session_key(session_id) for session_id in sorted(session_ids)]
        projection = "session_id, created_at"
        found = dynamo.batch_get(self._client, self._table, keys, projection=projection, sleep=self._sleep)
        return {str(item["session_id"]): str(item["created_at"]) for item in found}

    def _commit_runs(
        self,
        pending: Sequence[Change],
        stored: dict[str, str],
        summaries: dict[str, dict[str, Any]],
        outcome: Outcome,
    ) -> int:
        """Write ``pending`` and the new ``summaries`` (session id -> summary item) in runs that each fit one
        transaction: the changes' runs in order, the summaries in the room left after them. ``stored`` (the marks
        read) follows what is committed, ``summaries`` loses what is written (counted in ``outcome``). Returns
        the number of transactions made."""
        runs: list[list[Change]] = []
        # A run's items: STATS, the COUNTS of users with count moves, the USAGE of users with usage moves and
        # their per-model usage items, a mark per session.
        counted: set[str] = set()
        used: set[tuple[str, str]] = set()
        sessions: set[str] = set()
        for change in pending:
            grown_counted = counted | ({change.user_id} if change.user_delta else set())
            grown_used, grown_sessions = used | _usage_items(change), sessions | {change.session_id}
            if not runs or 1 + len(grown_counted) + len(grown_used) + len(grown_sessions) > self._max_items:
                runs.append([])
                grown_counted = {change.user_id} if change.user_delta else set()
                grown_used, grown_sessions = _usage_items(change), {change.session_id}
            runs[-1].append(change)
            counted, used, sessions = grown_counted, grown_used, grown_sessions
        # The summaries fill the last run's room, then transactions of their own.
        waiting = list(summaries)
        room = self._max_items - (1 + len(counted) + len(used) + len(sessions)) if runs else 0
        plan: list[tuple[list[Change], list[str]]] = [(run, []) for run in runs]
        if plan:
            plan[-1] = (runs[-1], waiting[:room])
        plan += [([], waiting[i : i + self._max_items]) for i in range(room, len(waiting), self._max_items)]
        transactions = 0
        for run, ids in plan:
            own = {session_id: summaries[session_id] for session_id in ids}
            transactions += self._commit(run, stored, own)
            outcome.summaries += len(own)  # what is left of them: the ones whose condition held
            for session_id in ids:
                del summaries[session_id]
        return transactions

    def _commit(self, run: Sequence[Change], stored: dict[str, str], summaries: dict[str, dict[str, Any]]) -> int:
        """One TransactWriteItems: ADD to STATS and to users' COUNTS and USAGE, move each session's mark, put the new
        ``summaries`` (each conditioned never to replace a newer summary). Returns the transactions made.

        Each mark's condition is that it is still the mark read before (``stored``): when another delivery moved
        it first, the transaction is cancelled and :class:`_MarksMoved` asks for a fresh read and a retry. A
        summary whose condition failed (a newer one is stored) is left out of ``summaries`` and the rest is
        written again. A single summary without counts is one conditional PutItem.
        """
        total = Delta()
        per_user: dict[str, dict[str, int]] = {}
        usage: dict[str, Delta] = {}
        final: dict[str, Change] = {}
        for change in run:
            total += change.delta
            if change.user_delta:
                owner = per_user.setdefault(change.user_id, {})
                for name, value in change.user_delta.items():
                    owner[name] = owner.get(name, 0) + value
            for user_id, part in change.usage.items():
                usage[user_id] = usage.get(user_id, Delta()) + part
            final[change.session_id] = change
        actions: list[dict[str, Any]] = []
        if not total.totals_zero():
            values = {":s": total.sessions, ":a": total.active, ":m": total.messages, ":t": total.tokens}
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": items.STATS_KEY,
                        "UpdateExpression": (
                            "ADD total_sessions :s, active_sessions :a, total_messages :m, total_tokens :t,"
                            " total_cost :c"
                        ),
                        "ExpressionAttributeValues": serialize({**values, ":c": total.cost}),
                    }
                }
            )
        for user_id, deltas in per_user.items():
            deltas = {name: value for name, value in deltas.items() if value}
            if not deltas:
                continue
            actions.append(dynamo.add_action(self._table, items.user_counts_key(user_id), deltas))
        for user_id, part in usage.items():
            adds = part.usage_adds()
            if adds:
                actions.append(dynamo.add_action(self._table, items.user_usage_key(user_id), adds))
            for pair, moves in part.model_adds().items():
                action = dynamo.add_action(self._table, items.model_usage_key(user_id, pair), moves)
                action["Update"]["UpdateExpression"] = "SET #pair = :pair " + action["Update"]["UpdateExpression"]
                action["Update"]["ExpressionAttributeNames"]["#pair"] = "pair"
                action["Update"]["ExpressionAttributeValues"][":pair"] = {"S": pair}
                actions.append(action)
        for session_id, change in final.items():
            mark_values: dict[str, Any] = {
                ":mark": change.mark,
                ":entity": items.MARK_ENTITY,
                ":sid": session_id,
            }
            condition = "attribute_not_exists(PK)"
            if session_id in stored:
                condition += " OR applied = :previous"
                mark_values[":previous"] = stored[session_id]
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": items.mark_key(session_id),
                        "UpdateExpression": f"SET applied = :mark, {items.ENTITY} = :entity, session_id = :sid",
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": serialize(mark_values),
                    }
                }
            )
        transactions = 0
        while actions or summaries:
            if not actions and len(summaries) == 1:
                session_id, item = next(iter(summaries.items()))
                try:
                    dynamo.conditional(self._client, "put_item", **_summary_put(self._table, item))
                except ConditionFailed:
                    del summaries[session_id]
                break
            order = list(summaries)
            try:
                dynamo.transact_write(
                    self._client,
                    actions + [{"Put": _summary_put(self._table, summaries[i])} for i in order],
                    sleep=self._sleep,
                )
            except TransactionCanceled as canceled:
                if any(canceled.failed(index) for index in range(len(actions))):
                    raise _MarksMoved() from canceled
                stale = [i for index, i in enumerate(order) if canceled.failed(len(actions) + index)]
                if not stale:  # pragma: no cover - DynamoDB names the failed actions
                    raise StreamApplyError("transaction cancelled without a failed condition") from canceled
                for session_id in stale:
                    del summaries[session_id]
                continue
            transactions += 1
            break
        for session_id, change in final.items():
            stored[session_id] = change.mark
        return transactions

    # -- a removed session's content ----------------------------------------------------------------

    def _delete_gone_contents(self, session_id: str, created_before: str) -> int:
        """Delete every item of a session's partition created before ``created_before``: the content of a
        session that TTL removed, that an expired id's new session replaced, or that was deleted for good.

        Keys-only Query of the partition (with ``created_at``) + BatchWriteItem of 25; idempotent. Returns the
        number of items deleted. A new session that reuses the id is created after ``created_before`` and
        keeps everything of its own. A hot item is never among the batch deletes: an old one left is a
        tombstone, deleted by :meth:`_delete_tombstone` once the batch's counts are committed (until then its
        incarnation is in the table, so a retried batch still applies the session's records).
        """
        keys = [
            {"PK": raw["PK"], "SK": raw["SK"]}
            for raw in dynamo.query_keys(self._client, self._table, items.session_pk(session_id), "created_at")
            if raw.get("created_at", {}).get("S", created_before) < created_before
            and raw["SK"]["S"] != items.SESSION_SK
        ]
        return dynamo.delete_keys(self._client, self._table, keys, sleep=self._sleep)

    def _delete_tombstone(self, session_id: str, incarnation: str) -> int:
        """Delete a session's hot item while it is still the tombstone of ``incarnation`` (a create may have
        taken the id over meanwhile); return 1 when deleted, else 0. Its removal comes back through the stream
        and changes nothing (:func:`contribution` of a tombstone is zero)."""
        try:
            dynamo.conditional(
                self._client,
                "delete_item",
                TableName=self._table,
                Key=items.session_key(session_id),
                ConditionExpression="created_at = :incarnation AND #status = :deleted",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize({":incarnation": incarnation, ":deleted": items.DELETED_STATUS}),
            )
        except ConditionFailed:
            return 0
        return 1

    def _forget(self, change: Change) -> int:
        """A session's hot item left the table (TTL removed it, or its tombstone was deleted): delete its applied
        mark, which nothing needs any more (no record of that incarnation can follow the removal, and Lambda
        hands the removal over only once the batches before it succeeded; a record delivered again finds no
        mark and no incarnation, and is skipped: :func:`_still_there`). Conditioned on the mark being that
        incarnation's (a later one of the id keeps its own). An erasure's session is counted as cleaned
        (``sessions_cleared``) in the same transaction, so exactly once. Returns the items deleted (0 or 1)."""
        incarnation = change.mark.split("#", 1)[0]
        stored, _, _ = self._read_marks([change.session_id])
        if not stored.get(change.session_id, "").startswith(f"{incarnation}#"):
            return 0  # forgotten already (a record delivered again), or never applied
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": items.mark_key(change.session_id),
                    "ConditionExpression": "begins_with(applied, :incarnation)",
                    "ExpressionAttributeValues": serialize({":incarnation": f"{incarnation}#"}),
                }
            }
        ]
        if change.by_erasure:
            progress = {"sessions_cleared": 1, "items_deleted": 1}
            actions.append(dynamo.add_action(self._table, items.erasure_key(change.user_id), progress))
        try:
            dynamo.transact_write(self._client, actions, sleep=self._sleep)
        except TransactionCanceled:
            return 0  # forgotten meanwhile by another delivery
        return 1

    def _count_erased(self, user_id: str, deleted: int) -> None:
        """Add the items deleted for ``user_id``'s erasure in this batch to its progress (``items_deleted``)."""
        if deleted:
            update = dynamo.add_action(self._table, items.erasure_key(user_id), {"items_deleted": deleted})
            dynamo.call(self._client, "update_item", **update["Update"])

    # -- cuts: messages deleted by a request ------------------------------------------------------------

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
            messages, chunks = items.cut_ranges(str(cut["from"]), str(cut["to"]))
            for low, high in (chunks, messages):
                if len(keys) >= MAX_CUT_ITEMS:
                    break
                query = {
                    "TableName": self._table,
                    "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
                    "ExpressionAttributeValues": serialize(
                        {":pk": items.session_pk(session_id), ":first": low, ":last": high}
                    ),
                    "ProjectionExpression": "PK, SK, message_id, body_hash",
                    "ConsistentRead": True,
                }
                for found in map(deserialize, dynamo.query_keys_where(self._client, query, limit=MAX_CUT_ITEMS + 1)):
                    if len(keys) >= MAX_CUT_ITEMS:
                        break
                    keys.append(items.key(str(found["PK"]), str(found["SK"])))
                    if found.get("body_hash") is not None:  # a client-chosen id's reservation goes with it
                        keys.append(items.message_id_key(session_id, str(found["message_id"])))
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
                    Key=items.session_key(session_id),
                    UpdateExpression="REMOVE cuts.#cut" if done else progress,
                    ConditionExpression="attribute_exists(cuts.#cut)",
                    ExpressionAttributeNames={"#cut": cut_id},
                    **({} if done else {"ExpressionAttributeValues": serialize({":zero": 0, ":one": 1})}),
                )
        return deleted

    # -- index keys and summaries ---------------------------------------------------------------------

    def _maintain(self, moves: Sequence[IndexMove]) -> int:
        """Move lagging index keys, concurrently (independent single-item writes). Returns the moves made;
        raises what a write raises after its own retries (Lambda then retries the batch)."""
        return sum(int(moved) for moved in _pool(self._workers).map(self.move_index, moves))

    def _make_summaries(
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
        pool = _pool(self._workers)
        made = {
            session_id: pool.submit(
                self._summary_of,
                session_id,
                image,
                unless_covered=check,
                history=histories.get(session_id),
                stored=stored.get(session_id, {}),
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
                    Key=items.session_key(move.session_id),
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

    def refresh_summary(
        self, session_id: str, hot: dict[str, Any] | None = None, *, unless_covered: bool = False
    ) -> bool:
        """Regenerate a session's summary from its last messages; True when a new summary was stored.

        ``hot`` is the session's hot item as last read (read here when not given). With ``unless_covered``,
        nothing is done when the stored summary of this incarnation covers ``hot``'s ``message_count``
        already (one GetItem first). One Query (the newest
        :data:`SUMMARY_HISTORY` messages of the incarnation) and one conditional PutItem of the summary item,
        which never replaces a summary of newer messages. Nothing is written when the session is gone or has
        no messages.
        """
        if hot is None:
            response = dynamo.call(
                self._client, "get_item", TableName=self._table, Key=items.session_key(session_id), ConsistentRead=True
            )
            if not response.get("Item"):
                return False
            hot = deserialize(response["Item"])
        item = self._summary_of(session_id, hot, unless_covered=unless_covered)
        if item is None:
            return False
        try:
            dynamo.conditional(self._client, "put_item", **_summary_put(self._table, item))
        except ConditionFailed:
            return False
        return True

    def _summary_of(
        self,
        session_id: str,
        hot: dict[str, Any],
        *,
        unless_covered: bool = False,
        history: Future[list[dict[str, Any]]] | None = None,
        stored: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """A new summary item for the session ``hot`` shows (see :meth:`refresh_summary`), or ``None`` when it
        has no messages or the stored summary covers it already: with ``unless_covered``, its
        ``message_count``; always, the newest message read (the conditional write would keep the stored one).
        ``history`` is the read of its newest messages when one is under way, ``stored`` the stored summary
        when it was read (``{}``: none; ``None``: read it here, one GetItem, only with ``unless_covered``)."""
        incarnation = str(hot["created_at"])
        if stored is None and unless_covered:
            found = dynamo.call(
                self._client, "get_item", TableName=self._table, Key=items.summary_key(session_id), ConsistentRead=True
            ).get("Item")
            stored = deserialize(found) if found else {}
        summary = stored if stored and stored.get("created_at") == incarnation else {}
        if unless_covered and summary and int(summary.get("summary_messages", 0)) >= int(hot.get("message_count", 0)):
            return None
        messages = history.result() if history is not None else self._newest_messages(hot)
        if not messages:
            return None
        newest = str(messages[0]["SK"])
        if str(summary.get("summary_through", "")) >= newest:
            return None
        turns = [Turn(str(m.get("role", "")), str(m.get("content", ""))) for m in reversed(messages)]
        return items.summary_item(
            session_id, incarnation, self._summarizer.summarize(turns), newest, int(hot.get("message_count", 0))
        )

    def _newest_messages(self, hot: dict[str, Any]) -> list[dict[str, Any]]:
        """The newest :data:`SUMMARY_HISTORY` messages of the session ``hot`` (its hot item) describes, newest
        first, without those in its cuts (one Query)."""
        query = items.messages_query(self._table, hot, newest_first=True)
        response = dynamo.call(self._client, "query", **query, Limit=self._history)
        return [m for m in map(deserialize, response.get("Items", [])) if items.visible(str(m["SK"]), hot)]


def _summary_put(table: str, item: dict[str, Any]) -> dict[str, Any]:
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


def stream_processor() -> StreamProcessor:
    """The processor over the configured table and summarizer (``SUMMARY_MODEL_ID``), from the cached wiring."""
    from session_service import wiring

    config = wiring.settings()
    return StreamProcessor(wiring.dynamodb_client(), config.table_name, summarizer_for(config.summary_model_id))
