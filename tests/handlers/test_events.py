"""Every sample event under events/ runs through its function's ``lambda_handler`` and answers the status
its file name starts with (``events/<function>/<status>_<case>.json``), against a table holding exactly the
fixtures below. The same files work with ``sam local invoke <Function> -e events/<function>/<file>``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devserver.lambda_runtime import LambdaContext, load_handler_module, response_json
from devserver.template import ROOT, routes
from session_service.models import (
    ChunkCreate,
    MemoryCreate,
    MemoryType,
    MessageCreate,
    MessageRole,
    MessageStatus,
    SessionCreate,
    SessionStatus,
    SessionUpdate,
)
from session_service.models.state import AgentCreate

pytestmark = pytest.mark.fresh_table  # the events name fixed ids: each runs on exactly the fixtures

EVENTS = ROOT / "events"
NOT_API = {"stream_processor"}  # its events are stream records, tested with the stream function

USER = "test_user_123"
OTHER = "other_user_456"
SESSION = "7e02708b-ad2d-44d6-a851-d02d97137757"  # seed 002's session, active, with a message and a memory
ENDED = "a3f1c2d4-5b6e-4f70-8a91-b2c3d4e5f601"
COMPLETED = "b4e2d3c5-6c7f-4a81-9b02-c3d4e5f6a712"
OTHERS_SESSION = "e1d2c3b4-a596-4786-9f01-23456789abcd"
ERASED = "erased_user_789"  # a user whose erasure was asked for
MESSAGE = "5f0c8b9e-2a41-4c7d-9e3b-1d2f3a4b5c6d"  # SESSION's message, its id chosen by the client
REPLY = "8a7b6c5d-4e3f-4a1b-8c2d-3e4f5a6b7c8d"  # SESSION's streamed reply in progress, one chunk so far
DONE = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"  # COMPLETED's message


def event_files() -> list[Path]:
    return sorted(p for p in EVENTS.glob("*/*.json") if p.parent.name not in NOT_API)


def expected_status(path: Path) -> int:
    return int(path.stem.split("_", 1)[0])


def api_functions() -> list[str]:
    return sorted({route.code_dir.name for route in routes()})


def seed(repo: Any) -> None:
    """The fixtures the events name."""
    repo.create_session(
        USER,
        SessionCreate(
            user_id=USER, session_id=SESSION, title="Test Session", metadata={"source": "web_app", "device": "desktop"}
        ),
    )
    repo.append_messages(
        SESSION,
        USER,
        [
            MessageCreate(
                message_id=MESSAGE,
                role=MessageRole.USER,
                content="Hello, this is a test message",
                tokens_used=5,
                cost_usd=Decimal("0.0001"),
                metadata={"model": "gpt-4"},
                provider="openai",
                model="gpt-4",
            ),
            MessageCreate(message_id=REPLY, role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS),
        ],
    )
    repo.add_chunk(SESSION, USER, REPLY, ChunkCreate(index=0, content="Once "))
    repo.add_memory(SESSION, USER, MemoryCreate(memory_type=MemoryType.PREFERENCE, content="User prefers dark mode UI"))
    repo.create_agent(SESSION, USER, "planner", AgentCreate(state={"goal": "book a flight"}))
    planner = [MessageCreate(role=MessageRole.USER, content=f"step {n}", agent_id="planner") for n in range(2)]
    repo.append_messages(SESSION, USER, planner)  # the agent's positions 0 and 1
    for session_id, status in ((ENDED, SessionStatus.ENDED), (COMPLETED, SessionStatus.COMPLETED)):
        repo.create_session(USER, SessionCreate(user_id=USER, session_id=session_id))
        if session_id == COMPLETED:
            message = MessageCreate(message_id=DONE, role=MessageRole.USER, content="Done")
            repo.append_messages(session_id, USER, [message])
        repo.update_session(session_id, USER, SessionUpdate(status=status))
    repo.create_session(OTHER, SessionCreate(user_id=OTHER, session_id=OTHERS_SESSION))
    repo.erase_user(ERASED)  # an erasure under way (no stream function runs here)


@pytest.mark.parametrize("path", event_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_event_answers_the_status_in_its_name(repo: Any, path: Path) -> None:
    seed(repo)
    event = json.loads(path.read_text(encoding="utf-8"))
    handler = load_handler_module(ROOT / "functions" / path.parent.name).lambda_handler
    response = handler(event, LambdaContext())
    types = (response.get("multiValueHeaders") or {}).get("Content-Type", [])
    ndjson = types == ["application/x-ndjson"]  # the export's lines
    body = [json.loads(line) for line in response["body"].splitlines()] if ndjson else response_json(response)
    assert response["statusCode"] == expected_status(path), body
    if response["statusCode"] >= 400:
        assert body["detail"], body


@pytest.mark.parametrize("path", event_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_event_is_a_rest_proxy_event_of_its_function(path: Path) -> None:
    """The shape ``sam local generate-event apigateway aws-proxy`` produces, routed to this function."""
    event = json.loads(path.read_text(encoding="utf-8"))
    assert {
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "requestContext",
        "body",
        "isBase64Encoded",
    } <= set(event)
    context = event["requestContext"]
    assert {"resourcePath", "httpMethod", "requestId", "stage", "identity"} <= set(context)
    assert context["httpMethod"] == event["httpMethod"] and context["resourcePath"] == event["resource"]
    assert event["body"] is None or isinstance(event["body"], str)
    query = event["queryStringParameters"] or {}
    assert query == {k: v[-1] for k, v in (event["multiValueQueryStringParameters"] or {}).items()}
    assert event["headers"] == {k: v[-1] for k, v in (event["multiValueHeaders"] or {}).items()}
    own = [r for r in routes() if r.code_dir.name == path.parent.name]
    assert own, f"{path.parent.name} is not a function of template.yaml"
    if expected_status(path) < 400:  # error events may aim at a path or method the function does not serve
        assert any(r.match(event["httpMethod"], event["path"]) == (event["pathParameters"] or {}) for r in own)


@pytest.mark.parametrize("function", api_functions())
def test_every_api_function_has_a_success_and_an_error_event(function: str) -> None:
    statuses = [expected_status(p) for p in (EVENTS / function).glob("*.json")]
    assert any(200 <= s < 300 for s in statuses), f"events/{function}/ has no success case"
    assert any(s >= 400 for s in statuses), f"events/{function}/ has no error case"


def test_event_folders_are_functions() -> None:
    assert {p.name for p in EVENTS.iterdir() if p.is_dir()} - NOT_API == set(api_functions())
