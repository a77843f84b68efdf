"""``make smoke URL=...``: the typed client's round trip against a running Session Service, deployed or local.

Checks the health routes, then creates a session, appends a user and an assistant message, lists them,
reads the context and the summary, and deletes the session for good, printing one line per step with its
time. With the authorizer on, ``--token`` (``TOKEN=`` for make: a Cognito ID token) makes the caller the
token's user; without it the calls name a fresh ``smoke-...`` user. Exits 1 at the first step that fails.

    python -m devserver.smoke https://abc123.execute-api.us-east-1.amazonaws.com/dev [--token ID_TOKEN]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from session_service_client import SessionServiceClient, SessionServiceError


def run(url: str, token: str | None = None, out: Any = sys.stdout) -> bool:
    """The round trip against ``url``; ``True`` when every step passed. Each step prints one line on ``out``."""
    user_id = None if token else f"smoke-{uuid.uuid4().hex[:12]}"
    with SessionServiceClient(url, user_id=user_id, token=token, max_retries=2) as client:
        state: dict[str, Any] = {}

        def health() -> str:
            return client.health().status

        def ready() -> str:
            detailed = client.health_detailed()
            assert detailed.database_connected, "the table did not answer"
            return "the table answers"

        def create() -> str:
            session = client.create_session(title="smoke test", metadata={"source": "make smoke"})
            state["session"] = session.session_id
            return f"session {session.session_id} for {session.user_id}"

        def append() -> str:
            sid = state["session"]
            client.append_message(sid, role="user", content="Hello from make smoke", tokens_used=5)
            client.append_message(sid, role="assistant", content="Hello! The service answers.", tokens_used=7)
            return "2 messages"

        def listing() -> str:
            roles = [message.role for message in client.iter_messages(state["session"])]
            assert roles == ["user", "assistant"], roles
            return "user, assistant (oldest first)"

        def context() -> str:
            found = client.get_context(state["session"], max_tokens=4000)
            assert found.tokens == 12, found.tokens
            return f"{len(found.messages)} messages, {found.tokens} tokens"

        def summary() -> str:
            counted = client.get_session_summary(state["session"])
            assert counted.message_count == 2, counted.message_count
            return f"message_count {counted.message_count}, total_tokens {counted.total_tokens}"

        def delete() -> str:
            client.delete_session(state["session"])
            state.pop("session")
            return "deleted for good"

        steps: list[tuple[str, Callable[[], str]]] = [
            ("GET /health", health),
            ("GET /health/detailed", ready),
            ("POST /api/v1/sessions", create),
            ("POST .../messages (x2)", append),
            ("GET .../messages", listing),
            ("GET .../context", context),
            ("GET .../summary", summary),
            ("DELETE .../sessions/{id}?permanent=true", delete),
        ]
        print(f"smoke test of {url}", file=out)
        try:
            for name, step in steps:
                started = time.perf_counter()
                try:
                    said = step()
                except (SessionServiceError, AssertionError, OSError) as exc:
                    print(f"FAIL {name}: {type(exc).__name__}: {exc}", file=out)
                    return False
                print(f"ok   {name:<44} {(time.perf_counter() - started) * 1000:7.0f} ms  {said}", file=out)
        finally:
            if "session" in state:  # a failed step leaves no session behind
                with contextlib.suppress(SessionServiceError):
                    client.delete_session(state["session"])
    print("smoke test passed", file=out)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devserver.smoke", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("url", help="the API's base URL (the stack's ApiUrl output, or http://127.0.0.1:8205)")
    parser.add_argument(
        "--token",
        default=os.environ.get("TOKEN") or None,
        help="a Cognito ID token when the authorizer is on (default: TOKEN)",
    )
    args = parser.parse_args(argv)
    return 0 if run(args.url, args.token) else 1


if __name__ == "__main__":
    sys.exit(main())
