"""SPEC section 9: erasure of a user over HTTP. After the 202 every route of the user's data answers as if
nothing existed ("gone for every reader at once ... 404 for each session"), writes included. The erasure's
background work (the stream function's passes and clean-ups) is tested in ``tests/stream`` and on DynamoDB Local
(``tests/integration``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SESSIONS = "/api/v1/sessions"
ERASING = {"status": "erasing"}


def test_after_an_erasure_is_accepted_the_users_data_is_gone_for_every_reader(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    sid = new_session(title="private")["session_id"]
    message = {"role": "user", "content": "remember me?"}
    assert api("POST", f"{SESSIONS}/{sid}/messages", query={"user_id": user}, json_body=message)[0] == 201
    other = new_session(user_id=f"{user}-other")["session_id"]
    assert api("GET", f"/api/v1/users/{user}/erasure", query={"user_id": user})[0] == 404

    status, body, _ = api("DELETE", f"/api/v1/users/{user}", query={"user_id": user})
    assert (status, body) == (202, ERASING)

    query = {"user_id": user}
    for suffix in ("", "/messages", "/memory", "/summary", "/context"):
        assert api("GET", f"{SESSIONS}/{sid}{suffix}", query=query)[:2] == (404, {"detail": "Session not found"})
    assert api("HEAD", f"{SESSIONS}/{sid}", query=query)[0] == 404
    page = api("GET", f"/api/v1/users/{user}/sessions")[1]
    assert (page["sessions"], page["total"]) == ([], 0)
    status, body, _ = api("POST", SESSIONS, json_body={"user_id": user, "title": "new"})
    assert status == 409 and "erased" in body["detail"]
    status, body, _ = api("POST", f"{SESSIONS}:batch", query=query, json_body={"sessions": [{"user_id": user}]})
    assert status == 409 and "erased" in body["detail"]
    assert api("GET", f"/api/v1/users/{user}/erasure", query=query)[:2] == (
        200,
        {"user_id": user, "status": "erasing", "items_deleted": 0},
    )
    # Asked again while it runs: the same erasure
    assert api("DELETE", f"/api/v1/users/{user}", query=query)[:2] == (202, ERASING)
    # Other users keep everything
    assert api("GET", f"{SESSIONS}/{other}", query={"user_id": f"{user}-other"})[0] == 200


def test_an_erasure_without_user_id_takes_the_paths_user(api: Any, user: str) -> None:
    assert api("DELETE", f"/api/v1/users/{user}")[:2] == (202, ERASING)
    assert api("GET", f"/api/v1/users/{user}/erasure")[1]["status"] == "erasing"


def test_a_malformed_user_id_is_422(api: Any) -> None:
    assert api("DELETE", "/api/v1/users/a%20b")[0] == 422
    assert api("GET", "/api/v1/users/a%20b/erasure")[0] == 422


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
