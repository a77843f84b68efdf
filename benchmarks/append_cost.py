"""What an append costs, beside the minimal design, at message 1 and message 1,000, on DynamoDB Local.

Starts Amazon DynamoDB Local (``devserver.dynamodb_local``: java, no Docker), creates the table from
template.yaml, and appends ``--messages`` (default 1,000) messages of ~1 KB one by one through the repository
the handlers use, to sessions in four states:

* ``empty``: a new session;
* ``30 KiB data``: a session whose ``metadata`` and ``conversation_data`` hold ~30 KiB each;
* ``empty + summary`` and ``30 KiB data + summary``: the same after the stream function wrote a summary of
  ~1,000 characters (before the appends);
* ``empty, provider + model``: messages naming a provider and a model (Bedrock's Claude 3.5 Sonnet id), so the
  hot item also holds and moves that model's three usage counters; ``empty, 5 models in turn``: five such
  models, one after the other (fifteen usage counters on the hot item).

Beside them, the **minimal design** on its own table: one item per message plus a counter item, the pair
written by one TransactWriteItems (Put the message, ADD to the counter), the least any store that keeps
exact counters atomically can write. For the first and the last 100 appends of each it prints DynamoDB round
trips, consumed write capacity (WCU as DynamoDB Local reports it), WCU per append and its ratio to the
minimal design, and milliseconds per append (median, p95), after 100 warm-up appends (JVM JIT, connections).

    python benchmarks/append_cost.py [--messages 1000] [--endpoint http://127.0.0.1:8000]
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import harness
from harness import CONTENT
from meter import Meter

WINDOW = 100
"""Appends per reported window (the first and the last)."""


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


def minimal_append(client: Any, table: str, session_id: str, index: int) -> None:
    """One message item and an ADD to the session's counter item, in one TransactWriteItems."""
    message_id = str(uuid.uuid4())
    now = f"{time.time():.6f}"
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {
                        "PK": {"S": f"S#{session_id}"},
                        "SK": {"S": f"M#{now}#{message_id}"},
                        "role": {"S": "user" if index % 2 == 0 else "assistant"},
                        "content": {"S": f"{index}: {CONTENT}"},
                        "tokens_used": {"N": "250"},
                        "cost_usd": {"N": "0.000125"},
                        "created_at": {"S": now},
                    },
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"PK": {"S": f"S#{session_id}"}, "SK": {"S": "C"}},
                    "UpdateExpression": (
                        "SET last_activity = :now ADD message_count :one, total_tokens :t, total_cost :c"
                    ),
                    "ExpressionAttributeValues": {
                        ":now": {"S": now},
                        ":one": {"N": "1"},
                        ":t": {"N": "250"},
                        ":c": {"N": "0.000125"},
                    },
                }
            },
        ]
    )


def measure(meter: Meter, messages: int, append: Callable[[int], None]) -> list[tuple[str, Meter, list[float]]]:
    """Run ``messages`` appends; the meter and timings of the first and the last :data:`WINDOW`."""
    windows: list[tuple[str, Meter, list[float]]] = []
    timings: list[float] = []
    for i in range(messages):
        if i % WINDOW == 0:
            meter.reset()
            timings = []
        start = time.perf_counter()
        append(i)
        timings.append((time.perf_counter() - start) * 1000)
        if i % WINDOW == WINDOW - 1 and (i < WINDOW or i >= messages - WINDOW):
            windows.append((f"{i + 2 - WINDOW}-{i + 1}", meter.snapshot(), timings))
    return windows


