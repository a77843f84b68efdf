"""A user's export, beside the least design: requests, read units and time, on DynamoDB Local.

Starts Amazon DynamoDB Local (``devserver.dynamodb_local``: java, no Docker), creates the table from
template.yaml, gives a user ``--sessions`` sessions (default 1,000) of ``--messages`` messages (default 20, ~200
bytes) and a memory record each through the repository the handlers use (not measured), then exports them page
by page (``--page-size`` lines, the API's default 1,000) through that repository, as ``GET
/users/{user_id}/export`` does.

Beside it, on the same table and data, the **least design**: the fewest requests any export of this table can
make. The user's counts once per page (the erasure check every reader makes; on the first page one Query of the
user's partition, the counts with the user's state documents), the user's session keys once (one Query of GSI1,
keys only), and each session's partition in one Query (its session items, state documents, messages and memory
records together), nothing else. It prints requests, read units, calls and seconds of each, and their ratio.

    python benchmarks/export_cost.py [--sessions 1000] [--messages 20] [--page-size 1000] [--endpoint URL]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import harness
from meter import Meter


def least_export(client: Any, table: str, user: str, pages: int) -> int:
    """The least design's export (``pages`` erasure checks, the first with the user's state documents, the keys
    once, a Query per session partition); returns the records it read (session, message, memory and state items)."""
    from session_service.data import dynamo, keys, reads

    first = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :counts AND :last",
        "ExpressionAttributeValues": dynamo.serialize(
            {":pk": keys.user_pk(user), ":counts": keys.COUNTS_SK, ":last": f"{keys.USER_STATE_PREFIX}~"}
        ),
        "ConsistentRead": True,
    }
    records = sum(1 for item in dynamo.query_all(client, first) if str(item["SK"]).startswith(keys.USER_STATE_PREFIX))
    for _ in range(pages - 1):
        dynamo.call(client, "get_item", TableName=table, Key=keys.user_counts_key(user), ConsistentRead=True)
    query = {**reads.user_sessions_query(table, user), "ProjectionExpression": "PK"}
    partitions = sorted({str(row["PK"]) for row in dynamo.query_all(client, query)})
    for partition in partitions:
        request = {
            "TableName": table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ConsistentRead": True,
        }
        for item in dynamo.query_all(client, request):
            if str(item["SK"]).startswith(("MSG#", "MEM#", "SESSION", "STATE#")):
                records += 1
                json.dumps(item, default=str)
    return records


def main() -> int:
    """Run the benchmark and print its report."""
    parser = harness.parser(__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()

    with harness.bench(args.endpoint) as bench:
        from session_service import wiring
        from session_service.models import MemoryCreate, MemoryType, MessageCreate, MessageRole, SessionCreate

        repo, user = bench.repo, "bench_export_user"
        started = time.perf_counter()
        for s in range(args.sessions):
            session, _ = repo.create_session(user, SessionCreate(user_id=user, title=f"session {s}"))
            turns = [
                MessageCreate(
                    role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT, content=harness.CONTENT[:200]
                )
                for i in range(args.messages)
            ]
            repo.append_messages(session.session_id, user, turns)
            repo.add_memory(session.session_id, user, MemoryCreate(memory_type=MemoryType.ENTITY, content="a fact"))
        setup = time.perf_counter() - started

        meter = Meter().attach(wiring.dynamodb_client())
        meter.reset()
        started = time.perf_counter()
        lines, token, pages = 0, None, 0
        while pages == 0 or token is not None:
            page, token = repo.export_user(user, args.page_size, token)
            lines += len(page)
            pages += 1
        ours_seconds, ours = time.perf_counter() - started, meter.snapshot()

        least_meter = Meter().attach(bench.client)
        least_meter.reset()
        started = time.perf_counter()
        records = least_export(bench.client, bench.table, user, pages)
        least_seconds, least = time.perf_counter() - started, least_meter.snapshot()

        print(
            f"Export of a user with {args.sessions} sessions x {args.messages} messages (+1 memory record each) on"
            f" DynamoDB Local at {bench.endpoint}; setup (not measured) {setup:.0f} s"
        )
        print(f"this service: {lines} lines in {pages} pages of <= {args.page_size}; least design: {records} items")
        print(f"{'design':<14} {'requests':>9} {'x least':>8} {'RCU':>8} {'seconds':>8} {'x least':>8}  calls")
        for name, measured, seconds in (("least design", least, least_seconds), ("this service", ours, ours_seconds)):
            print(
                f"{name:<14} {measured.requests:>9} {measured.requests / least.requests:>8.2f}"
                f" {measured.read_units:>8.1f} {seconds:>8.2f} {seconds / least_seconds:>8.2f}"
                f"  {harness.calls(measured)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
