"""Fixtures every tier shares: fake AWS credentials and settings, a moto table created from template.yaml.

The tiers live in folders (``unit``, ``handlers``, ``stream``, ``server``, ``template``, ``integration``);
helpers a tier shares are fixtures in its own ``conftest.py``, never imports from another test module.
"""

from __future__ import annotations

import os

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

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devserver.template import create_table
from session_service import wiring

TABLE = os.environ["TABLE_NAME"]


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS call of the test; the cached wiring is rebuilt inside it."""
    with mock_aws():
        wiring.reset()
        yield
    wiring.reset()


@pytest.fixture
def ddb(aws: None) -> Any:
    """A DynamoDB client on a table created from template.yaml."""
    client = boto3.client("dynamodb")
    create_table(client, TABLE)
    return client


@pytest.fixture
def repo(ddb: Any) -> Any:
    """The repository the handlers use."""
    return wiring.repository()
