"""The original API guide's own example clients (in the design documents the service started from), run
unchanged against ``make serve`` (a child ``python -m devserver``).

* seed 002's ``SessionClient`` (httpx, async): create, add message, create memory, get messages, end.
* seed 004's memory service: "ensure the session exists" with ``GET`` then ``POST`` of a client-chosen
  id (``SessionIdGenerator.generate_user_session_id``: ``<user_id[:12]>_<uuid>``), which must answer
  201 the first time and 200 (the existing session) afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devserver.child_process import serve_in_subprocess


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_subprocess() as running:
        yield running.url


class SessionClient:
    """seed 002, "Python 客户端示例", as written there (only the base URL is given)."""

    def __init__(self, base_url: str = "http://localhost:8205") -> None:
        self.base_url = base_url

    async def create_session(self, user_id: str, metadata: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/api/v1/sessions", json={"user_id": user_id, "metadata": metadata or {}}
            )
            return response.json()

    async def add_message(self, session_id: str, user_id: str, role: str, content: str, tokens: int = 0) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/api/v1/sessions/{session_id}/messages",
                params={"user_id": user_id},
                json={"role": role, "content": content, "tokens_used": tokens},
            )
            return response.json()

    async def get_messages(self, session_id: str, user_id: str) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{self.base_url}/api/v1/sessions/{session_id}/messages", params={"user_id": user_id}
            )
            return response.json()

    async def create_memory(self, session_id: str, user_id: str, memory_type: str, content: str) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/api/v1/sessions/{session_id}/memory",
                params={"user_id": user_id},
                json={"memory_type": memory_type, "content": content},
            )
            return response.json()

    async def end_session(self, session_id: str, user_id: str) -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.delete(f"{self.base_url}/api/v1/sessions/{session_id}", params={"user_id": user_id})
            return response.json()


def test_seed_002_python_client(base_url: str) -> None:
    async def main() -> dict[str, Any]:
        client = SessionClient(base_url)
        session = await client.create_session(user_id="user_123", metadata={"source": "python_client"})
        session_id = session["session_id"]
        message = await client.add_message(
            session_id=session_id, user_id="user_123", role="user", content="Hello, world!", tokens=3
        )
        memory = await client.create_memory(
            session_id=session_id,
            user_id="user_123",
            memory_type="preference",
            content="User prefers concise responses",
        )
        messages = await client.get_messages(session_id, "user_123")
        ended = await client.end_session(session_id, "user_123")
        return {"session": session, "message": message, "memory": memory, "messages": messages, "ended": ended}

    result = asyncio.run(main())
    assert result["session"]["status"] == "active" and result["session"]["metadata"] == {"source": "python_client"}
    assert result["message"]["tokens_used"] == 3 and result["message"]["message_type"] == "chat"
    assert result["memory"]["memory_type"] == "preference"
    assert [m["content"] for m in result["messages"]["messages"]] == ["Hello, world!"]
    assert result["messages"]["total"] == 1
    assert result["ended"] == {"message": "Session ended successfully"}


def test_seed_004_ensure_session_exists(base_url: str) -> None:
    user_id = "550e8400-e29b-41d4-a716-446655440000"
    session_id = f"{user_id[:12]}_{uuid.uuid4()}"  # SessionIdGenerator.generate_user_session_id
    with httpx.Client(base_url=base_url, timeout=10) as http:
        assert http.get(f"/api/v1/sessions/{session_id}", params={"user_id": user_id}).status_code == 404
        body = {
            "user_id": user_id,
            "session_id": session_id,
            "conversation_data": {},
            "metadata": {"source": "memory_service"},
        }
        created = http.post("/api/v1/sessions", json=body)
        assert created.status_code == 201 and created.json()["session_id"] == session_id
        again = http.post("/api/v1/sessions", json=body)
        assert again.status_code == 200 and again.json() == created.json()
        assert http.get(f"/api/v1/sessions/{session_id}", params={"user_id": user_id}).status_code == 200
        taken = http.post("/api/v1/sessions", json={**body, "user_id": "someone_else"})
        assert taken.status_code == 409
