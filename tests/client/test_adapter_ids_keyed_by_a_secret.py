"""The ids adapters derive: without a key, uuid5 of public names (stable forever: stored conversations are found
by them); with ``SESSION_SERVICE_ID_KEY`` set, an HMAC of the same names under that secret, so a user who calls
the service directly cannot compute (and take first) the id of another user's framework session."""

from __future__ import annotations

import uuid

import pytest
from session_service_client import SessionServiceClient
from session_service_client._adapters import ID_KEY_VARIABLE, service_id


def test_without_a_key_the_id_is_uuid5_of_the_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ID_KEY_VARIABLE, raising=False)
    first = service_id("adk", "ns", "alice", "app", "order-42")
    assert first == service_id("adk", "ns", "alice", "app", "order-42")
    assert uuid.UUID(first).version == 5
    # the derivation every stored conversation was written with: pinned, or stored sessions are lost to their ids
    assert first == "a0e871e5-2229-5797-bf76-3be008883357"


def test_a_key_makes_ids_no_one_else_can_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ID_KEY_VARIABLE, raising=False)
    public = service_id("adk", "ns", "alice", "app", "order-42")
    monkeypatch.setenv(ID_KEY_VARIABLE, "backend secret")
    keyed = service_id("adk", "ns", "alice", "app", "order-42")
    assert keyed != public and keyed == service_id("adk", "ns", "alice", "app", "order-42")
    assert uuid.UUID(keyed).version == 8 and uuid.UUID(keyed).variant == uuid.RFC_4122
    assert keyed != service_id("adk", "ns", "bob", "app", "order-42")
    monkeypatch.setenv(ID_KEY_VARIABLE, "another secret")
    assert service_id("adk", "ns", "alice", "app", "order-42") != keyed


def test_the_service_takes_a_keyed_id(base_url: str, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ID_KEY_VARIABLE, "backend secret")
    sid = service_id("openai-agents", None, user, "conversation")
    with SessionServiceClient(base_url, user_id=user) as client:
        assert client.create_session(session_id=sid).session_id == sid
