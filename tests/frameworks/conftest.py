"""The frameworks tier: the adapters of ``session_service_client`` (OpenAI Agents SDK, LangChain, Claude Agent
SDK, AWS Strands Agents, Google ADK) under the frameworks' own tests and ours, against ``make serve``'s stack on
Amazon DynamoDB Local (a server of the tier's own, like the client tier's).

The frameworks live in ``.venv-frameworks`` (``make test-frameworks`` makes it: docs/frameworks.md), not in the
dev venv: where they cannot be imported this folder is not collected.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from session_service_client import SessionServiceClient

FRAMEWORKS = ("agents", "langchain_core", "claude_agent_sdk", "strands", "google.adk")
URL_VARIABLE = "SESSION_SERVICE_URL"
"""Set for the framework suites run in a child process: the server they use."""

INSTALLED = all(importlib.util.find_spec(name) for name in FRAMEWORKS)
if not INSTALLED:
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # langchain-core 1.6.4 deprecated the history classes the contract is about (they still work). A conftest's
    # hook sees the whole session's items: only this tier's are marked, and only where langchain-core exists (a
    # filter naming a module that cannot be imported stops the run).
    here = Path(__file__).parent
    for item in items if INSTALLED else []:
        if here not in Path(item.path).parents:
            continue
        item.add_marker(
            pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")
        )


@pytest.fixture(scope="package")
def base_url() -> Iterator[str]:
    """The tier's server: a devserver on the shared DynamoDB Local (its own table)."""
    from tests.client.conftest import local_server

    with local_server() as (server, _, _):
        os.environ[URL_VARIABLE] = server.url
        yield server.url


@pytest.fixture
def user() -> str:
    """A user of the test's own."""
    return f"fw_user_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def namespace() -> str:
    """A namespace of the test's own."""
    return f"t-{uuid.uuid4().hex[:12]}"


class Counted:
    """The requests a test's clients sent, as ``"METHOD /path"`` (no query), in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def hook(self, request: httpx.Request) -> None:
        self.sent.append(f"{request.method} {request.url.path}")

    async def ahook(self, request: httpx.Request) -> None:
        self.hook(request)

    def take(self) -> list[str]:
        """The requests since the last ``take``."""
        sent, self.sent = self.sent, []
        return sent


@pytest.fixture
def counted() -> Counted:
    return Counted()


@pytest.fixture
def sync_client(base_url: str, user: str, counted: Counted) -> Iterator[SessionServiceClient]:
    """A synchronous client of ``user`` whose requests ``counted`` records."""
    client = SessionServiceClient(base_url, user_id=user)
    client._http.event_hooks["request"] = [counted.hook]
    yield client
    client.close()
