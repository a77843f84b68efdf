"""Issue 18, defect 5: a PUT or an end (DELETE without ``permanent``) during an erasure is refused before it writes
(404, as GET answers), so no failed request wrote and no two answers contradict each other."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

SESSIONS = "/api/v1/sessions"


def _hot(table_items: Callable[[], list[dict[str, Any]]], sid: str) -> dict[str, Any]:
    return next(i for i in table_items() if i["PK"]["S"] == f"SESSION#{sid}" and i["SK"]["S"] == "SESSION")


def test_a_put_during_an_erasure_is_404_and_writes_nothing(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, table_items: Callable[[], list[dict[str, Any]]]
) -> None:
    sid = new_session(title="private")["session_id"]
    query = {"user_id": user}
    assert api("DELETE", f"/api/v1/users/{user}", query=query)[0] == 202
    before = table_items()
    for body in ({"title": "changed"}, {"metadata": {"a": 1}}, {"status": "completed"}, {"status": "active"}):
        assert api("PUT", f"{SESSIONS}/{sid}", query=query, json_body=body)[:2] == (
            404,
            {"detail": "Session not found"},
        ), body
    assert table_items() == before
    assert json.dumps(_hot(table_items, sid)["title"]) == json.dumps({"S": "private"})
    assert api("GET", f"{SESSIONS}/{sid}", query=query)[0] == 404


def test_an_end_during_an_erasure_is_404_like_get_and_writes_nothing(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, table_items: Callable[[], list[dict[str, Any]]]
) -> None:
    sid = new_session()["session_id"]
    ended = new_session()["session_id"]
    query = {"user_id": user}
    assert api("DELETE", f"{SESSIONS}/{ended}", query=query)[0] == 200
    assert api("DELETE", f"/api/v1/users/{user}", query=query)[0] == 202
    before = table_items()
    for target in (sid, ended):  # an active session, and one ended already (the no-op path)
        assert api("DELETE", f"{SESSIONS}/{target}", query=query)[:2] == (404, {"detail": "Session not found"})
        assert api("GET", f"{SESSIONS}/{target}", query=query)[0] == 404
    assert table_items() == before
    assert _hot(table_items, sid)["status"] == {"S": "active"}
