"""The stream tier: the stream functions on moto, fed the records of the moto table's own stream.

Records are read with the ``dynamodbstreams`` client, so they have the shape DynamoDB gives them, and handed to
``functions/stream_processor/app.py`` (statistics) and then ``functions/session_summaries/app.py`` (summaries) as
Lambda would, each through its own ``FilterCriteria`` from ``template.yaml`` (``handler``). Every module here is
``fresh_table``: the statistics, the user counts and the stream are table-wide.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import boto3
import pytest

from devserver.lambda_runtime import LambdaContext, load_handler_module
from devserver.streams import StreamReader, filters_of, passes, stream_consumers
from devserver.template import ROOT
from tests.support import Handle

HANDLER_DIR = ROOT / "functions" / "stream_processor"
SUMMARIES_DIR = ROOT / "functions" / "session_summaries"


@pytest.fixture
def reader(ddb: Any) -> StreamReader:
    """The test table's stream, read from its start (each ``drain()`` returns the records since the last)."""
    return StreamReader(ddb, boto3.client("dynamodbstreams"), os.environ["TABLE_NAME"])


@pytest.fixture
def handler(ddb: Any) -> Handle:
    """Deliver a batch of records to both stream functions, each the records its filter passes (a copy: a function
    may change it): the statistics function's answer is returned, then the summary function runs (it raises when a
    summary could not be made)."""
    consumers = {c.code_dir: filters_of(c.event_source) for c in stream_consumers()}
    statistics, summaries = load_handler_module(HANDLER_DIR), load_handler_module(SUMMARIES_DIR)

    def invoke(records: list[dict[str, Any]]) -> dict[str, Any]:
        def passed(code_dir: Any) -> list[dict[str, Any]]:
            return [copy.deepcopy(r) for r in records if passes(consumers[code_dir], r)]

        # Lambda invokes a function only with the records its filter passed, and never with none.
        counted, summarized = passed(HANDLER_DIR), passed(SUMMARIES_DIR)
        answer = dict(statistics.lambda_handler({"Records": counted}, LambdaContext())) if counted else {}
        if summarized:
            summaries.lambda_handler({"Records": summarized}, LambdaContext())
        return answer or {"batchItemFailures": []}

    return invoke
