"""The statistics function's entry point: a Lambda batch read into changes and applied exactly once, phase by phase.

:meth:`StreamProcessor.apply` runs a batch's phases in this order; each is a short method below:

1. commit the counts: read the applied marks, keep the changes not applied yet, delete the contents of removed
   sessions, and write it all (:mod:`~session_service.stream.commit`; the statistics to the batch's ``STATS`` shard),
   again on a fresh read when another delivery moved a mark first;
2. move lagging index keys; 3. clear the sessions' cuts and the chunks of replies finalized or deleted;
4. delete the tombstones; 5. forget the marks of sessions that left the table (an erasure's session counted in its
progress then, exactly once); 6. advance the erasures whose progress records moved.

Phases 4 to 6 come last, once nothing of the batch can fail any more: a tombstone deleted, or a mark forgotten,
before a retry would make the retry skip what it must apply.

Summaries are not made here: the summary function (:mod:`~session_service.stream.summaries`), the stream's second
consumer, makes them, so a slow summarizer never delays a commit. A processor given a ``summarizer`` (one-process
tools and tests that drive the stream through one function) runs that consumer's work on each batch after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from session_service.data import dynamo, items, stats
from session_service.observability import logger, metrics
from session_service.stream import records
from session_service.stream.cleanup import Cleanup
from session_service.stream.commit import (
    Committer,
    MarksMoved,
    Stored,
    StreamApplyError,
    read_incarnations,
    read_stored,
)
from session_service.stream.erasure import Eraser
from session_service.stream.records import Change, MalformedRecord, Outcome
from session_service.stream.summaries import SummaryWriter
from session_service.stream.upkeep import MAINTENANCE_WORKERS, SUMMARY_HISTORY, Upkeep
from session_service.summarizer import Summarizer

MAX_COMMIT_ATTEMPTS = 6
"""Re-reads of the applied marks when another delivery moved them first."""


@dataclass
class _Batch:
    """A batch on its way through :meth:`StreamProcessor.apply`: its changes, what they ask for, what was done."""

    changes: Sequence[Change]
    outcome: Outcome = field(default_factory=Outcome)

    @property
    def counted(self) -> list[Change]:
        """The changes that move a mark (statistics, counts, usage or a clean-up)."""
        return [c for c in self.changes if c.counts()]

    @property
    def sessions(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "session"]


class StreamProcessor:
    """Applies DynamoDB stream batches to the table's derived items (see :mod:`session_service.stream`).

    ``client`` is a low-level DynamoDB client, ``table_name`` the session table; ``summarizer``, when given, makes
    each batch's summaries after its commit (:class:`~session_service.stream.summaries.SummaryWriter` over the newest
    ``history`` messages; the deployed statistics function has none: the summary function makes them);
    ``workers`` threads move index keys; ``max_transact_items`` bounds a transaction (DynamoDB's 100); ``clock``
    (epoch seconds) and ``sleep`` are injectable for tests. Its jobs are public for tests: ``commit``, ``cleanup``,
    ``upkeep``, ``eraser``, ``summaries`` (``None`` without a summarizer).
    Raises :class:`~session_service.errors.ServiceUnavailable`, :class:`~session_service.errors.StoreUnavailable` and
    :class:`~session_service.stream.commit.StreamApplyError` when DynamoDB keeps failing: Lambda then retries the
    batch, and what was applied already is skipped.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        summarizer: Summarizer | None = None,
        *,
        history: int = SUMMARY_HISTORY,
        workers: int = MAINTENANCE_WORKERS,
        max_transact_items: int = dynamo.MAX_TRANSACTION_ITEMS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep
        self._shard_turn: int | None = None
        self.commit = Committer(client, table_name, max_items=max_transact_items, sleep=sleep)
        self.cleanup = Cleanup(client, table_name, sleep=sleep)
        self.upkeep = Upkeep(client, table_name, workers=workers, sleep=sleep)
        self.eraser = Eraser(client, table_name, clock=clock, sleep=sleep)
        self.summaries = (
            SummaryWriter(client, table_name, summarizer, history=history, workers=workers, sleep=sleep)
            if summarizer is not None
            else None
        )

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
                parsed.append(records.parse_record(record))
            except Exception:
                try:
                    failed.append(records.sequence_of(record))
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
        applicable = records.applicable_prefix(parsed, failed)
        outcome = self.apply(applicable)
        if self.summaries is not None:
            done = {change.sequence for change in applicable}
            ordered = [r for r in event.get("Records", []) if _sequence(r) in done]
            outcome.summaries = self.summaries.apply(ordered).written
        logger.info(
            "Stream batch applied",
            extra={
                "records": len(event.get("Records", [])),
                "failed": len(failed),
                "applied": outcome.applied,
                "skipped": outcome.skipped,
                "transactions": outcome.transactions,
                "deleted_items": outcome.deleted_items,
                "index_moves": outcome.index_moves,
            },
        )
        metrics.add_metric(name="StreamRecordsApplied", unit=MetricUnit.Count, value=outcome.applied)
        metrics.add_metric(name="StreamRecordsSkipped", unit=MetricUnit.Count, value=outcome.skipped)
        metrics.add_metric(name="StreamRecordsFailed", unit=MetricUnit.Count, value=len(failed))
        return response

    def apply(self, changes: Sequence[Change]) -> Outcome:
        """Apply ``changes`` (in sequence order, all readable) exactly once, in the phases of the module docstring."""
        batch = _Batch(changes)
        self._commit_counts(batch)
        self._move_index_keys(batch)
        self._clear_cuts(batch)
        self._delete_tombstones(batch)
        self._forget_marks(batch)
        self._advance_erasures(batch)
        return batch.outcome

    def _next_shard(self, batch: _Batch) -> int:
        """The ``STATS`` shard this batch adds to: the shards in turn, from the one the first batch's first sequence
        number picks (:func:`~session_service.data.stats.stats_shard`, so instances start apart). Each shard takes
        at most one more than 1/:data:`~session_service.data.stats.STATS_SHARDS` of an instance's batches (Lambda
        runs one instance per stream shard at a time); a redelivered batch may pick another shard, which is safe:
        the marks in the same transaction decide whether it counts."""
        if self._shard_turn is None:
            self._shard_turn = stats.stats_shard(batch.changes[0].sequence) if batch.changes else 0
        shard, self._shard_turn = self._shard_turn, (self._shard_turn + 1) % stats.STATS_SHARDS
        return shard

    # -- the phases, in order ----------------------------------------------------------------------------

    def _commit_counts(self, batch: _Batch) -> None:
        """Commit the batch's counts and marks; read the marks again and recompute when another delivery moved one
        first (at most :data:`MAX_COMMIT_ATTEMPTS` reads, then :class:`StreamApplyError`)."""
        counted = batch.counted
        owners = {owner for c in counted for owner in c.usage}
        shard = self._next_shard(batch)
        for _ in range(MAX_COMMIT_ATTEMPTS):
            # One read takes the marks and the erasures of the users whose usage moves.
            stored = read_stored(self._client, self._table, {c.session_id for c in counted}, owners, sleep=self._sleep)
            pending = self._pending(counted, stored)
            self._delete_contents(batch, pending)
            try:
                batch.outcome.transactions += self.commit.write(pending, stored.marks, shard)
            except MarksMoved:
                continue
            batch.outcome.applied = len(pending)
            batch.outcome.skipped = len(counted) - len(pending)
            for change in pending:
                batch.outcome.delta += change.delta
            return
        raise StreamApplyError("applied marks kept moving")

    def _pending(self, counted: Sequence[Change], stored: Stored) -> list[Change]:
        """The changes not applied yet, in order: above their session's stored mark, or, for a session without a
        mark, of an incarnation still in the table (:func:`~session_service.stream.records.still_there`); each
        without the usage an erasure of its owner covers."""
        without_mark = {c.session_id for c in counted} - stored.marks.keys()
        current = read_incarnations(self._client, self._table, without_mark, sleep=self._sleep)
        pending: list[Change] = []
        latest = dict(stored.marks)
        for change in counted:
            if change.session_id not in latest and not records.still_there(change, current.get(change.session_id)):
                continue  # a forgotten session's record, delivered again: applied long ago
            if change.mark > latest.get(change.session_id, ""):
                pending.append(records.without_erased_usage(change, stored.erasures))
                latest[change.session_id] = change.mark
        return pending

    def _delete_contents(self, batch: _Batch, pending: Sequence[Change]) -> None:
        """Delete the contents of the sessions ``pending`` removes, before their marks move (a crash in between
        repeats the deletion)."""
        for change in pending:
            if change.expired_before is not None:
                erased_by = change.user_id if change.by_erasure else None
                deleted = self.cleanup.delete_contents(
                    change.session_id, change.expired_before, change.deleted, erased_by
                )
                batch.outcome.deleted_items += deleted

    def _move_index_keys(self, batch: _Batch) -> None:
        """Move the index keys that lag, as each session's last record asks."""
        moves = {c.session_id: c.index for c in batch.sessions}
        batch.outcome.index_moves = self.upkeep.move_indexes([m for m in moves.values() if m])

    def _clear_cuts(self, batch: _Batch) -> None:
        """Delete the items in the cuts of each session's newest image, and the chunks of the streamed replies the
        batch shows finalized or deleted."""
        newest = {c.session_id: c.image for c in batch.sessions}
        for session_id, image in newest.items():
            if image and image.get("cuts"):
                batch.outcome.deleted_items += self.cleanup.clear_cuts(session_id, image)
        for change in batch.changes:
            if change.kind == "chunks":
                batch.outcome.deleted_items += self.cleanup.delete_chunks(change.session_id, change.message_sk)

    def _delete_tombstones(self, batch: _Batch) -> None:
        """Delete the tombstones the batch's records show, each while it is still that tombstone."""
        for change in batch.sessions:
            if change.image is not None and items.is_tombstone(change.image):
                batch.outcome.deleted_items += self.cleanup.delete_tombstone(
                    change.session_id, str(change.image["created_at"])
                )

    def _forget_marks(self, batch: _Batch) -> None:
        """Delete the marks of the sessions whose hot item left the table."""
        for change in batch.changes:
            if change.forget:
                batch.outcome.deleted_items += self.cleanup.forget(change)

    def _advance_erasures(self, batch: _Batch) -> None:
        """Run a pass of each erasure whose progress record moved (once per user)."""
        for user_id in dict.fromkeys(c.user_id for c in batch.changes if c.kind == "erasure"):
            batch.outcome.erasure_writes += self.eraser.advance(user_id)


def _sequence(record: dict[str, Any]) -> int:
    """A raw record's sequence number (``-1`` when unreadable: such a record is never applicable)."""
    text = (record.get("dynamodb") or {}).get("SequenceNumber")
    return int(text) if isinstance(text, str) and text.isdigit() else -1
