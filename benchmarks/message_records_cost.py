"""What messages as records cost (SPEC section 8), on DynamoDB Local: a streamed reply's chunks at chunk 1 and
chunk 200 (flat), its finalization, an append with a client-chosen ``message_id`` beside one without, a
single-message PATCH and DELETE, and a truncation of 1,000 messages: its answer, and the stream function's
deletion of what it cut.

Starts Amazon DynamoDB Local (``devserver.dynamodb_local``), creates the table from template.yaml and works
through the repository the handlers use. Every DynamoDB call is metered (``meter.py``) with
``ReturnConsumedCapacity=INDEXES``, so the write units are split between the table and its indexes (LSI1, the
message-by-id index, is written with every message item). For each operation it prints round trips, write
and read capacity units (WCU, RCU) per operation, and milliseconds (median over the runs of a window).

The truncation runs on a table of its own (its stream holds only that session's records): 1,001 messages of
~1 KB, the stream applied up to then, a truncation after the first; then the stream function is handed the
table's new records (batches of 100, as the template's ``BatchSize``), round after round, until a Query of the
partition finds no message item after the kept one. Lambda's polling delay (a shard is read about four times
a second) is not part of the figure.

    python benchmarks/message_records_cost.py [--chunks 200] [--truncate 1000] [--endpoint URL]
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import harness
from harness import turn
from meter import READ_OPERATIONS, Meter

from tests.support import apply_batches, handle_with, new_table

CHUNK = ("streamed tokens " * 7)[:100]
"""100 bytes, a few tokens of a streamed reply."""
WINDOW = 20
"""Operations per reported window (chunks 1-20 and 181-200; appends, PATCHes and DELETEs)."""


@dataclass
class IndexMeter(Meter):
    """A :class:`Meter` that asks for ``ReturnConsumedCapacity=INDEXES`` and also keeps the write units per
    target (``table``, ``LSI1``, ``GSI1``...).

    DynamoDB Local under-reports a ``TransactWriteItems`` whose items weigh the same number of units: it
    seems to add up the *distinct* per-item figures (three Puts of 100 bytes report 2 units, not 6; two of
    1,500 bytes 4, not 8; one of each 6). So, given a ``sizer`` (an unmetered client), each transaction is
    also costed from its items: 2 units per started KB of each item (the larger of its size before and
    after, read around the call), plus 2 per LSI entry written (an item with ``LSI1SK`` put, deleted, or its
    key changed; keys-only entries weigh under 1 KB). ``sized_write_units`` is that figure for transactions
    and what DynamoDB Local reports for every other call."""

    writes_by_target: dict[str, float] = field(default_factory=dict)
    sized_write_units: float = 0.0
    sizer: Any = field(default=None, repr=False)
    sizing_seconds: float = 0.0
    """Time spent reading items for ``sized_write_units`` (taken off the operations' times)."""
    _params: dict[str, Any] = field(default_factory=dict, repr=False)
    _before: list[dict[str, Any] | None] = field(default_factory=list, repr=False)

    def reset(self) -> None:
        super().reset()
        self.writes_by_target, self.sized_write_units = {}, 0.0

    def snapshot(self) -> IndexMeter:
        return IndexMeter(
            self.requests,
            dict(self.calls),
            self.write_units,
            self.read_units,
            dict(self.writes_by_target),
            self.sized_write_units,
        )

    def attach(self, client: Any) -> IndexMeter:
        super().attach(client)
        client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", self._read_before)
        return self

    def _targets(self, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for action in params.get("TransactItems", []):
            (_kind, body), *_ = action.items()
            item = body.get("Item") or body.get("Key") or {}
            found.append((body["TableName"], {"PK": item["PK"], "SK": item["SK"]}))
        return found

    def _item(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        got = self.sizer.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return dict(got) if got else None

    def _read_before(self, params: dict[str, Any], **_: Any) -> None:
        if self.sizer is not None:
            started = time.perf_counter()
            self._params = params
            self._before = [self._item(table, key) for table, key in self._targets(params)]
            self.sizing_seconds += time.perf_counter() - started

    def _sized(self, params: dict[str, Any]) -> float:
        from session_service.data.dynamo import deserialize, item_size

        started = time.perf_counter()
        units = 0.0
        for (table, key), before in zip(self._targets(params), self._before, strict=True):
            after = self._item(table, key)
            sizes = [item_size(deserialize(i)) for i in (before, after) if i]
            units += 2 * max(1, -(-max(sizes, default=0) // 1024))
            old, new = ((i or {}).get("LSI1SK") for i in (before, after))
            if old != new:
                units += 2 * ((old is not None) + (new is not None))
        self.sizing_seconds += time.perf_counter() - started
        return units

    @staticmethod
    def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _read_capacity(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        reported = self.write_units
        super()._read_capacity(parsed=parsed, model=model, **kwargs)
        if model.name in READ_OPERATIONS:
            return
        if model.name == "TransactWriteItems" and self.sizer is not None and "Error" not in parsed:
            self.sized_write_units += self._sized(self._params)
        else:
            self.sized_write_units += self.write_units - reported
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            targets = {"table": entry.get("Table") or {}}
            for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
                targets.update(entry.get(kind) or {})
            for name, units in targets.items():
                value = float(units.get("CapacityUnits", units.get("WriteCapacityUnits", 0)) or 0)
                if value:
                    self.writes_by_target[name] = self.writes_by_target.get(name, 0.0) + value


@dataclass
class Row:
    """One line of the report: figures per operation over ``runs`` operations."""

    label: str
    measured: IndexMeter
    timings: list[float]
    runs: int = 1

    def line(self) -> str:
        per, m = self.runs, self.measured
        split = ", ".join(f"{t} {u / per:g}" for t, u in sorted(m.writes_by_target.items()))
        calls = ", ".join(f"{op} {n / per:g}" for op, n in sorted(m.calls.items()))
        return (
            f"{self.label:<44} {per:>4} {m.requests / per:>6.1f} {m.sized_write_units / per:>7.2f}"
            f" {m.write_units / per:>7.2f} {m.read_units / per:>7.2f} {statistics.median(self.timings):>8.2f}"
            f"  {split or '-'}  [{calls}]"
        )


HEADER = (
    f"{'operation':<44} {'runs':>4} {'trips':>6} {'WCU':>7} {'(Local)':>7} {'RCU':>7} {'ms':>8}"
    "  WCU by target as DynamoDB Local reports  [calls]"
)


def measure(meter: IndexMeter, label: str, operations: list[Callable[[], Any]]) -> Row:
    """Run ``operations`` one after another; the meter over all of them and each one's time (ms)."""
    meter.reset()
    timings = []
    for operation in operations:
        sizing, start = meter.sizing_seconds, time.perf_counter()
        operation()
        timings.append((time.perf_counter() - start - (meter.sizing_seconds - sizing)) * 1000)
    return Row(label, meter.snapshot(), timings, len(operations))


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--truncate", type=int, default=1000)
    args = parser.parse_args()
    if args.chunks < 2 * WINDOW:
        parser.error(f"--chunks must be at least {2 * WINDOW}")

    with harness.bench(args.endpoint) as bench:
        import boto3

        from session_service import wiring
        from session_service.cursor import CursorCodec
        from session_service.data import keys
        from session_service.models import (
            ChunkCreate,
            MessageCreate,
            MessageRole,
            MessageStatus,
            MessageUpdate,
            SessionCreate,
        )
        from session_service.repository import SessionRepository
        from session_service.stream import StreamProcessor
        from session_service.summarizer import ExtractiveSummarizer

        endpoint, table, client, repo = bench.endpoint, bench.table, bench.client, bench.repo
        meter = IndexMeter(sizer=boto3.client("dynamodb")).attach(wiring.dynamodb_client())
        user = "bench_user"
        rows: list[Row | str] = []

        def new_session(title: str) -> str:
            session, _ = repo.create_session(user, SessionCreate(user_id=user, title=title))
            return session.session_id

        # Warm-up: JVM JIT, connections.
        warm = new_session("warm-up")
        for i in range(50):
            repo.append_messages(warm, user, [turn(i)])

        # -- a streamed reply: chunks 1 ... N, then its finalization -----------------------------------
        sid = new_session("streamed reply")
        repo.append_messages(sid, user, [turn(0)])
        (reply,) = repo.append_messages(
            sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
        )
        rows.append(f"a streamed reply: {args.chunks} chunks of {len(CHUNK)} bytes, then its finalization")
        chunk_rows = [
            measure(
                meter,
                f"chunk {i + 1}",
                [lambda i=i: repo.add_chunk(sid, user, reply.message_id, ChunkCreate(index=i, content=CHUNK))],
            )
            for i in range(args.chunks)
        ]
        last = args.chunks

        def window(label: str, part: list[Row]) -> Row:
            total = IndexMeter()
            for row in part:
                total.requests += row.measured.requests
                total.write_units += row.measured.write_units
                total.sized_write_units += row.measured.sized_write_units
                total.read_units += row.measured.read_units
                for op, n in row.measured.calls.items():
                    total.calls[op] = total.calls.get(op, 0) + n
                for target, units in row.measured.writes_by_target.items():
                    total.writes_by_target[target] = total.writes_by_target.get(target, 0.0) + units
            return Row(label, total, [t for row in part for t in row.timings], len(part))

        rows += [
            chunk_rows[0],
            chunk_rows[last - 1],
            window(f"chunks 1-{WINDOW}", chunk_rows[:WINDOW]),
            window(f"chunks {last - WINDOW + 1}-{last}", chunk_rows[-WINDOW:]),
        ]
        final = MessageUpdate(status=MessageStatus.COMPLETED, tokens_used=900, cost_usd=Decimal("0.0009"))
        rows.append(
            measure(
                meter,
                f"finalize after {last} chunks",
                [lambda: repo.update_message(sid, user, reply.message_id, final)],
            )
        )
        # The stream function deletes a finalized reply's chunks when it sees the reply's record (no cut).
        processor = StreamProcessor(wiring.dynamodb_client(), table, ExtractiveSummarizer())
        reply_sk = keys.message_sk(keys.iso(reply.created_at), reply.message_id)
        rows.append(
            measure(
                meter,
                f"stream: delete the {last} chunks",
                [lambda: processor.cleanup.delete_chunks(sid, reply_sk)],
            )
        )

        # -- appends with and without a client-chosen message_id ---------------------------------------
        rows.append(f"appends of one ~1 KB message, {WINDOW} each")
        plain, chosen = new_session("plain"), new_session("client ids")
        rows.append(
            measure(
                meter,
                "append, server-drawn id",
                [lambda i=i: repo.append_messages(plain, user, [turn(i)]) for i in range(WINDOW)],
            )
        )
        requests = [turn(i, message_id=str(uuid.uuid4())) for i in range(WINDOW)]
        rows.append(
            measure(
                meter,
                "append, client-chosen message_id",
                [lambda r=r: repo.append_messages(chosen, user, [r]) for r in requests],
            )
        )
        rows.append(
            measure(
                meter,
                "the same append again (200, nothing written)",
                [lambda r=r: repo.append_messages(chosen, user, [r]) for r in requests],
            )
        )

        # -- one message: PATCH and DELETE ---------------------------------------------------------------
        rows.append(f"one message of a {WINDOW}-message session, {WINDOW} each")
        targets = [m.message_id for m in repo.list_messages(plain, user, page_size=WINDOW).messages]
        rows.append(
            measure(
                meter,
                "PATCH tokens_used + cost_usd",
                [
                    lambda t=t, i=i: repo.update_message(
                        plain, user, t, MessageUpdate(tokens_used=300 + i, cost_usd=Decimal("0.00015"))
                    )
                    for i, t in enumerate(targets)
                ],
            )
        )
        rows.append(
            measure(
                meter,
                "PATCH metadata",
                [
                    lambda t=t: repo.update_message(plain, user, t, MessageUpdate(metadata={"rating": 5}))
                    for t in targets
                ],
            )
        )
        rows.append(measure(meter, "GET one message", [lambda t=t: repo.get_message(plain, user, t) for t in targets]))
        rows.append(
            measure(meter, "DELETE one message", [lambda t=t: repo.delete_message(plain, user, t) for t in targets])
        )

        # -- a truncation of N messages, on a table of its own --------------------------------------------
        cut_table = new_table(client, "session-service-bench-cut")
        cut_client = boto3.client("dynamodb")
        cut_meter = IndexMeter(sizer=boto3.client("dynamodb")).attach(cut_client)
        cut_repo = SessionRepository(cut_client, cut_table, ttl_seconds=86_400, cursors=CursorCodec("b" * 32))
        reader = bench.stream_reader(cut_table)
        background = handle_with(StreamProcessor(cut_client, cut_table, ExtractiveSummarizer()))
        cut_sid = cut_repo.create_session(user, SessionCreate(user_id=user, title="truncate"))[0].session_id
        fill_started = time.perf_counter()
        everything = [turn(i) for i in range(args.truncate + 1)]
        kept = None
        for first in range(0, len(everything), 98):
            stored = cut_repo.append_messages(cut_sid, user, everything[first : first + 98])
            kept = kept or stored[0]
        assert kept is not None
        fill_seconds = time.perf_counter() - fill_started
        apply_batches(background, reader.drain())  # the stream is up to date before the truncation
        apply_batches(background, reader.drain())
        after = keys.after_message(keys.message_sk(keys.iso(kept.created_at), kept.message_id))

        def left() -> int:
            """Items of the partition after the kept message (a consistent COUNT Query, every page)."""
            query: dict[str, Any] = {
                "TableName": cut_table,
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
                "ExpressionAttributeValues": {
                    ":pk": {"S": keys.session_pk(cut_sid)},
                    ":first": {"S": after},
                    ":last": {"S": keys.MESSAGE_END},
                },
                "Select": "COUNT",
                "ConsistentRead": True,
            }
            count = 0
            for _ in range(100):
                response = client.query(**query)
                count += int(response["Count"])
                if not response.get("LastEvaluatedKey"):
                    break
                query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            return count

        assert left() == args.truncate
        cut_meter.reset()
        started = time.perf_counter()
        deleted = cut_repo.truncate_after(cut_sid, user, kept.message_id)
        answered = time.perf_counter()
        answer = Row(
            f"truncate after message 1 of {args.truncate + 1}", cut_meter.snapshot(), [(answered - started) * 1000]
        )
        session = cut_repo.get_session(cut_sid, user)
        cut_meter.reset()
        rounds, records = 0, 0
        while left() and rounds < 20:
            rounds += 1
            batch = reader.drain()
            records += len(batch)
            apply_batches(background, batch)
        clean = time.perf_counter()
        background_meter = cut_meter.snapshot()
        rows.append(
            f"a truncation of {args.truncate} messages (~1 KB), on its own table (filled in {fill_seconds:.1f} s)"
        )
        rows.append(answer)
        rows.append(Row("stream: until the table holds none of them", background_meter, [(clean - answered) * 1000]))

        print(
            f"DynamoDB Local at {endpoint}; ReturnConsumedCapacity=INDEXES; figures per operation. WCU: transactions"
            " costed from their items' sizes (2 units per started KB of each item, 2 per LSI entry), other calls as"
            " reported; (Local): what DynamoDB Local reports (it under-counts transactions, see IndexMeter)"
        )
        print(HEADER)
        for row in rows:
            print(row.line() if isinstance(row, Row) else f"\n{row}:")
        print(
            f"\ntruncation: answered {deleted} deleted in {(answered - started) * 1000:.0f} ms; session then"
            f" message_count {session.message_count}, total_tokens {session.total_tokens}; the partition held none"
            f" of them {(clean - started) * 1000:.0f} ms after the request ({(clean - answered) * 1000:.0f} ms of"
            f" stream function, {rounds} rounds, {records} records); left: {left()}"
        )
        client.delete_table(TableName=cut_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
