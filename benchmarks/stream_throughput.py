"""Stream function throughput on DynamoDB Local: the records a chat workload's API writes produce, applied
with summaries on, over all the time the function spends (the batches its own writes cause included).

Run from the repository root::

    PYTHONPATH=layers/common:. .venv/bin/python benchmarks/stream_throughput.py [--appends 5000] [--endpoint URL]

The workload is written through the repository the handlers use (real transactions on a table created from
``template.yaml``): ``--sessions`` sessions for 300 users, then ``--appends`` appends of one ~1 KB message each
to sessions drawn at random (a message INSERT and the session's MODIFY per append). The table's stream is
read and handed to :class:`session_service.stream.StreamProcessor` (the extractive summarizer) in batches of
100, the template's ``BatchSize``: after the sessions and after every ``--interleave`` appends, as a live
function sees it (its own writes' records come mixed with the API's, and a summary reads the messages as
they were then), and at the end until no new record comes. ``--interleave 0`` writes the whole workload
first (then every summary reads the session's last message, so most summary points find nothing new). Only
``handle`` is timed; throughput is the API's records over that time. Every DynamoDB call the processor makes
is counted with a botocore hook.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import harness
from meter import Meter


def kind(record: dict[str, Any]) -> str:
    """``<event> <entity>`` of a record (``COUNTS`` and ``STATS`` items have no entity)."""
    image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("OldImage") or {}
    return f"{record['eventName']} {image.get('entity', {}).get('S', image.get('SK', {}).get('S', '?'))}"


def _api_item(record: dict[str, Any]) -> bool:
    """True for the records of the API's writes (sessions, their data, messages, user counts), False for the
    function's own (statistics, users' usage, applied marks, summaries, and index moves: a session MODIFY that
    leaves its ``version``)."""
    stream = record["dynamodb"]
    sort_key = stream["Keys"]["SK"]["S"]
    if sort_key == "SESSION" and record["eventName"] == "MODIFY":
        return bool(stream["NewImage"].get("version") != stream["OldImage"].get("version"))
    return sort_key not in ("GLOBAL", "USAGE", "APPLIED", "SESSION#SUMMARY")


def make_workload(
    repo: Any, sessions: int, appends: int, rng: random.Random, *, every: int = 0, pause: Any = None
) -> None:
    """``sessions`` sessions, then ``appends`` one-message appends to sessions drawn at random; ``pause()`` is
    called after the sessions and after every ``every`` appends (never when ``every`` is 0)."""
    from session_service.models import MessageCreate, MessageRole, SessionCreate

    words = [
        "kyoto",
        "temple",
        "budget",
        "review",
        "parser",
        "unicode",
        "deploy",
        "lambda",
        "stream",
        "summary",
        "invoice",
        "travel",
    ]
    made: list[tuple[str, str]] = []
    for _ in range(sessions):
        user = f"user{rng.randrange(300)}"
        session, _ = repo.create_session(user, SessionCreate(user_id=user, title="bench"))
        made.append((session.session_id, user))
    if every and pause is not None:
        pause()
    for i in range(appends):
        session_id, user = rng.choice(made)
        content = " ".join(rng.choice(words) for _ in range(150)).capitalize()[:1000] + "."
        request = MessageCreate(
            role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
            content=content,
            tokens_used=rng.randrange(1, 2000),
            cost_usd=Decimal(rng.randrange(0, 10**6)) / Decimal(10**6),
        )
        repo.append_messages(session_id, user, [request])
        if every and pause is not None and (i + 1) % every == 0:
            pause()


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--appends", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--interleave",
        type=int,
        default=50,
        help="process the stream after every N appends, as a live function would see it (0: after the whole"
        " workload, when every summary reads messages written after its record)",
    )
    args = parser.parse_args()

    with harness.bench(args.endpoint) as bench:
        from session_service.stream import StreamProcessor
        from session_service.summarizer import ExtractiveSummarizer

        endpoint, table, client, repo = bench.endpoint, bench.table, bench.client, bench.repo
        # The reader's calls are not the function's: it has clients of its own, outside the meter.
        reader = bench.stream_reader()
        meter = Meter().attach(client)
        processor = StreamProcessor(client, table, ExtractiveSummarizer())
        api_kinds: Counter[str] = Counter()
        own_kinds: Counter[str] = Counter()
        run = {"elapsed": 0.0, "failures": 0, "batches": 0, "api": 0, "own": 0}

        def process(records: list[dict[str, Any]]) -> None:
            """Hand ``records`` (the stream since the last call) to the function in batches, timed."""
            for record in records:
                own = not _api_item(record)
                (own_kinds if own else api_kinds)[kind(record)] += 1
                run["own" if own else "api"] += 1
            for start in range(0, len(records), args.batch_size):
                batch = records[start : start + args.batch_size]
                began = time.perf_counter()
                response = processor.handle({"Records": batch})
                run["elapsed"] += time.perf_counter() - began
                run["failures"] += len(response["batchItemFailures"])
                run["batches"] += 1

        started = time.perf_counter()
        make_workload(
            repo,
            args.sessions,
            args.appends,
            random.Random(args.seed),
            every=args.interleave,
            pause=lambda: process(reader.drain()),
        )
        writing = time.perf_counter() - started
        rounds = 0
        pending = reader.drain()
        while pending and rounds < 10:  # what is left, then what the function's own writes cause
            rounds += 1
            process(pending)
            pending = reader.drain()
        elapsed, failures, total, own_records = run["elapsed"], run["failures"], run["api"], run["own"]
        processed = total + own_records
        kinds = api_kinds

        stats = repo.get_stats()
        mode = (
            f"the stream processed after every {args.interleave} appends"
            if args.interleave
            else "the stream processed after the whole workload"
        )
        print(f"DynamoDB Local at {endpoint}; {args.sessions} sessions, {args.appends} appends of ~1 KB; {mode}")
        print(f"API records: {total} ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})")
        print(f"  written in {writing:.1f} s through the repository (function time included when interleaved)")
        print(f"records the function's own writes caused: {own_records} ({dict(sorted(own_kinds.items()))})")
        print(f"batches: {run['batches']}; rounds after the workload until the stream was quiet: {rounds};"
              f" failed records: {failures}")  # fmt: skip
        print(f"function time: {elapsed:.2f} s for {processed} records")
        print(f"throughput: {total / elapsed:,.0f} API records/s ({processed / elapsed:,.0f} records/s handled)")
        print(f"DynamoDB requests: {meter.requests} ({meter.requests / total:.3f} per API record);"
              f" by operation: {dict(sorted(meter.calls.items()))}")  # fmt: skip
        print(f"write units: {meter.write_units:.0f} ({meter.write_units / total:.3f} per API record);"
              f" read units: {meter.read_units:.0f}")  # fmt: skip
        print(
            f"stats: sessions {stats.total_sessions}, active {stats.active_sessions},"
            f" messages {stats.total_messages}, tokens {stats.total_tokens}, cost {stats.total_cost}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
