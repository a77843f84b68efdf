"""The table's stream, applied exactly once: statistics, per-user counts and usage, clean-ups, index keys; and,
apart, summaries.

Lambda delivers DynamoDB stream records at least once, in order per item, in batches of up to 100 from one
shard (SPEC section 6; ``template.yaml``: ``ReportBatchItemFailures``, bisect on error, 5 retries, an SQS
on-failure queue). The package turns a batch into its derived writes, one module per job:

* :mod:`~session_service.stream.records`: a record read into a :class:`Change` (its share of the statistics and of
  its owner's counts and usage, its applied mark, what it leaves to clean up, index and summarize);
* :mod:`~session_service.stream.processor`: :class:`StreamProcessor`, the entry point (:meth:`StreamProcessor.handle`)
  and a batch's phases (:meth:`StreamProcessor.apply`);
* :mod:`~session_service.stream.commit`: the one transaction per run of a ``STATS`` shard, ``COUNTS``, ``USAGE`` and
  marks;
* :mod:`~session_service.stream.cleanup`: removed sessions' contents, tombstones, cuts, forgotten marks;
* :mod:`~session_service.stream.upkeep`: index keys, and a summary's making;
* :mod:`~session_service.stream.erasure`: a user's erasure, pass by pass;
* :mod:`~session_service.stream.summaries`: the summary function, the stream's second consumer (summaries apart from
  the statistics).

The design:

* **Statistics and user counts** come from SESSION items only, so ``total_messages`` is the sum of
  ``message_count`` over the sessions that exist, and a removed (expired) session leaves every count.
* **Usage** (SPEC section 9) is the same contribution per owner, on the owner's usage item and on its item of
  each model the session counts, so the usages of all users add up to ``STATS`` and a session that goes (TTL,
  permanent delete) leaves its owner's usage. An expired id created again by another user moves the old session
  out of the old owner's usage and the new one into the new owner's.
* **Once per batch**: the deltas of a batch are summed and written together, to one of the ``STATS`` shards
  (:func:`~session_service.data.stats.stats_shard`), so no item is written by every batch.
* **Exactly-once effect**: the same transaction moves a per-session *applied mark* to the state the last applied
  record left the session in: ``<created_at>#<version, 12 digits>#<0, or 1 once removed>``. Every write of a
  session bumps its ``version`` and ``created_at`` names the incarnation (an id can be reused once TTL removed it),
  so marks sort as text in the order of the session's history. A record whose mark is not above the stored one was
  applied already and is skipped. Per-session marks need no shard id (a Lambda record does not carry one) and stay
  right across shard splits and a ``ParallelizationFactor`` above 1, because DynamoDB orders the records of one
  item. Marks do not expire: a mark is deleted when its session's hot item leaves the table, so it lives exactly as
  long as the session can produce records (a TTL on marks let a mark expire before a session whose expiry a memory
  record had slid, and the session's removal was then taken for a delivery again). No record of a forgotten
  session can follow but a delivery again of one already applied (Lambda hands the removal over only once the
  batch that applied the tombstone succeeded): a record of a session that has no mark and whose incarnation is not
  in the table any more is skipped (:func:`~session_service.stream.records.still_there`).
* **Partial failure**: a record that cannot be parsed is reported in ``batchItemFailures`` through Powertools'
  batch processor. Lambda then retries from the lowest failed sequence number, so only the records before it are
  applied now; the rest come again.
* **Summaries** are not made here: the summary function (:mod:`~session_service.stream.summaries`) makes them
  from the same stream, so a slow summarizer never delays the statistics.
* **Only what it needs**: the event source mapping's ``FilterCriteria`` (``template.yaml``) hands the function
  session hot items, erasure progress records and streamed replies leaving ``in_progress`` only.
* **Erasure**: each record of a running erasure's progress record brings a pass; forgetting an erasure's
  tombstone counts it in the progress record in the same transaction.

Writes of the stream's own items (STATS, COUNTS, USAGE, marks, summaries) are dropped by the filter (and ignored
from their keys alone when a record reaches the function unfiltered); an index move comes back as a session MODIFY
that changes no count and whose keys are current, so nothing loops.
"""

from session_service.stream.commit import StreamApplyError
from session_service.stream.processor import StreamProcessor
from session_service.stream.records import Change, Delta, IndexMove, MalformedRecord, Outcome, parse_record

__all__ = [
    "Change",
    "Delta",
    "IndexMove",
    "MalformedRecord",
    "Outcome",
    "StreamApplyError",
    "StreamProcessor",
    "parse_record",
]
