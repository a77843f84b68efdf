"""The OpenAPI document's examples (what Swagger UI prefills and shows): a request example works when executed
twice, as two people pressing Execute would; a response example is a real answer of ``make serve`` (the tour
that captured them runs again here, and an example may not hold a field the answer no longer has)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devserver.child_process import RunningServer, serve_in_subprocess
from devserver.openapi_examples import REQUESTS, capture, load_responses
from devserver.template import ROOT

USER = {"user_id": "test_user_123"}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with serve_in_subprocess() as running:
        yield running


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    return loaded


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for ops in document["paths"].values() for op in ops.values()}


def request_example(document: dict[str, Any], name: str) -> Any:
    return operations(document)[name]["requestBody"]["content"]["application/json"]["example"]


def test_every_request_body_has_an_example_with_no_fixed_id_short_ttl_or_fake_model(document: dict[str, Any]) -> None:
    with_body = {name for name, op in operations(document).items() if "requestBody" in op}
    assert with_body - {"delete_sessions"} <= set(REQUESTS)  # deleting names the caller's own ids
    text = json.dumps([request_example(document, name) for name in REQUESTS])
    for trap in ('"session_id"', '"message_id"', '"ttl_seconds"', '"model": "bedrock"'):
        assert trap not in text, trap


def test_the_create_and_append_examples_work_executed_twice(server: RunningServer, document: dict[str, Any]) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sessions = [http.post("/api/v1/sessions", json=request_example(document, "create_session")) for _ in "12"]
        assert [answer.status_code for answer in sessions] == [201, 201]
        sid = sessions[0].json()["session_id"]
        assert sessions[1].json()["session_id"] != sid

        for name, path, status in [
            ("append_message", f"/api/v1/sessions/{sid}/messages", 201),
            ("append_messages", f"/api/v1/sessions/{sid}/messages:batch", 201),
            ("add_memory", f"/api/v1/sessions/{sid}/memory", 201),
            ("create_sessions", "/api/v1/sessions:batch", 201),
            ("update_session", f"/api/v1/sessions/{sid}", 200),
        ]:
            example = request_example(document, name)
            answers = [http.request(method_of(document, name), path, params=USER, json=example) for _ in "12"]
            assert [answer.status_code for answer in answers] == [status, status], (name, answers[1].text)
            if status == 201:
                assert answers[0].json() != answers[1].json(), f"{name}: the second Execute wrote nothing new"


def method_of(document: dict[str, Any], name: str) -> str:
    for ops in document["paths"].values():
        for method, op in ops.items():
            if op["operationId"] == name:
                return method.upper()
    raise LookupError(name)


def same_shape(example: Any, answer: Any, where: str) -> None:
    """``example`` holds no field ``answer`` lacks, and each shared value has the same JSON type."""
    if isinstance(example, dict):
        assert isinstance(answer, dict), where
        for key, value in example.items():
            assert key in answer, f"{where}.{key} is in the example, not in a real answer"
            if value is not None and answer[key] is not None:
                same_shape(value, answer[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(answer, list), where
        for item in example[:1]:
            if answer:
                same_shape(item, answer[0], f"{where}[0]")
    else:
        assert type(example) is type(answer) or {type(example), type(answer)} <= {int, float}, where


def test_the_response_examples_are_real_answers(server: RunningServer, document: dict[str, Any]) -> None:
    committed = load_responses()
    answers = capture(server.url)

    assert set(committed) == set(answers)
    for name, by_status in committed.items():
        for status, example in by_status.items():
            same_shape(example, answers[name][status], f"{name} {status}")
            media = operations(document)[name]["responses"][status]["content"]["application/json"]
            assert media["example"] == example  # the document carries it
