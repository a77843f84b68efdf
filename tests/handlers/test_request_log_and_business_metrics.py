"""What an operator sees of a request: one structured log line (route, status, latency, caller, correlation id;
never message content), and the business metrics of the writes (sessions created, messages appended, their
tokens and cost) with the ``service`` and ``stage`` dimensions."""

from __future__ import annotations

import io
import json
import logging
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from session_service.observability import logger, metrics

SECRET_TEXT = "the user's private words"


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """``log_lines()``: the JSON lines the service's logger wrote since the test began, at ``INFO`` as deployed."""
    handler = cast(logging.StreamHandler[Any], logger.registered_handler)
    stream, level = io.StringIO(), logger.log_level
    previous = handler.setStream(stream)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    logger.setLevel(level)
    if previous is not None:
        handler.setStream(previous)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Metrics on (conftest turns them off); ``published()`` gives the EMF documents printed since the last call."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()
    capsys.readouterr()

    def documents() -> list[dict[str, Any]]:
        lines = capsys.readouterr().out.splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"_aws"')]

    yield documents
    metrics.clear_metrics()


def requests_logged(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["message"] == "Request"]


def test_each_request_writes_one_line_with_route_status_latency_caller_and_correlation_id(
    api: Any, user: str, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    # Given a session, a success, a 404 and a 422
    status, session, _ = api("POST", "/api/v1/sessions", json_body={"user_id": user, "title": SECRET_TEXT})
    assert status == 201
    messages = api.session_url(session["session_id"], "/messages")
    assert api("POST", messages, query={"user_id": user}, json_body={"role": "user", "content": SECRET_TEXT})[0] == 201
    assert api("GET", api.session_url(str(uuid.uuid4())), query={"user_id": user})[0] == 404
    assert api("GET", api.session_url(session["session_id"]), query={"user_id": "not valid!"})[0] == 422

    lines = requests_logged(log_lines())

    assert [(line["route"], line["status"]) for line in lines] == [
        ("POST /api/v1/sessions", 201),
        ("POST /api/v1/sessions/{session_id}/messages", 201),
        ("GET /api/v1/sessions/{session_id}", 404),
        ("GET /api/v1/sessions/{session_id}", 422),
    ]
    for line in lines:
        assert line["level"] == "INFO"
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
        assert line["correlation_id"]  # API Gateway's request id
    assert [line.get("caller") for line in lines] == [user, user, user, None]  # the 422 never named a valid one
    assert all(SECRET_TEXT not in json.dumps(line) for line in log_lines())


def test_an_append_counts_the_message_its_tokens_and_cost_and_a_repeat_counts_nothing(
    api: Any, user: str, published: Any
) -> None:
    status, session, _ = api("POST", "/api/v1/sessions", json_body={"user_id": user})
    assert status == 201
    (created,) = published()
    assert created["SessionsCreated"] == [1.0]
    assert created["stage"] == "local" and created["service"] == "session_service"
    assert [sorted(names) for names in created["_aws"]["CloudWatchMetrics"][0]["Dimensions"]] == [["service", "stage"]]

    body = {"message_id": str(uuid.uuid4()), "role": "user", "content": "hi", "tokens_used": 5, "cost_usd": 0.0001}
    url = api.session_url(session["session_id"], "/messages")
    assert api("POST", url, query={"user_id": user}, json_body=body)[0] == 201
    (appended,) = published()
    assert (appended["MessagesAppended"], appended["MessageTokens"], appended["MessageCostUSD"]) == (
        [1.0],
        [5.0],
        [0.0001],
    )
    assert appended["stage"] == "local"

    assert api("POST", url, query={"user_id": user}, json_body=body)[0] == 200  # stored before: nothing written
    assert published() == []

    batch = {
        "messages": [
            {"role": "user", "content": "a", "tokens_used": 2},
            {"role": "assistant", "content": "b", "tokens_used": 3},
        ]
    }
    assert api("POST", f"{url}:batch", query={"user_id": user}, json_body=batch)[0] == 201
    (imported,) = published()
    assert (imported["MessagesAppended"], imported["MessageTokens"]) == ([2.0], [5.0])

    # A retried batch that finds one of its messages stored skips it: only the new one is counted.
    fresh = {"message_id": str(uuid.uuid4()), "role": "assistant", "content": "c", "tokens_used": 7}
    retried = {"messages": [body, fresh]}
    assert api("POST", f"{url}:batch", query={"user_id": user}, json_body=retried)[0] == 201
    (skipping,) = published()
    assert (skipping["MessagesAppended"], skipping["MessageTokens"]) == ([1.0], [7.0])


def test_invocations_that_record_no_metric_warn_nothing(api: Any, user: str, published: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            assert api("GET", "/health")[0] == 200
            assert api("GET", api.session_url(str(uuid.uuid4())), query={"user_id": user})[0] == 404
