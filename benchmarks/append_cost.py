"""The cost of an append does not grow with the conversation: 1,000 appends to one session, DynamoDB Local.

Starts Amazon DynamoDB Local (``devserver.dynamodb_local``: java, no Docker), creates the table from
template.yaml, and appends ``--messages`` (default 1,000) messages one by one through the repository the
handlers use, after 100 warm-up appends to another session (JVM JIT, connections). For the first and
the last 100 it prints DynamoDB round trips (HTTP requests), consumed
write capacity (WCU, as DynamoDB Local reports it) and time (ms per append). Then it pages through the
messages (``page_size`` 100, ``next_token``) and prints round trips, read capacity and time per page.

The repository does not ask for consumed capacity, so a botocore ``provide-client-params`` hook adds
``ReturnConsumedCapacity=TOTAL`` to every call that accepts it, and an ``after-call`` hook reads
``ConsumedCapacity``. ``before-send`` counts HTTP requests (retries included).

    python benchmarks/append_cost.py [--messages 1000] [--session-kb 30] [--endpoint http://127.0.0.1:8000]

``--session-kb`` gives the session large ``metadata`` and ``conversation_data``: an append rewrites the
session item, and its copies in GSI1 and GSI2 (projection ALL, sort key ``last_activity``), so the write
capacity of an append follows the session item's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

WINDOW = 100
"""Appends per reported window (the first and the last)."""


@dataclass
class Meter:
    """Round trips (HTTP requests), API calls by operation and consumed capacity units, since ``reset``."""

    requests: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    write_units: float = 0.0
    read_units: float = 0.0

    def reset(self) -> None:
        """Start counting from zero."""
        self.requests, self.calls, self.write_units, self.read_units = 0, {}, 0.0, 0.0

    def attach(self, client: Any) -> None:
        """Register the hooks on a boto3 DynamoDB client."""
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._ask_for_capacity)
        events.register("before-send.dynamodb", self._count_request)
        events.register("after-call.dynamodb", self._read_capacity)

    @staticmethod
    def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _count_request(self, **_: Any) -> None:
        self.requests += 1

    def _read_capacity(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            write = entry.get("WriteCapacityUnits")
            read = entry.get("ReadCapacityUnits")
            if write is None and read is None:  # only the total: attribute it by the kind of call
                units = float(entry.get("CapacityUnits", 0))
                if model.name in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"):
                    read = units
                else:
                    write = units
            self.write_units += float(write or 0)
            self.read_units += float(read or 0)


@contextmanager
def dynamodb(endpoint: str | None) -> Iterator[str]:
    """``endpoint``, or a DynamoDB Local started for the run (stopped afterwards)."""
    if endpoint:
        yield endpoint
        return
    from devserver.dynamodb_local import DynamoDBLocal

    with DynamoDBLocal() as server:
        yield server.endpoint


def main() -> int:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--endpoint", help="an already running DynamoDB (default: start DynamoDB Local)")
    parser.add_argument(
        "--session-kb",
        type=int,
        default=0,
        help="KiB of metadata and of conversation_data on the session (each; SPEC allows up to 32)",
    )
    args = parser.parse_args()
    if args.messages < 2 * WINDOW:
        parser.error(f"--messages must be at least {2 * WINDOW}")

    table = f"session-service-bench-{uuid.uuid4().hex[:8]}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": table,
        "CURSOR_SECRET": "bench-cursor-secret-0123456789",
        "POWERTOOLS_SERVICE_NAME": "session_service",
    }.items():
        os.environ.setdefault(name, value)
    os.environ["TABLE_NAME"] = table

    import boto3

    from devserver.template import create_table
    from session_service import wiring
    from session_service.models import MessageCreate, MessageRole, SessionCreate

    with dynamodb(args.endpoint) as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        create_table(boto3.client("dynamodb"), table)
        wiring.reset()
        repo = wiring.repository()
        meter = Meter()
        meter.attach(wiring.dynamodb_client())

        user = "bench_user"
        # Warm up the JVM (JIT) and the client's connections on another session, so the first window
        # measures the table, not DynamoDB Local's start-up.
        warm, _ = repo.create_session(user, SessionCreate(user_id=user, title="warm-up"))
        for _ in range(WINDOW):
            repo.append_messages(warm.session_id, user, [MessageCreate(role=MessageRole.USER, content="warm-up")])
        filler = {f"k{i}": "v" * 1000 for i in range(min(args.session_kb, 31))}  # ~1 KiB per key
        session, _ = repo.create_session(
            user, SessionCreate(user_id=user, title="append cost", metadata=filler, conversation_data=filler)
        )
        content = "lorem ipsum dolor sit amet " * 8  # about 200 bytes, a typical chat turn
        windows: list[tuple[str, Meter, list[float]]] = []
        timings: list[float] = []
        for i in range(args.messages):
            if i % WINDOW == 0:
                meter.reset()
                timings = []
            request = MessageCreate(
                role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
                content=f"{i}: {content}",
                tokens_used=50,
                cost_usd=Decimal("0.000125"),
            )
            start = time.perf_counter()
            repo.append_messages(session.session_id, user, [request])
            timings.append((time.perf_counter() - start) * 1000)
            if i % WINDOW == WINDOW - 1 and (i < WINDOW or i >= args.messages - WINDOW):
                snapshot = Meter(meter.requests, dict(meter.calls), meter.write_units, meter.read_units)
                windows.append((f"{i + 2 - WINDOW}-{i + 1}", snapshot, timings))

        after = repo.get_session(session.session_id, user)
        print(
            f"DynamoDB at {endpoint}; {args.messages} appends to one session, one message (~220 B) each;"
            f" session metadata and conversation_data ~{len(filler)} KiB each"
        )
        print(f"session after: message_count={after.message_count} total_tokens={after.total_tokens}"
              f" total_cost={after.total_cost}")  # fmt: skip
        print(f"{'appends':<11} {'round trips':>11} {'per append':>10} {'write CU':>9} {'WCU/append':>10}"
              f" {'ms/append median':>16} {'p95':>7} {'calls':<28}")  # fmt: skip
        for label, measured, times in windows:
            p95 = sorted(times)[int(len(times) * 0.95) - 1]
            calls = ", ".join(f"{op} {n}" for op, n in sorted(measured.calls.items()))
            print(
                f"{label:<11} {measured.requests:>11} {measured.requests / WINDOW:>10.2f}"
                f" {measured.write_units:>9.1f} {measured.write_units / WINDOW:>10.2f}"
                f" {statistics.median(times):>16.2f} {p95:>7.2f} {calls:<28}"
            )

        print(f"\nlisting messages, page_size 100, following next_token ({args.messages} messages)")
        print(f"{'page':>4} {'round trips':>11} {'read CU':>8} {'ms':>8} {'messages':>8}")
        token, page_number = None, 0
        while True:
            page_number += 1
            meter.reset()
            start = time.perf_counter()
            page = repo.list_messages(session.session_id, user, page_size=100, next_token=token)
            took = (time.perf_counter() - start) * 1000
            print(
                f"{page_number:>4} {meter.requests:>11} {meter.read_units:>8.1f} {took:>8.2f} {len(page.messages):>8}"
            )
            token = page.next_token
            if token is None:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
