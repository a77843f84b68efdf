"""Fixtures every tier shares: fake AWS credentials and settings, a moto table created from template.yaml.

The tiers live in folders (``unit``, ``handlers``, ``stream``, ``server``, ``template``, ``integration``);
helpers a tier shares are fixtures in its own ``conftest.py``, never imports from another test module. Plain
functions that several tiers or the benchmarks share are in ``tests/support.py``.
"""

from __future__ import annotations

import os
import uuid

# Before anything creates a boto3 client: fake credentials and region, and what moto's Streams need.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "TABLE_NAME": "session-service-test",
        "CURSOR_SECRET": "test-cursor-secret-0123456789",
        "POWERTOOLS_SERVICE_NAME": "session_service",
        "POWERTOOLS_METRICS_NAMESPACE": "SessionService",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
)
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devserver import moto_compat
from devserver.template import create_table
from session_service import wiring

TABLE = os.environ["TABLE_NAME"]


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """moto for every AWS call of the test module; the cached wiring is rebuilt inside it.

    One mock per module, not per test: starting a mock resets boto3's default session, and the first
    client after that loads the service models again (about 0.2 s, most of what a test's setup cost).
    """
    moto_compat.apply()
    with mock_aws():
        wiring.reset()
        yield
    wiring.reset()


@pytest.fixture(scope="module")
def module_table(aws: None) -> str:
    """The module's table, created from template.yaml under ``TABLE_NAME`` in the module's mock."""
    create_table(boto3.client("dynamodb"), TABLE)
    return TABLE


@pytest.fixture
def table(request: pytest.FixtureRequest, module_table: str) -> Iterator[str]:
    """The table the test's handlers use (``TABLE_NAME``), with the cached wiring rebuilt for the test.

    Tests of a module share the table, each with ids of its own (the ``user`` fixtures, server-drawn session
    ids), so none sees another's items. A test marked ``fresh_table`` (it scans the whole table, reads the
    global ``STATS`` item or the table's stream from its start, or needs fixed ids), and any test that uses
    the handler tier's ``table_items`` scan, gets it empty: the table is dropped and created again under the
    same name. That also keeps the shared table small, which matters on moto: its TransactWriteItems
    deep-copies the whole table for every item of the transaction.
    """
    fresh = request.node.get_closest_marker("fresh_table") is not None or "table_items" in request.fixturenames
    if fresh:
        client = boto3.client("dynamodb")
        client.delete_table(TableName=module_table)
        create_table(client, module_table)
    wiring.reset()
    yield module_table
    wiring.reset()


@pytest.fixture
def ddb(table: str) -> Any:
    """A DynamoDB client (the table is ``table``, named by ``TABLE_NAME``)."""
    return boto3.client("dynamodb")


@pytest.fixture
def repo(table: str) -> Any:
    """The repository the handlers use."""
    return wiring.repository()


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def user() -> str:
    """A user id of the test's own (``user_<12 hex digits>``): tests sharing a table never list each other's
    sessions."""
    return _unique("user")


@pytest.fixture
def other_user() -> str:
    """A second user id of the test's own (``other_<12 hex digits>``)."""
    return _unique("other")


@pytest.fixture
def move_index_keys() -> Callable[..., int]:
    """Do what the stream function does for the listing: move sessions' GSI sort keys to their
    ``last_activity`` (for tests without a stream). ``(client, table, session_ids=None) -> how many moved``:
    the given sessions, or every session of the table (a paginated Scan)."""
    from session_service.data import dynamo, items, keys
    from session_service.stream import IndexMove, StreamProcessor
    from session_service.summarizer import ExtractiveSummarizer

    def move(client: Any, table: str, session_ids: list[str] | None = None) -> int:
        processor = StreamProcessor(client, table, ExtractiveSummarizer())
        if session_ids is not None:
            hots = dynamo.batch_get(client, table, [keys.session_key(sid) for sid in session_ids])
        else:
            pages = client.get_paginator("scan").paginate(TableName=table)
            hots = [dynamo.deserialize(raw) for page in pages for raw in page["Items"]]
        moved = 0
        for hot in hots:
            if hot.get("SK") == keys.SESSION_SK and hot.get(items.ENTITY) == items.SESSION_ENTITY:
                move = IndexMove(
                    hot["session_id"], hot["created_at"], hot["status"], hot["last_activity"], keys.index_keys(hot)
                )
                moved += processor.upkeep.move_index(move)
        return moved

    return move
