"""A session id deleted and created again (by its owner or by another user) starts with empty state documents and
no agents: the documents the older session left (until the stream function removes them) are never shown,
changed nor counted as the new session's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

OLD = {"user_id": "state_old_owner"}
NEW = {"user_id": "state_new_owner"}


@pytest.fixture
def base(api: Any, new_session: Callable[..., dict[str, Any]]) -> str:
    sid = str(uuid.uuid4())
    base = f"/api/v1/sessions/{sid}"
    # Given a session whose documents hold its owner's secrets, deleted for good before the stream ran
    new_session(OLD["user_id"], session_id=sid)
    assert api("PATCH", f"{base}/state", query=OLD, json_body={"set": {"secret": "old"}})[0] == 200
    assert api("PUT", f"{base}/agents/a1", query=OLD, json_body={"state": {"secret": "old-agent"}})[0] == 201
    assert api("POST", "/api/v1/sessions:batchDelete", query=OLD, json_body={"session_ids": [sid]})[0] == 200
    # When another user creates a session with the same id
    new_session(NEW["user_id"], session_id=sid)
    return base


def test_a_change_of_the_session_document_starts_from_an_empty_document(api: Any, base: str, etag_of: Any) -> None:
    status, body, headers = api("PATCH", f"{base}/state", query=NEW, json_body={"set": {"x": 1}})
    session = api("GET", base, query=NEW)[1]
    assert status == 200 and body["state"] == {"x": 1} and body["version"] == 1
    assert headers["ETag"] == etag_of(1, session)
    assert api("GET", f"{base}/state", query=NEW)[1]["state"] == {"x": 1}


def test_if_match_zero_holds_for_the_new_session_document(api: Any, base: str, etag_of: Any) -> None:
    never = {"If-Match": etag_of(0, api("GET", base, query=NEW)[1])}
    status, body, _ = api("PATCH", f"{base}/state", query=NEW, json_body={"set": {"x": 1}}, headers=never)
    assert status == 200 and body["state"] == {"x": 1} and body["version"] == 1


def test_an_older_sessions_agent_is_not_the_new_sessions(api: Any, base: str) -> None:
    assert api("GET", f"{base}/agents/a1", query=NEW)[0] == 404
    assert api("PATCH", f"{base}/agents/a1", query=NEW, json_body={"set": {"y": 1}})[0] == 404
    status, body, _ = api("PUT", f"{base}/agents/a1", query=NEW, json_body={"state": {"mine": True}})
    assert status == 201 and body["state"] == {"mine": True} and body["version"] == 1 and body["message_count"] == 0
    status, body, _ = api("PATCH", f"{base}/agents/a1", query=NEW, json_body={"set": {"y": 1}})
    assert status == 200 and body["state"] == {"mine": True, "y": 1} and body["version"] == 2