MODELS = (
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.titan-text-premier-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
)
"""Bedrock model ids (their real lengths: the usage counters' names hold them)."""


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    if args.messages < 2 * WINDOW:
        parser.error(f"--messages must be at least {2 * WINDOW}")

    with harness.bench(args.endpoint) as bench:
        from session_service import wiring
        from session_service.data import dynamo, keys
        from session_service.models import MessageCreate, MessageRole, SessionCreate
        from session_service.stream.commit import summary_put
        from session_service.stream.upkeep import Upkeep
        from session_service.summarizer import ExtractiveSummarizer

        endpoint, table, client, repo = bench.endpoint, bench.table, bench.client, bench.repo
        minimal = f"minimal-{uuid.uuid4().hex[:8]}"
        minimal_table(client, minimal)
        meter = Meter().attach(wiring.dynamodb_client())
        minimal_meter = Meter().attach(client)
        user = "bench_user"

        def ours(session_id: str, models: tuple[str, ...] = ()) -> Callable[[int], None]:
            def append(i: int) -> None:
                request = harness.turn(
                    i, **({"provider": "bedrock", "model": models[i % len(models)]} if models else {})
                )
                repo.append_messages(session_id, user, [request])

            return append

        warm, _ = repo.create_session(user, SessionCreate(user_id=user, title="warm-up"))
        measure(meter, WINDOW, ours(warm.session_id))
        measure(minimal_meter, WINDOW, lambda i: minimal_append(client, minimal, "warm-up", i))

        filler = {f"k{i}": "v" * 1000 for i in range(30)}  # ~30 KiB each
        upkeep = Upkeep(client, table, ExtractiveSummarizer())

        def summarize(session_id: str) -> None:
            """Store the session's summary as the stream function makes it at a summary point."""
            found = dynamo.call(
                client, "get_item", TableName=table, Key=keys.session_key(session_id), ConsistentRead=True
            )
            hot = dynamo.deserialize(found["Item"])
            item = upkeep.summary_of(session_id, hot, lambda: upkeep.newest_messages(hot), {}, unless_covered=False)
            assert item is not None
            dynamo.conditional(client, "put_item", **summary_put(table, item))

        results: list[tuple[str, list[tuple[str, Meter, list[float]]]]] = []
        results.append(
            ("minimal design", measure(minimal_meter, args.messages, lambda i: minimal_append(client, minimal, "m", i)))
        )
        for name, data, summarized, models in (
            ("empty", {}, False, ()),
            ("30 KiB data", filler, False, ()),
            ("empty + summary", {}, True, ()),
            ("30 KiB data + summary", filler, True, ()),
            ("empty, provider + model", {}, False, MODELS[:1]),
            (f"empty, {len(MODELS)} models in turn", {}, False, MODELS),
        ):
            session, _ = repo.create_session(
                user, SessionCreate(user_id=user, title=name, metadata=data, conversation_data=data)
            )
            if summarized:
                long_turns = [f"Question {i} about {CONTENT[:150]}" for i in range(8)]
                repo.append_messages(
                    session.session_id, user, [MessageCreate(role=MessageRole.USER, content=t) for t in long_turns]
                )
                summarize(session.session_id)
                summary = repo.get_session(session.session_id, user).session_summary
                name = f"{name} ({len(summary)} chars)"
            results.append((name, measure(meter, args.messages, ours(session.session_id, models))))

        baseline = {label: m.write_units / WINDOW for label, m, _ in results[0][1]}
        print(f"DynamoDB Local at {endpoint}; {args.messages} appends of one ~1 KB message to each session")
        print(
            f"{'session':<34} {'appends':<9} {'round trips':>11} {'write CU':>9} {'WCU/append':>10}"
            f" {'x minimal':>9} {'ms median':>9} {'p95':>7}  calls"
        )
        for name, windows in results:
            for label, measured, times in windows:
                wcu = measured.write_units / WINDOW
                p95 = sorted(times)[int(len(times) * 0.95) - 1]
                calls = harness.calls(measured)
                print(
                    f"{name:<34} {label:<9} {measured.requests:>11} {measured.write_units:>9.1f} {wcu:>10.2f}"
                    f" {wcu / baseline[label]:>9.2f} {statistics.median(times):>9.2f} {p95:>7.2f}  {calls}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
