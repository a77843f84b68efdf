"""The stream tier: the stream function on moto, fed the records of the moto table's own stream.

Records are read with the ``dynamodbstreams`` client, so they have the shape DynamoDB gives them, and handed to
``functions/stream_processor/app.py`` as Lambda would (``handler``). Every module here is ``fresh_table``: the
statistics, the user counts and the stream are table-wide.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import boto3
import pytest

from devserver.lambda_runtime import LambdaContext, load_handler_module
from devserver.streams import StreamReader
from devserver.template import ROOT
from tests.support import Handle

HANDLER_DIR = ROOT / "functions" / "stream_processor"


@pytest.fixture
def reader(ddb: Any) -> StreamReader:
    """The test table's stream, read from its start (each ``drain()`` returns the records since the last)."""
    return StreamReader(ddb, boto3.client("dynamodbstreams"), os.environ["TABLE_NAME"])


@pytest.fixture
def handler(ddb: Any) -> Handle:
    """Invoke ``functions/stream_processor/app.py`` with a batch of records (a copy: the function may change it)."""
    module = load_handler_module(HANDLER_DIR)

    def invoke(records: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(module.lambda_handler({"Records": copy.deepcopy(records)}, LambdaContext()))

    return invoke
