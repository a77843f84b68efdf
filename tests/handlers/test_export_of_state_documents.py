"""A user's export holds the user's state documents and each exported session's: a ``user_state`` line per
namespace document of the user (as ``GET /users/{u}/state`` answers it), first; after each session's line, a
``session_state`` line per document of the session (its agents', then its own: as ``GET .../agents/{id}`` and
``GET .../state`` answer them). A namespace's document is not the user's and is not exported. Every line once,
whatever the page size."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.fresh_table

SESSIONS = "/api/v1/sessions"


def _pages(api: Any, user: str, **query: Any) -> list[dict[str, Any]]:
    lines, token = [], None
    for _ in range(200):
        status, body, headers = api("GET", f"/api/v1/users/{user}/export", query={**query, "next_token": token})
        assert status == 200, body
        lines += [json.loads(line) for line in body.splitlines()]
        token = headers.get("Next-Token")
        if token is None:
            return lines
    raise AssertionError("the export never ended")


def _given_state_in_every_scope(api: Any, new_session: Callable[..., dict[str, Any]], user: str) -> list[str]:
    query = {"user_id": user}
    with_state = new_session(namespace="ns-a")["session_id"]
    plain = new_session()["session_id"]
    assert api("PATCH", f"/api/v1/users/{user}/state", query=query, json_body={"set": {"lang": "en"}})[0] == 200
    body = {"set": {"theme": "dark"}}
    assert api("PATCH", f"/api/v1/users/{user}/state", query={**query, "namespace": "ns-a"}, json_body=body)[0] == 200
    assert api("PATCH", "/api/v1/namespaces/ns-a/state", json_body={"set": {"shared": 1}})[0] == 200
    assert api("PATCH", f"{SESSIONS}/{with_state}/state", query=query, json_body={"set": {"step": 2}})[0] == 200
    agent = {"state": {"plan": ["a", "b"]}}
    assert api("PUT", f"{SESSIONS}/{with_state}/agents/planner", query=query, json_body=agent)[0] in (200, 201)
    message = {"role": "user", "content": "hi", "agent_id": "planner"}
    assert api("POST", f"{SESSIONS}/{with_state}/messages", query=query, json_body=message)[0] == 201
    return sorted([with_state, plain])


def _expected(api: Any, user: str, session_ids: list[str]) -> list[dict[str, Any]]:
    query = {"user_id": user}
    lines = [
        {"type": "user_state", **api("GET", f"/api/v1/users/{user}/state", query={**query, **namespace})[1]}
        for namespace in ({}, {"namespace": "ns-a"})  # by sort key: no namespace's first
    ]
    for sid in session_ids:
        lines.append({"type": "session", **api("GET", f"{SESSIONS}/{sid}", query=query)[1]})
        agent = api("GET", f"{SESSIONS}/{sid}/agents/planner", query=query)
        if agent[0] == 200:
            lines.append({"type": "session_state", **agent[1]})
        own = api("GET", f"{SESSIONS}/{sid}/state", query=query)[1]
        if own["version"]:
            lines.append({"type": "session_state", **own})
        listing = api("GET", f"{SESSIONS}/{sid}/messages", query=query)[1]
        lines += [{"type": "message", **message} for message in listing["messages"]]
    return lines


def test_the_export_holds_the_users_and_the_sessions_state_documents(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    session_ids = _given_state_in_every_scope(api, new_session, user)
    lines = _pages(api, user)
    assert lines == _expected(api, user, session_ids)
    assert not any(line.get("scope") == "namespace" for line in lines)


@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_every_state_line_once_whatever_the_page_size(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, page_size: int
) -> None:
    session_ids = _given_state_in_every_scope(api, new_session, user)
    assert _pages(api, user, page_size=page_size) == _expected(api, user, session_ids)


def test_a_user_without_state_documents_exports_no_state_line(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    new_session(namespace="ns-a")
    assert [line["type"] for line in _pages(api, user)] == ["session"]
