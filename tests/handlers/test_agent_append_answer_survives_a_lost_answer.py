"""An agent's append sent with an Idempotency-Key, whose transaction DynamoDB applied but whose answer was lost,
answers its retry as the first attempt would have: the message with its agent and its position, as stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.handlers.conftest import LoseOnce

USER = "lost_agent_user"
Q = {"user_id": USER}


@pytest.mark.parametrize("route", ["messages", "messages:batch"])
def test_a_retried_agent_append_answers_its_position(api: Any, lose: LoseOnce, route: str) -> None:
    sid = api("POST", "/api/v1/sessions", json_body={"user_id": USER})[1]["session_id"]
    path = f"/api/v1/sessions/{sid}/{route}"
    first = {"role": "user", "content": "first", "agent_id": "a1"}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query=Q, json_body=first)[0] == 201
    turn = {"role": "assistant", "content": "second", "agent_id": "a1", "data": {"k": [1]}}
    body = {"messages": [turn]} if route.endswith("batch") else turn
    headers = {"Idempotency-Key": f"lost-agent-{route}"}
    lose.armed = True
    assert api("POST", path, query=Q, json_body=body, headers=headers)[0] == 503
    status, answer, _ = api("POST", path, query=Q, json_body=body, headers=headers)
    assert status == 201, answer
    retried = answer["messages"][0] if route.endswith("batch") else answer
    stored = api("GET", f"/api/v1/sessions/{sid}/agents/a1/messages/1", query=Q)[1]
    assert retried == stored
    assert (retried["agent_id"], retried["position"], retried["data"]) == ("a1", 1, {"k": [1]})
