"""What every benchmark sets up the same way: the environment, DynamoDB Local with the table created from
template.yaml and the repository the handlers use, the ``--endpoint`` option, and the ~1 KB chat turn.

The meter of round trips and capacity units is :mod:`meter`; the stream is applied in Lambda's batches by
:func:`tests.support.apply_batches`, which the tests use too.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root."""

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
"""Fake credentials and a region: DynamoDB Local accepts any."""
SETTINGS = {
    "CURSOR_SECRET": "bench-cursor-secret-0123456789",
    "POWERTOOLS_SERVICE_NAME": "session_service",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
"""The settings the layer reads (log level lowered: the reports are the output)."""

CONTENT = ("lorem ipsum dolor sit amet, consectetur adipiscing elit " * 18)[:1000]
"""About 1 KB, a chat turn."""


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of ``description`` (a benchmark's docstring), with
    ``--endpoint``."""
    parsed = argparse.ArgumentParser(description=(description or "").splitlines()[0])
    parsed.add_argument("--endpoint", help="an already running DynamoDB (default: start DynamoDB Local)")
    return parsed


def environment(table: str) -> None:
    """Fake credentials, a region and the settings the layer reads, for a throw-away ``table``."""
    for name, value in {
        **CREDENTIALS,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        **SETTINGS,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        os.environ.setdefault(name, value)
    os.environ["TABLE_NAME"] = table


@contextmanager
def dynamodb(endpoint: str | None) -> Iterator[str]:
    """``endpoint``, or an in-memory DynamoDB Local started for the run (stopped afterwards); sets
    ``AWS_ENDPOINT_URL_DYNAMODB`` to it."""
    if endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        yield endpoint
        return
    from devserver.dynamodb_local import DynamoDBLocal

    with DynamoDBLocal() as server:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.endpoint
        yield server.endpoint


@dataclass(frozen=True)
class Bench:
    """A benchmark's database: where it runs, its table, a plain client and the handlers' repository."""

    endpoint: str
    table: str
    client: Any
    """A DynamoDB client of its own (not the repository's: meter that one with ``wiring.dynamodb_client()``)."""
    repo: Any

    def stream_reader(self, table: str | None = None) -> Any:
        """A reader of the stream of ``table`` (default: the benchmark's), on clients outside every meter."""
        import boto3

        from devserver.streams import StreamReader

        streams = boto3.client("dynamodbstreams", endpoint_url=self.endpoint)
        return StreamReader(boto3.client("dynamodb"), streams, table or self.table)


@contextmanager
def bench(endpoint: str | None) -> Iterator[Bench]:
    """The environment for a new table, DynamoDB Local (or ``endpoint``), the table created from template.yaml
    and the repository the handlers use (``wiring`` rebuilt)."""
    table = f"session-service-bench-{uuid.uuid4().hex[:8]}"
    environment(table)
    import boto3

    from devserver.template import create_table
    from session_service import wiring

    with dynamodb(endpoint) as url:
        client = boto3.client("dynamodb")
        create_table(client, table)
        wiring.reset()
        yield Bench(url, table, client, wiring.repository())


def turn(i: int, content: str = CONTENT, tokens: int = 250, cost: str = "0.000125", **fields: Any) -> Any:
    """The ``i``-th message of a conversation (user and assistant in turn): ``"<i>: <content>"``."""
    from session_service.models import MessageCreate, MessageRole

    return MessageCreate(
        role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
        content=f"{i}: {content}",
        tokens_used=tokens,
        cost_usd=Decimal(cost),
        **fields,
    )


def calls(measured: Any) -> str:
    """A meter's API calls as ``Op n, Op n`` (by operation name)."""
    return ", ".join(f"{op} {n}" for op, n in sorted(measured.calls.items()))
