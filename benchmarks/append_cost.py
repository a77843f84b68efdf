"""What an append costs by message size, beside the minimal design, at message 1 and message 10,000, on DynamoDB
Local; and what the context read and the listing cost at 10,000 messages.

Starts Amazon DynamoDB Local (``devserver.dynamodb_local``: java, no Docker), creates the table from
template.yaml, and for each message size (``--sizes``, characters of content: 200, 600, 700, 800, 1 KB, 4 KB)
appends ``WINDOW`` messages one by one through the repository the handlers use to a new session (messages
1-100), fills it with batches up to ``--messages`` less ``WINDOW`` (default 10,000), then appends the last
``WINDOW`` one by one (messages 9,901-10,000). Beside it, the **minimal design** on its own table, the same way:
one item per message (keys, role, content, tokens, cost, time) plus a counter item, the pair written by one
TransactWriteItems (Put the message, ADD to the counter), the least any store that keeps exact counters
atomically can write.

Write units are costed as AWS bills a transaction (DynamoDB Local under-reports one whose items weigh the same
number of units: see ``IndexMeter`` in ``message_records_cost.py``): 2 units per started KB of each item (the
larger of its size before and after, sized as DynamoDB bills: :func:`aws_size`), plus 2 per LSI entry written.
Then, at 1 KB: the first ``WINDOW`` appends to sessions holding ~30 KiB of ``metadata`` and
``conversation_data``, a ~900-character summary, messages naming a provider and a model, five models in turn,
and client-chosen ``message_id``s; and the newest 20 messages of the 10,000-message session by ``/context`` and
``order=desc``, and a page of the user's sessions: round trips and read units (median of 5 runs).

    python benchmarks/append_cost.py [--messages 10000] [--sizes 200,600,700,800,1000,4000] [--endpoint URL]
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import harness
from harness import CONTENT
from message_records_cost import IndexMeter
from meter import Meter

WINDOW = 100
"""Appends per reported window (the first and the last)."""
FILL_BATCH = 98
"""Messages per batch append while filling a session (one transaction of 98 messages and the session)."""
TEXT = CONTENT * 5
"""5,000 characters to cut messages from."""


def aws_size(value: dict[str, Any]) -> int:
    """The size DynamoDB bills for an attribute value (DynamoDB JSON): a string's or binary's bytes, a number's 1
    byte per two significant digits plus 1 ("Item sizes and formats", DynamoDB developer guide), 1 for a boolean
    or null, a map's or list's 3 plus its elements (each 1 more), a set's elements."""
    (kind, raw), *_ = value.items()
    if kind in ("S", "B"):
        return len(raw.encode("utf-8")) if kind == "S" else len(raw)
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return -(-len(digits) // 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + aws_size(v) + 1 for name, v in raw.items())
    if kind == "L":
        return 3 + sum(aws_size(v) + 1 for v in raw)
    return sum(aws_size({kind[0]: v}) for v in raw)  # SS, NS, BS


def item_units(item: dict[str, Any] | None) -> int:
    """Write units of one item (DynamoDB JSON) outside a transaction: 1 per started KB of names and values."""
    size = sum(len(name.encode("utf-8")) + aws_size(value) for name, value in (item or {}).items())
    return max(1, -(-size // 1024))


class BilledMeter(IndexMeter):
    """:class:`IndexMeter` with each transaction's items sized as DynamoDB bills them (:func:`aws_size`; the
    layer's ``item_size`` is an upper bound that counts a number as 21 bytes): 2 units per started KB of each
    item (the larger of its size before and after), plus 2 per LSI entry written."""

    def snapshot(self) -> BilledMeter:
        copy = BilledMeter(self.requests, dict(self.calls), self.write_units, self.read_units)
        copy.writes_by_target, copy.sized_write_units = dict(self.writes_by_target), self.sized_write_units
        return copy

    def _sized(self, params: dict[str, Any]) -> float:
        started = time.perf_counter()
        units = 0.0
        for (table, key), before in zip(self._targets(params), self._before, strict=True):
            after = self._item(table, key)
            units += 2 * max(item_units(before), item_units(after))
            old, new = ((i or {}).get("LSI1SK") for i in (before, after))
            if old != new:
                units += 2 * ((old is not None) + (new is not None))
        self.sizing_seconds += time.perf_counter() - started
        return units


def minimal_table(client: Any, name: str) -> None:
    """The minimal design's table: a partition key and a sort key, nothing else."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    )


def minimal_message(session_id: str, index: int, size: int) -> dict[str, Any]:
    """The minimal design's message item (DynamoDB JSON): keys, role, content, tokens, cost and time."""
    from session_service.data import keys

    now = keys.iso(datetime.now(UTC))
    return {
        "PK": {"S": keys.session_pk(session_id)},
        "SK": {"S": keys.message_sk(now, str(uuid.uuid4()))},
        "role": {"S": "user" if index % 2 == 0 else "assistant"},
        "content": {"S": content(index, size)},
        "tokens_used": {"N": "250"},
        "cost_usd": {"N": "0.000125"},
        "created_at": {"S": now},
    }


def minimal_append(client: Any, table: str, session_id: str, index: int, *, size: int) -> None:
    """One message item and an ADD to the session's counter item, in one TransactWriteItems."""
    from session_service.data import keys

    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": minimal_message(session_id, index, size),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"PK": {"S": keys.session_pk(session_id)}, "SK": {"S": "C"}},
                    "UpdateExpression": (
                        "SET last_activity = :now ADD message_count :one, total_tokens :t, total_cost :c"
                    ),
                    "ExpressionAttributeValues": {
                        ":now": {"S": f"{time.time():.6f}"},
                        ":one": {"N": "1"},
                        ":t": {"N": "250"},
                        ":c": {"N": "0.000125"},
                    },
                }
            },
        ]
    )


