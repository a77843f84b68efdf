"""Metrics are published by the invocations that record some, and Powertools' "No application metrics to
publish" warning never reaches a function's log (stderr) for those that record none."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from devserver.lambda_runtime import LambdaContext, load_handler_module, rest_event
from devserver.template import ROOT
from session_service.observability import metrics


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Metrics on (conftest turns them off); returns a function giving the EMF documents printed so far."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()

    def documents() -> list[dict[str, Any]]:
        lines = capsys.readouterr().out.splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"_aws"')]

    yield documents
    metrics.clear_metrics()


def invoke(function: str, event: dict[str, Any]) -> tuple[int, list[str]]:
    """Run ``function``'s handler on ``event``; its status and the warnings it issued."""
    handler = load_handler_module(ROOT / "functions" / function).lambda_handler
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = handler(event, LambdaContext())
    return response["statusCode"], [str(warning.message) for warning in caught]


def test_an_invocation_without_metrics_publishes_and_warns_nothing(published: Any) -> None:
    status, issued = invoke("health", rest_event("GET", "/health", resource="/health"))
    assert status == 200
    assert not [message for message in issued if "No application metrics" in message]
    assert published() == []


def test_an_invocation_with_a_metric_publishes_it_once(published: Any) -> None:
    event = rest_event(
        "GET",
        "/api/v1/sessions/7e02708b-ad2d-44d6-a851-d02d97137757",
        resource="/api/v1/sessions/{session_id}",
        path_parameters={"session_id": "7e02708b-ad2d-44d6-a851-d02d97137757"},
        query={"user_id": ["not valid!"]},
    )
    status, issued = invoke("get_session", event)
    assert status == 422 and issued == []
    (document,) = published()
    assert document["Error.Validation"] == [1.0]
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SessionService"
