"""The Claude Agent SDK's shipped conformance suite for session stores, every optional contract included, on
:class:`SessionServiceSessionStore` and (the control) the SDK's ``InMemorySessionStore``."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from claude_agent_sdk import InMemorySessionStore
from claude_agent_sdk.testing import run_session_store_conformance
from session_service_client.claude import SessionServiceSessionStore


def test_the_sdks_conformance_suite_passes_on_the_control() -> None:
    asyncio.run(run_session_store_conformance(InMemorySessionStore, skip_optional=frozenset()))


@pytest.mark.parametrize("kind", ["base_url", "sync client"])
def test_the_sdks_conformance_suite_passes_on_the_store(base_url: str, user: str, kind: str) -> None:
    # A fresh namespace per store: the suite runs its contracts on fixed keys.
    from session_service_client import SessionServiceClient

    shared = SessionServiceClient(base_url, user_id=user) if kind == "sync client" else None

    def make_store() -> SessionServiceSessionStore:
        namespace = "t-" + uuid.uuid4().hex[:12]
        if shared is not None:
            return SessionServiceSessionStore(client=shared, user_id=user, namespace=namespace)
        return SessionServiceSessionStore(base_url=base_url, user_id=user, namespace=namespace)

    try:
        asyncio.run(run_session_store_conformance(make_store, skip_optional=frozenset()))
    finally:
        if shared is not None:
            shared.close()


def test_every_optional_method_is_defined_on_the_store() -> None:
    for name in ("list_sessions", "list_session_summaries", "delete", "list_subkeys"):
        assert name in vars(SessionServiceSessionStore), name