def minimal_fill(client: Any, table: str, session_id: str, first: int, count: int, size: int) -> None:
    """Store messages ``first`` .. ``first + count - 1`` of the minimal design (BatchWriteItem; unmetered)."""
    requests = [{"PutRequest": {"Item": minimal_message(session_id, i, size)}} for i in range(first, first + count)]
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[start : start + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def content(index: int, size: int) -> str:
    """The ``index``-th message's content: ``size`` characters."""
    return f"{index}: {TEXT}"[:size]


def measure(meter: Meter, first: int, append: Callable[[int], None]) -> tuple[Meter, list[float]]:
    """Run :data:`WINDOW` appends (message ``first`` on); the meter and each append's time (ms, without the
    meter's own reads)."""
    meter.reset()
    timings = []
    for i in range(first, first + WINDOW):
        sizing, start = getattr(meter, "sizing_seconds", 0.0), time.perf_counter()
        append(i)
        timings.append((time.perf_counter() - start - (getattr(meter, "sizing_seconds", 0.0) - sizing)) * 1000)
    return meter.snapshot(), timings


MODELS = (
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.titan-text-premier-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
)
"""Bedrock model ids (their real lengths: the usage counters' names hold them)."""


def line(name: str, window: str, measured: Any, times: list[float], minimal: float | None) -> str:
    """One row of the append report."""
    wcu = measured.sized_write_units / WINDOW
    ratio = f"{wcu / minimal:>9.2f}" if minimal else f"{'':>9}"
    p95 = sorted(times)[int(len(times) * 0.95) - 1]
    return (
        f"{name:<36} {window:<12} {measured.requests / WINDOW:>6.2f} {wcu:>10.2f} {ratio}"
        f" {statistics.median(times):>9.2f} {p95:>7.2f}  {harness.calls(measured)}"
    )


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--sizes", default="200,600,700,800,1000,4000")
    args = parser.parse_args()
    if args.messages < 2 * WINDOW:
        parser.error(f"--messages must be at least {2 * WINDOW}")
    sizes = [int(size) for size in args.sizes.split(",")]

    with harness.bench(args.endpoint) as bench:
        import boto3

        from session_service import wiring
        from session_service.data import dynamo, items
        from session_service.models import MessageCreate, MessageOrder, MessageRole, SessionCreate

        table, client, repo, user = bench.table, bench.client, bench.repo, "bench_user"
        minimal = f"minimal-{uuid.uuid4().hex[:8]}"
        minimal_table(client, minimal)
        sizer = boto3.client("dynamodb")
        meter = BilledMeter(sizer=sizer).attach(wiring.dynamodb_client())
        minimal_meter = BilledMeter(sizer=sizer).attach(client)

        def turn(i: int, size: int, **fields: Any) -> MessageCreate:
            role = MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT
            return MessageCreate(
                role=role, content=content(i, size), tokens_used=250, cost_usd=Decimal("0.000125"), **fields
            )

        def ours(session_id: str, size: int, **fields: Any) -> Callable[[int], None]:
            def append(i: int) -> None:
                repo.append_messages(session_id, user, [turn(i, size, **fields)])

            return append

        warm, _ = repo.create_session(user, SessionCreate(user_id=user, title="warm-up"))
        measure(meter, 0, ours(warm.session_id, 1000))
        measure(minimal_meter, 0, partial(minimal_append, client, minimal, "warm-up", size=1000))

        started = time.perf_counter()
        rows: list[str] = []
        last = args.messages - WINDOW
        big_session = ""
        for size in sizes:
            session, _ = repo.create_session(user, SessionCreate(user_id=user, title=f"{size} characters"))
            sid, minimal_sid = session.session_id, str(uuid.uuid4())  # the same key lengths
            windows = []
            for first in (0, last):
                if first:  # fill both up to the last window (not measured: the meter reads no item meanwhile)
                    meter.sizer = None
                    for start in range(WINDOW, last, FILL_BATCH):
                        batch = [turn(i, size) for i in range(start, min(start + FILL_BATCH, last))]
                        repo.append_messages(sid, user, batch)
                    meter.sizer = sizer
                    minimal_fill(client, minimal, minimal_sid, WINDOW, last - WINDOW, size)
                base = measure(minimal_meter, first, partial(minimal_append, client, minimal, minimal_sid, size=size))
                mine = measure(meter, first, ours(sid, size))
                windows.append((f"{first + 1}-{first + WINDOW}", base, mine))
            for label, (base_meter, base_times), (mine_meter, mine_times) in windows:
                floor = base_meter.sized_write_units / WINDOW
                rows.append(line(f"minimal design, {size} chars", label, base_meter, base_times, floor))
                rows.append(line(f"this service, {size} chars", label, mine_meter, mine_times, floor))
            if size == 1000:
                big_session = sid
        filled = time.perf_counter() - started

        # Session states at 1 KB, first window only
        filler = {f"k{i}": "v" * 1000 for i in range(30)}  # ~30 KiB each
        states: list[str] = []
        floor = None
        for name, data, summarized, fields in (
            ("1000 chars, 30 KiB data", filler, False, {}),
            ("1000 chars, ~900-char summary", {}, True, {}),
            ("1000 chars, provider + model", {}, False, {"provider": "bedrock", "model": MODELS[0]}),
            ("1000 chars, 5 models in turn", {}, False, None),
            ("1000 chars, client message_id", {}, False, "id"),
        ):
            session, _ = repo.create_session(
                user, SessionCreate(user_id=user, title=name, metadata=data, conversation_data=data)
            )
            sid = session.session_id
            if summarized:
                hot = dynamo.deserialize(client.get_item(TableName=table, Key=items_key(sid))["Item"])
                summary = items.summary_item(sid, str(hot["created_at"]), TEXT[:900], "MSG#~", 0)
                client.put_item(TableName=table, Item=dynamo.serialize(summary))
            if fields is None:

                def append(i: int, sid: str = sid) -> None:
                    repo.append_messages(sid, user, [turn(i, 1000, provider="bedrock", model=MODELS[i % 5])])
            elif fields == "id":

                def append(i: int, sid: str = sid) -> None:
                    repo.append_messages(sid, user, [turn(i, 1000, message_id=str(uuid.uuid4()))])
            else:
                append = ours(sid, 1000, **fields)
            measured, times = measure(meter, 0, append)
            states.append(line(name, f"1-{WINDOW}", measured, times, floor))

        # The newest 20 of the 10,000-message session, and a page of the user's sessions
        reads: list[str] = []
        if big_session:
            newest = MessageOrder.DESC
            for name, read in (
                (
                    "/context, max_messages=20",
                    lambda: repo.get_context(big_session, user, max_tokens=10**6, max_messages=20),
                ),
                ("order=desc, page_size=20", lambda: repo.list_messages(big_session, user, order=newest, page_size=20)),
                ("a page of the user's sessions (20)", lambda: repo.list_user_sessions(user, page_size=20)),
            ):
                runs = []
                for _ in range(5):
                    meter.reset()
                    start = time.perf_counter()
                    read()
                    runs.append(((time.perf_counter() - start) * 1000, meter.snapshot()))
                runs.sort(key=lambda run: run[0])
                ms, measured = runs[2]
                figures = f"{measured.requests:>6} {measured.read_units:>8.1f} {ms:>9.2f}"
                reads.append(f"{name:<36} {figures}  {harness.calls(measured)}")

        print(
            f"DynamoDB Local at {bench.endpoint}; appends of one message of each size to a new session, messages"
            f" 1-{WINDOW} and {last + 1}-{args.messages} ({filled:.0f} s with the fills)"
        )
        print("WCU costed as AWS bills a transaction: 2 per started KB of each item, 2 per LSI entry")
        header = f"{'design, content':<36} {'messages':<12} {'trips':>6} {'WCU/append':>10} {'x minimal':>9}"
        print(f"{header} {'ms median':>9} {'p95':>7}  calls")
        print("\n".join(rows))
        print(f"\nsession states, {WINDOW} appends each:")
        print("\n".join(states))
        print(f"\nreads at {args.messages} messages, median of 5:")
        print(f"{'read':<36} {'trips':>6} {'RCU':>8} {'ms':>9}  calls")
        print("\n".join(reads))
    return 0


def items_key(session_id: str) -> dict[str, Any]:
    """The hot item's key (DynamoDB JSON)."""
    from session_service.data import keys

    return keys.session_key(session_id)


if __name__ == "__main__":
    sys.exit(main())
