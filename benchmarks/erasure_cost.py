"""What erasing a user costs (SPEC section 9, issue 13), on DynamoDB Local: a user with 1,000 sessions of 20
messages each (and a memory record each), erased by ``DELETE /users/{user_id}``, beside the minimal design that
deletes everything in the request.

Starts Amazon DynamoDB Local (``devserver.dynamodb_local``), creates the table from template.yaml and works
through the repository and the stream function the handlers use; every DynamoDB call is metered (``meter.py``).

* **Minimal design** (``sync``): the request itself Queries GSI1 for the user's sessions, Queries each session's
  partition for its keys and deletes them with BatchWriteItem (25 a call). Nothing else: no statistics, counts
  or usage move, no mark, nothing for the stream to do. Run on a user of its own, with the same data.
* **This service** (``erase``): the request writes the erasure's progress record and the user's erasure mark (one
  transaction); readers find nothing from then on. The stream function then does the rest: its passes turn the
  sessions into tombstones, each tombstone's record deletes the session's items and moves the statistics, its
  removal forgets the session's mark; the last pass deletes the user's counts and idempotency records. The
  table's records are handed to the stream function in batches of 100 (the template's ``BatchSize``), round
  after round, until the progress record says ``erased``; then a Scan checks that nothing of the user is left
  but that record. Lambda's polling delay (about four reads of a shard a second) is not part of the figure.

DynamoDB Local under-reports the write units of a multi-item transaction (see ``message_records_cost.py``), so
the WCU of the transactions here are floors. Setup (creating the data and applying its stream) is not measured.

    python benchmarks/erasure_cost.py [--sessions 1000] [--messages 20] [--endpoint URL]
"""

from __future__ import annotations

import sys
import time
from typing import Any

import harness
from meter import Meter

from tests.support import apply_batches, mentioning

CONTENT = ("lorem ipsum dolor sit amet, consectetur adipiscing elit " * 4)[:200]
"""A short chat message (200 bytes)."""


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()

    with harness.bench(args.endpoint) as bench:
        from session_service import wiring
        from session_service.data import dynamo, keys, reads
        from session_service.models import MemoryCreate, SessionCreate
        from session_service.observability import metrics
        from session_service.stream import StreamProcessor
        from session_service.summarizer import ExtractiveSummarizer

        table, client, repo = bench.table, bench.client, bench.repo
        metered = wiring.dynamodb_client()
        meter = Meter().attach(metered)
        processor = StreamProcessor(metered, table, ExtractiveSummarizer())
        reader = bench.stream_reader()

        def fill(user: str) -> None:
            batch = [harness.turn(i, CONTENT, tokens=50, cost="0.000025") for i in range(args.messages)]
            for number in range(args.sessions):
                session, _ = repo.create_session(user, SessionCreate(user_id=user, title=f"chat {number}"))
                repo.append_messages(session.session_id, user, batch)
                repo.add_memory(session.session_id, user, MemoryCreate(memory_type="preference", content="likes tea"))

        def handle(records: list[dict[str, Any]]) -> dict[str, Any]:
            try:
                return dict(processor.handle({"Records": records}))
            finally:
                metrics.clear_metrics()  # no Lambda flushes them here (Powertools prints them at 100 values)

        def apply_stream() -> tuple[int, int]:
            """One round: the records so far, in batches of 100; returns (records, batches)."""
            records = reader.drain()
            return len(records), len(apply_batches(handle, records))

        started = time.perf_counter()
        # -- the minimal design: delete everything in the request ----------------------------------------
        naive = "bench_sync_user"
        fill(naive)
        reader.drain()  # its records are not part of either figure
        meter.reset()
        start = time.perf_counter()
        index = reads.user_sessions_query(table, naive)
        sessions = [raw["PK"]["S"] for raw in dynamo.query_keys_where(metered, index, limit=10**6)]
        keys = [
            {"PK": raw["PK"], "SK": raw["SK"]}
            for partition in [*sessions, keys.user_pk(naive)]
            for raw in dynamo.query_keys(metered, table, partition)
        ]
        deleted = dynamo.delete_keys(metered, table, keys)
        sync_seconds, sync = time.perf_counter() - start, meter.snapshot()
        reader.drain()

        # -- this service: answer at once, the stream function deletes ----------------------------------
        user = "bench_erased_user"
        fill(user)
        setup_records = 0
        while True:
            records, _ = apply_stream()
            setup_records += records
            if not records:
                break
        setup_seconds = time.perf_counter() - started
        meter.reset()
        start = time.perf_counter()
        repo.erase_user(user)
        answer_ms, answer = (time.perf_counter() - start) * 1000, meter.snapshot()
        meter.reset()
        background = time.perf_counter()
        rounds = records_applied = batches = 0
        while repo.erasure(user).status != "erased":
            got, made = apply_stream()
            rounds, records_applied, batches = rounds + 1, records_applied + got, batches + made
            if rounds > 1000:
                raise RuntimeError("the erasure did not finish")
        erase_seconds, erase = time.perf_counter() - background, meter.snapshot()
        apply_stream()  # its last writes come back through the stream and change nothing
        left = mentioning(client, table, user)
        progress = repo.erasure(user)

    print(f"Erasure of a user with {args.sessions} sessions x {args.messages} messages (+1 memory record each)")
    print(f"on DynamoDB Local; setup (not measured) {setup_seconds:.0f} s, {setup_records} stream records applied")
    print()
    print(f"{'design':<46} {'answer':>9} {'gone after':>11} {'requests':>9} {'WCU':>9} {'RCU':>8}")
    print(
        f"{'minimal: delete everything in the request':<46} {sync_seconds * 1000:>7.0f}ms {sync_seconds:>10.1f}s"
        f" {sync.requests:>9} {sync.write_units:>9.0f} {sync.read_units:>8.0f}"
    )
    print(f"{'  items deleted':<46} {deleted:>9}")
    print(
        f"{'this service: the request':<46} {answer_ms:>7.1f}ms {'':>11} {answer.requests:>9}"
        f" {answer.write_units:>9.0f} {answer.read_units:>8.0f}"
    )
    print(
        f"{'this service: the stream function':<46} {'':>9} {erase_seconds:>10.1f}s {erase.requests:>9}"
        f" {erase.write_units:>9.0f} {erase.read_units:>8.0f}"
    )
    print(
        f"{'  stream':<46} {records_applied} records in {batches} batches of <= 100, {rounds} rounds;"
        f" {progress.items_deleted} items deleted"
    )
    print(f"{'  calls':<46} {dict(sorted(erase.calls.items()))}")
    print(f"left of the user after the erasure: {left}")
    return 0 if left == [(f"ERASURE#{user}", "PROGRESS")] else 1


if __name__ == "__main__":
    sys.exit(main())
