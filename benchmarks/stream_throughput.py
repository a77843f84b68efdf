"""Push 10,000 real stream records through the stream function and report its throughput and write cost.

Run from the repository root::

    PYTHONPATH=layers/common:. .venv/bin/python benchmarks/stream_throughput.py [--records 10000]

The workload is made by the repository itself (sessions created, messages appended, some sessions ended),
so the records are the table's own stream records: session INSERTs, message INSERTs and the session MODIFYs
that come with every append. They are read back from the stream, then handed to
:class:`session_service.stream.StreamProcessor` in batches of 100 (the template's ``BatchSize``), and only
that part is timed. Every DynamoDB call the processor makes is counted with a botocore ``before-call`` hook.

The table is moto's (in-process) unless ``AWS_ENDPOINT_URL_DYNAMODB`` points at another DynamoDB (DynamoDB
Local): then a throw-away table is created there from ``template.yaml`` and deleted afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

WRITE_OPERATIONS = {"TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem"}


@contextlib.contextmanager
def dynamodb() -> Iterator[tuple[Any, Any, str]]:
    """(dynamodb client, dynamodbstreams client, table name) on moto or on ``AWS_ENDPOINT_URL_DYNAMODB``."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        os.environ.setdefault(name, value)
    import boto3

    from devserver.template import create_table

    table = f"session-service-bench-{uuid.uuid4().hex[:8]}"
    if endpoint:
        client = boto3.client("dynamodb", endpoint_url=endpoint)
        streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
        create_table(client, table)
        try:
            yield client, streams, table
        finally:
            client.delete_table(TableName=table)
        return
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, table)
        yield client, boto3.client("dynamodbstreams"), table


def make_workload(client: Any, table: str, repo: Any, records: int, rng: random.Random) -> None:
    """About ``records`` stream records: ~10% session INSERTs, ~45% message INSERTs, ~45% session MODIFYs.

    Sessions are created by the repository. An append is written as the repository's transaction would
    be seen on the stream (a message INSERT, then the session MODIFY that counts it), but as a PutItem and an
    UpdateItem: moto copies the whole table on every TransactWriteItems, which would make building 10,000
    records take hours.
    """
    from session_service.dynamo import serialize
    from session_service.items import iso, session_key, session_pk
    from session_service.models import SessionCreate

    sessions: list[tuple[str, str]] = []
    produced = 0
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
    while produced < records:
        if not sessions or (rng.random() < 0.1 and produced + 1 <= records):
            user = f"user{rng.randrange(300)}"
            session, _ = repo.create_session(user, SessionCreate(user_id=user, title="bench"))
            sessions.append((session.session_id, user))
            produced += 1
            continue
        if produced + 2 > records:
            break
        session_id, user = rng.choice(sessions)
        now = iso(datetime.now(UTC))
        message_id = str(uuid.uuid4())
        tokens = rng.randrange(1, 2000)
        cost = Decimal(rng.randrange(0, 100_000)) / Decimal(1_000_000)
        message = {
            "PK": session_pk(session_id),
            "SK": f"MSG#{now}#{message_id}",
            "entity": "message",
            "message_id": message_id,
            "session_id": session_id,
            "user_id": user,
            "role": rng.choice(["user", "assistant"]),
            "content": " ".join(rng.choice(words) for _ in range(12)).capitalize() + ".",
            "message_type": "chat",
            "metadata": "{}",
            "tokens_used": tokens,
            "cost_usd": cost,
            "created_at": now,
        }
        client.put_item(TableName=table, Item=serialize(message))
        client.update_item(
            TableName=table,
            Key=session_key(session_id),
            UpdateExpression="SET last_activity = :now, updated_at = :now, GSI1SK = :now, GSI2SK = :now"
            " ADD version :one, message_count :one, total_tokens :tokens, total_cost :cost",
            ExpressionAttributeValues=serialize({":now": now, ":one": 1, ":tokens": tokens, ":cost": cost}),
        )
        produced += 2


def read_stream(client: Any, streams: Any, table: str) -> list[dict[str, Any]]:
    """Every record of the table's stream, shaped as Lambda delivers them."""
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        position = iterator["ShardIterator"]
        while position:
            response = streams.get_records(ShardIterator=position, Limit=1000)
            for record in response["Records"]:
                record["dynamodb"].pop("ApproximateCreationDateTime", None)
                records.append(dict(record, eventSourceARN=arn))
            if not response["Records"]:
                break
            position = response.get("NextShardIterator")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    from session_service.cursor import CursorCodec
    from session_service.repository import SessionRepository
    from session_service.stream import StreamProcessor
    from session_service.summarizer import ExtractiveSummarizer

    with dynamodb() as (client, streams, table):
        repo = SessionRepository(client, table, ttl_seconds=30 * 24 * 3600, cursors=CursorCodec("b" * 32))
        make_workload(client, table, repo, args.records, random.Random(args.seed))
        records = read_stream(client, streams, table)
        kinds = Counter(
            f"{r['eventName']} {(r['dynamodb'].get('NewImage') or r['dynamodb'].get('OldImage'))['entity']['S']}"
            for r in records
        )

        calls: Counter[str] = Counter()
        transaction_items = 0
        in_dynamodb = [0.0, 0.0]  # total seconds inside DynamoDB calls, start of the current call

        def before(params: dict[str, Any], model: Any, **_: Any) -> None:
            nonlocal transaction_items
            calls[model.name] += 1
            transaction_items += len(params.get("TransactItems", []))

        def started_call(**_: Any) -> None:
            in_dynamodb[1] = time.perf_counter()

        def ended_call(**_: Any) -> None:
            in_dynamodb[0] += time.perf_counter() - in_dynamodb[1]

        client.meta.events.register("before-parameter-build.dynamodb.*", before)
        client.meta.events.register("before-call.dynamodb.*", started_call)
        client.meta.events.register("after-call.dynamodb.*", ended_call)
        processor = StreamProcessor(client, table, ExtractiveSummarizer())
        failures = 0
        started = time.perf_counter()
        for start in range(0, len(records), args.batch_size):
            response = processor.handle({"Records": records[start : start + args.batch_size]})
            failures += len(response["batchItemFailures"])
        elapsed = time.perf_counter() - started

        stats = repo.get_stats()
        writes = sum(n for op, n in calls.items() if op in WRITE_OPERATIONS)
        total = len(records)
        backend = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or "moto (in-process)"
        print(f"backend: {backend}")
        print(f"records: {total} ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})")
        print(f"batches: {-(-total // args.batch_size)} of up to {args.batch_size}; failed records: {failures}")
        print(f"elapsed: {elapsed:.2f} s -> {total / elapsed:,.0f} records/s")
        own = elapsed - in_dynamodb[0]
        print(f"  of which inside DynamoDB calls: {in_dynamodb[0]:.2f} s; the function's own code: {own:.2f} s")
        print(f"DynamoDB requests by operation: {dict(sorted(calls.items()))}")
        print(
            f"write requests: {writes} -> {writes / total:.4f} per record"
            f" (stats/counts transactions: {calls['TransactWriteItems']} holding {transaction_items} items;"
            f" summary updates: {calls['UpdateItem']}; TTL batch deletes: {calls['BatchWriteItem']})"
        )
        print(f"all requests: {sum(calls.values())} -> {sum(calls.values()) / total:.4f} per record")
        print(
            f"stats: sessions {stats.total_sessions}, active {stats.active_sessions},"
            f" messages {stats.total_messages}, tokens {stats.total_tokens}, cost {stats.total_cost}"
        )


if __name__ == "__main__":
    main()
