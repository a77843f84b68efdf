"""SPEC section 9: erasure of a user over HTTP. The erasure's background work (the stream function's passes
and clean-ups) is tested in ``tests/stream`` and on DynamoDB Local (``tests/integration``)."""

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
