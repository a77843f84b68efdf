"""A pytest plugin for the OpenAI Agents SDK's own session tests (``tests/memory/test_session.py`` and
``test_session_limit.py`` of the ``openai-agents`` sdist, run unchanged from the sdist's root): every test
module's ``SQLiteSession`` becomes :class:`~session_service_client.openai_agents.SessionServiceSession` on the
server at ``$SESSION_SERVICE_URL``, in a fresh namespace per test (the suites reuse ids such as ``"s1"``).

The tests below exercise ``SQLiteSession``'s own machinery (its connections, worker threads, file lock,
rollback, corrupt-row handling), not the ``Session`` protocol: they are deselected, each with its reason.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from session_service_client.openai_agents import SessionServiceSession

_CONNECTIONS = "tests SQLiteSession's per-thread sqlite3 connections"
_CORRUPT = "writes corrupt rows straight into SQLite's table, then reads around them"
_LOCKS = "tests SQLiteSession's write lock and SQLite transaction rollback"
EXCLUDED: dict[str, str] = {
    "test_await_mutation_cancellation_hides_later_failure_without_loop_error": (
        "tests the private helper sqlite_session._await_mutation"
    ),
    "test_sqlite_session_close_closes_worker_thread_connections": _CONNECTIONS,
    "test_sqlite_session_reaps_connections_from_exited_worker_threads": _CONNECTIONS,
    "test_sqlite_session_closes_retired_connections_before_the_next_allocation": _CONNECTIONS,
    "test_sqlite_session_keeps_connections_of_live_worker_threads": _CONNECTIONS,
    "test_sqlite_session_closed_rejects_empty_add_items": "tests SQLiteSession's closed state (RuntimeError)",
    "test_sqlite_session_pop_item_skips_corrupt_most_recent": _CORRUPT,
    "test_sqlite_session_pop_item_returns_none_after_dropping_only_corrupt_rows": _CORRUPT,
    "test_sqlite_session_get_items_limit_skips_corrupt_newest_rows": _CORRUPT,
    "test_sqlite_session_get_items_session_settings_limit_skips_corrupt_rows": _CORRUPT,
    "test_sqlite_session_file_lock_is_shared_across_instances": "tests SQLiteSession's file lock on db_path",
    "test_sqlite_session_failed_add_items_releases_write_lock": _LOCKS,
    "test_sqlite_session_failed_clear_session_rolls_back": _LOCKS,
    "test_sqlite_session_failed_pop_item_releases_write_lock": _LOCKS,
    "test_sqlite_session_rollback_failure_evicts_connection": _LOCKS,
    "test_sqlite_session_close_retries_quarantined_connection": _CONNECTIONS,
    "test_sqlite_session_post_commit_cancellation_propagates_after_known_outcome": (
        "patches sqlite3 commits to cancel after them"
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        name = getattr(item, "originalname", item.name)
        (dropped if name in EXCLUDED else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header() -> list[str]:
    return [f"SQLiteSession -> SessionServiceSession at {os.environ.get('SESSION_SERVICE_URL')}"] + [
        f"deselected {name}: {reason}" for name, reason in EXCLUDED.items()
    ]


@pytest.fixture(autouse=True)
def _swap(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    # request.module, not an import: importlib may hand back another module object, and the tests would then
    # run on SQLite unnoticed.
    if not hasattr(request.module, "SQLiteSession"):
        return
    url, ns = os.environ["SESSION_SERVICE_URL"], "t-" + uuid.uuid4().hex[:12]

    def factory(session_id: str, db_path: Any = ":memory:", *args: Any, session_settings: Any = None, **kw: Any):
        return SessionServiceSession(
            session_id, base_url=url, user_id="oa-user", namespace=ns, session_settings=session_settings
        )

    monkeypatch.setattr(request.module, "SQLiteSession", factory)
