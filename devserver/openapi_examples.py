"""The OpenAPI document's examples: requests that still work when Swagger UI's Execute is pressed twice, by two
people, and responses that are real answers of ``make serve``.

A request example names no ``session_id`` or ``message_id`` (a second Execute would find the first one's and
answer 409 or write nothing), no short ``ttl_seconds`` (the session would expire in a minute) and a real model
id. The responses (``openapi_examples.json``) were captured from the local server running :func:`capture`'s
tour with these requests; ``tests/server/test_openapi_examples.py`` runs the tour again and fails when an
example holds a field a real answer no longer has. Capture them again after a model changes:

    python -m devserver.openapi_examples --capture    # rewrites devserver/openapi_examples.json
    python -m devserver.openapi --write               # then the OpenAPI document
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

RESPONSES_FILE = Path(__file__).with_name("openapi_examples.json")
USER = "test_user_123"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"

REQUESTS: dict[str, Any] = {
    "create_session": {
        "user_id": USER,
        "title": "Test Session",
        "metadata": {"source": "web_app"},
        "state": {"step": 0},
        "user_state": {"language": "en"},
    },
    "update_session": {"title": "Trip to Lisbon", "metadata": {"source": "web_app", "topic": "travel"}},
    "append_message": {
        "role": "user",
        "content": "Hello, this is a test message",
        "tokens_used": 5,
        "cost_usd": 0.0001,
    },
    "append_messages": {
        "messages": [
            {"role": "user", "content": "What is the capital of Portugal?", "tokens_used": 9},
            {
                "role": "assistant",
                "content": "Lisbon.",
                "tokens_used": 3,
                "cost_usd": 0.000045,
                "provider": "bedrock",
                "model": MODEL,
            },
        ]
    },
    "update_message": {"content": "Hello, this is an edited message", "tokens_used": 6},
    "append_chunk": {"index": 0, "content": "Lisbon is the capital "},
    "add_memory": {"memory_type": "preference", "content": "User prefers dark mode UI"},
    "create_sessions": {
        "sessions": [{"user_id": USER, "title": "Support chat"}, {"user_id": USER, "title": "Sales chat"}]
    },
    "pop_messages": {"count": 1},
    "change_state": {"set": {"step": 2, "plan": None}, "remove": ["draft"]},
    "create_agent": {"state": {"goal": "book a flight"}},
    "change_agent": {"set": {"step": 1}},
    "update_agent_message": {"content": "Lisbon, Portugal."},
    "change_user_state": {"set": {"theme": "dark"}},
    "change_namespace_state": {"set": {"default_model": MODEL}},
}
"""Each operation's request body example, by ``operationId``."""


def add_examples(document: dict[str, Any], responses: dict[str, dict[str, Any]] | None = None) -> None:
    """Put :data:`REQUESTS` and the captured ``responses`` (default: ``openapi_examples.json``) into ``document``
    as media-type examples (Swagger UI prefills a request body with its example)."""
    answers = responses if responses is not None else load_responses()
    for operations in document["paths"].values():
        for operation in operations.values():
            name = operation.get("operationId")
            if name in REQUESTS:
                operation["requestBody"]["content"]["application/json"]["example"] = REQUESTS[name]
            for status, body in answers.get(name, {}).items():
                media = operation["responses"][status].get("content", {}).get("application/json")
                if media is None:
                    continue
                media["example"] = body
                # A create's 200 (the one found stored) answers the same body as its 201.
                sibling = operation["responses"].get({"200": "201", "201": "200"}.get(status, ""), {})
                other = sibling.get("content", {}).get("application/json")
                if other is not None and other.get("schema") == media["schema"]:
                    other.setdefault("example", body)


def load_responses() -> dict[str, dict[str, Any]]:
    """The captured answers: ``{operationId: {status: body}}``."""
    loaded: dict[str, dict[str, Any]] = json.loads(RESPONSES_FILE.read_text(encoding="utf-8"))
    return loaded


