"""Review of the erasure over HTTP: after the 202, every route of the user's data answers as if nothing existed
(SPEC section 9: "gone for every reader at once ... 404 for each session"), writes included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SESSIONS = "/api/v1/sessions"


def test_after_the_202_every_read_route_answers_as_for_nothing(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    sid = new_session(title="private")["session_id"]
    query = {"user_id": user}
    body = {"role": "user", "content": "remember me?", "provider": "p", "model": "m", "tokens_used": 3}
    status, message, _ = api("POST", f"{SESSIONS}/{sid}/messages", query=query, json_body=body)
    assert status == 201
    assert api("DELETE", f"/api/v1/users/{user}", query=query)[0] == 202

    assert api("GET", f"{SESSIONS}/{sid}/messages/{message['message_id']}", query=query)[0] == 404
    for status_filter in ("active", "ended"):
        page = api("GET", f"/api/v1/users/{user}/sessions", query={"status": status_filter})[1]
        assert (page["sessions"], page["total"]) == ([], 0)
    usage = api("GET", f"/api/v1/users/{user}/usage", query=query)[1]
    assert (usage["sessions"], usage["messages"], usage["by_model"]) == (0, 0, [])
    status, text, headers = api("GET", f"/api/v1/users/{user}/export", query=query)
    assert (status, text, headers.get("Next-Token")) == (200, "", None)


def test_after_the_202_writes_that_read_first_are_404_and_appends_are_never_readable(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    sid = new_session(title="private")["session_id"]
    query = {"user_id": user}
    status, message, _ = api(
        "POST", f"{SESSIONS}/{sid}/messages", query=query, json_body={"role": "user", "content": "a"}
    )
    assert status == 201
    assert api("DELETE", f"/api/v1/users/{user}", query=query)[0] == 202
    answers = {
        "append": api("POST", f"{SESSIONS}/{sid}/messages", query=query, json_body={"role": "user", "content": "b"})[0],
        "memory": api(
            "POST", f"{SESSIONS}/{sid}/memory", query=query, json_body={"memory_type": "custom", "content": "c"}
        )[0],
        "patch": api(
            "PATCH", f"{SESSIONS}/{sid}/messages/{message['message_id']}", query=query, json_body={"content": "d"}
        )[0],
        "put": api("PUT", f"{SESSIONS}/{sid}", query=query, json_body={"title": "e"})[0],
    }
    # A PATCH and a PUT read the session first: 404. An append or a memory record writes without reading (see
    # README, Erasure): accepted, never readable, erased with the rest by the stream function.
    assert answers == {"append": 201, "memory": 201, "patch": 404, "put": 404}
    for suffix in ("", "/messages", "/memory", "/context"):
        assert api("GET", f"{SESSIONS}/{sid}{suffix}", query=query)[0] == 404
