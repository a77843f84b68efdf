"""Shared fixtures: fake AWS credentials, a moto table created from template.yaml, handler invocation."""

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

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devserver.lambda_runtime import LambdaContext, load_handler_module, response_json, rest_event
from devserver.template import ROOT, create_table, routes
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


def route_for(method: str, path: str) -> tuple[Any, dict[str, str]]:
    """The template route that serves ``method path`` and its path parameters."""
    for route in routes():
        params = route.match(method, path)
        if params is not None:
            return route, params
    raise LookupError(f"no route for {method} {path}")


class Api:
    """Calls handlers in-process the way API Gateway would, from an HTTP-like description."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: str | bytes | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        import json

        route, params = route_for(method, path)
        if json_body is not None:
            body = json.dumps(json_body)
        multi = {
            k: [str(v).lower() if isinstance(v, bool) else str(v)] for k, v in (query or {}).items() if v is not None
        }
        event = rest_event(
            method,
            path,
            resource=route.path,
            path_parameters=params,
            query=multi,
            headers={"Content-Type": "application/json", **(headers or {})},
            body=body,
            claims=claims,
        )
        response = load_handler_module(route.code_dir).lambda_handler(event, LambdaContext())
        response_headers = dict(response.get("headers") or {})
        response_headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v})
        return int(response["statusCode"]), response_json(response), response_headers


@pytest.fixture
def api(ddb: Any) -> Api:
    """Call the API through the template's routes and each route's own handler."""
    return Api()


@pytest.fixture
def new_session(api: Api) -> Callable[..., dict[str, Any]]:
    """Create a session for a user and return its JSON."""

    def make(user_id: str = "test_user_123", **fields: Any) -> dict[str, Any]:
        status, body, _ = api("POST", "/api/v1/sessions", json_body={"user_id": user_id, **fields})
        assert status == 201, body
        return body

    return make


EVENTS_DIR = ROOT / "events"


def move_index_keys(client: Any, table: str = TABLE) -> int:
    """Do what the stream function does for the listing: move every session's GSI sort keys to its
    ``last_activity`` (tests without a stream). Returns how many moved."""
    from session_service import dynamo, items
    from session_service.stream import IndexMove, StreamProcessor
    from session_service.summarizer import ExtractiveSummarizer

    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    moved = 0
    for raw in client.scan(TableName=table)["Items"]:
        hot = dynamo.deserialize(raw)
        if hot.get("SK") == items.SESSION_SK and hot.get(items.ENTITY) == items.SESSION_ENTITY:
            move = IndexMove(
                hot["session_id"], hot["created_at"], hot["status"], hot["last_activity"], items.index_keys(hot)
            )
            moved += processor.move_index(move)
    return moved