def capture(base_url: str) -> dict[str, dict[str, Any]]:
    """Run a tour of the API at ``base_url`` with :data:`REQUESTS` and return each operation's answer,
    ``{operationId: {status: body}}``. Raises ``AssertionError`` when a step does not answer as expected."""
    answers: dict[str, dict[str, Any]] = {}
    user = {"user_id": USER}
    with httpx.Client(base_url=base_url, timeout=60) as http:

        def call(name: str, method: str, path: str, status: int, **kwargs: Any) -> Any:
            response = http.request(method, path, **kwargs)
            assert response.status_code == status, (name, response.status_code, response.text)
            body = response.json()
            answers.setdefault(name, {})[str(status)] = body
            return body

        call("health", "GET", "/health", 200)
        call("health_detailed", "GET", "/health/detailed", 200)
        sid = call("create_session", "POST", "/api/v1/sessions", 201, json=REQUESTS["create_session"])["session_id"]
        session = f"/api/v1/sessions/{sid}"
        call("get_session", "GET", session, 200, params=user)
        call("update_session", "PUT", session, 200, params=user, json=REQUESTS["update_session"])
        first = call("append_message", "POST", f"{session}/messages", 201, params=user, json=REQUESTS["append_message"])
        call("append_messages", "POST", f"{session}/messages:batch", 201, params=user, json=REQUESTS["append_messages"])
        message = f"{session}/messages/{first['message_id']}"
        call("get_message", "GET", message, 200, params=user)
        call("update_message", "PATCH", message, 200, params=user, json=REQUESTS["update_message"])
        reply = http.post(
            f"{session}/messages",
            params=user,
            json={"role": "assistant", "content": "", "status": "in_progress", "model": MODEL},
        ).json()
        chunks = f"{session}/messages/{reply['message_id']}/chunks"
        call("append_chunk", "POST", chunks, 200, params=user, json=REQUESTS["append_chunk"])
        call("list_messages", "GET", f"{session}/messages", 200, params={**user, "page_size": 2})
        call("get_context", "GET", f"{session}/context", 200, params={**user, "max_tokens": 4000})
        call("add_memory", "POST", f"{session}/memory", 201, params=user, json=REQUESTS["add_memory"])
        call("list_memories", "GET", f"{session}/memory", 200, params=user)
        time.sleep(2)  # the stream function's statistics and usage follow within about a second
        call("get_session_summary", "GET", f"{session}/summary", 200, params=user)
        call("list_sessions", "GET", f"/api/v1/users/{USER}/sessions", 200, params={"page_size": 1})
        call("get_stats", "GET", "/api/v1/sessions/stats", 200)
        call("get_usage", "GET", f"/api/v1/users/{USER}/usage", 200)
        call("truncate_messages", "DELETE", f"{session}/messages", 200, params={**user, "after": first["message_id"]})
        call("delete_message", "DELETE", message, 200, params=user)
        batch = call(
            "create_sessions", "POST", "/api/v1/sessions:batch", 201, params=user, json=REQUESTS["create_sessions"]
        )
        ids = [created["session_id"] for created in batch["sessions"]]
        call("delete_sessions", "POST", "/api/v1/sessions:batchDelete", 200, params=user, json={"session_ids": ids})
        call("end_session", "DELETE", session, 200, params=user)
    return answers


def main(argv: list[str] | None = None) -> int:
    """``--capture``: run :func:`capture` against a fresh local server and rewrite ``openapi_examples.json``."""
    parser = argparse.ArgumentParser(prog="python -m devserver.openapi_examples", description=__doc__.splitlines()[0])
    parser.add_argument("--capture", action="store_true", help=f"rewrite {RESPONSES_FILE.name} from a local server")
    args = parser.parse_args(argv)
    if not args.capture:
        sys.stdout.write(json.dumps(REQUESTS, indent=2) + "\n")
        return 0
    from devserver.child_process import serve_in_subprocess

    with serve_in_subprocess() as running:
        answers = capture(running.url)
    RESPONSES_FILE.write_text(json.dumps(answers, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
