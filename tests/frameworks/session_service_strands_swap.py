"""A pytest plugin for Strands Agents' own session-manager tests (``tests/strands/session/
test_repository_session_manager.py`` of the ``strands-agents`` sdist, with its fixture module
``tests/fixtures/mock_session_repository.py``, run unchanged from the sdist's root): the module's
``MockedSessionRepository`` becomes :class:`~session_service_client.strands.SessionServiceRepository` on the
server at ``$SESSION_SERVICE_URL``, for a user of its own per test (the tests reuse ids such as
``"test-session"``). The class, not a factory: a test calls ``MockedSessionRepository.update_agent`` unbound.

A test that put objects into an agent's state that no store serializing it can keep (a ``Mock`` standing in for
a conversation manager's state, as earlier versions of the module did) would be listed in :data:`EXCLUDED`
with its reason and deselected; at 1.62.0 none does, and all 51 tests run.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from session_service_client.strands import SessionServiceRepository

EXCLUDED: dict[str, str] = {}
"""Tests (by name) that need non-serializable agent state, and why."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        name = getattr(item, "originalname", item.name)
        (dropped if name in EXCLUDED else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header() -> list[str]:
    return [f"MockedSessionRepository -> SessionServiceRepository at {os.environ.get('SESSION_SERVICE_URL')}"] + [
        f"deselected {name}: {reason}" for name, reason in EXCLUDED.items()
    ]


@pytest.fixture(autouse=True)
def _swap(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    # request.module, not an import: the test module holds its own reference to the fixture's class.
    if not hasattr(request.module, "MockedSessionRepository"):
        return
    url, user = os.environ["SESSION_SERVICE_URL"], f"strands-{uuid.uuid4().hex[:12]}"

    class Swapped(SessionServiceRepository):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(base_url=url, user_id=user)

    monkeypatch.setattr(request.module, "MockedSessionRepository", Swapped)
