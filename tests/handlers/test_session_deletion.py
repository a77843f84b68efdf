"""SPEC section 9 (first part): permanent delete, HEAD, batch create and batch delete of sessions.

A permanent delete is gone for every reader the moment the request returns (the stream function removes
its items later: ``tests/stream``); batches are all or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from session_service.models import MAX_BATCH_SESSIONS

SESSIONS = "/api/v1/sessions"
DELETED = {"message": "Session deleted permanently"}
NOT_FOUND = {"detail": "Session not found"}


def _url(sid: str, suffix: str = "") -> str:
    return f"{SESSIONS}/{sid}{suffix}"


@pytest.fixture
def chatty(api: Any, new_session: Callable[..., dict[str, Any]], user: str) -> str:
    """A session of ``user`` with two messages and a memory record; returns its id."""
    sid = str(new_session(title="to forget")["session_id"])
    body = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    assert api("POST", _url(sid, "/messages:batch"), query={"user_id": user}, json_body=body)[0] == 201
    memory = {"memory_type": "entity", "content": "a secret"}
    assert api("POST", _url(sid, "/memory"), query={"user_id": user}, json_body=memory)[0] == 201
    return sid


# -- DELETE ?permanent=true ----------------------------------------------------------------------------------


def test_after_a_permanent_delete_every_reader_finds_nothing_at_once(
    api: Any, chatty: str, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    kept = new_session()["session_id"]
    query = {"user_id": user}
    assert api("GET", f"/api/v1/users/{user}/sessions")[1]["total"] == 2
    status, body, _ = api("DELETE", _url(chatty), query={**query, "permanent": True})
    assert (status, body) == (200, DELETED)
    assert api("GET", _url(chatty), query=query)[:2] == (404, NOT_FOUND)
    assert api("HEAD", _url(chatty), query=query)[0] == 404
    for suffix in ("/messages", "/memory", "/summary", "/context"):
        assert api("GET", _url(chatty, suffix), query=query)[:2] == (404, NOT_FOUND), suffix
    page = api("GET", f"/api/v1/users/{user}/sessions")[1]
    assert [row["session_id"] for row in page["sessions"]] == [kept] and page["total"] == 1
    active = api("GET", f"/api/v1/users/{user}/sessions", query={"active_only": True})[1]
    assert [row["session_id"] for row in active["sessions"]] == [kept] and active["total"] == 1
    # Nothing more can be written to it, and deleting it again finds nothing.
    message = {"role": "user", "content": "anyone?"}
    assert api("POST", _url(chatty, "/messages"), query=query, json_body=message)[0] == 404
    assert api("PUT", _url(chatty), query=query, json_body={"title": "back"})[0] == 404
    assert api("DELETE", _url(chatty), query={**query, "permanent": True})[:2] == (404, NOT_FOUND)
    assert api("DELETE", _url(chatty), query=query)[:2] == (404, NOT_FOUND)


def test_a_permanent_delete_of_an_ended_session_drops_its_status_count(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    sid = new_session()["session_id"]
    assert api("DELETE", _url(sid), query={"user_id": user})[0] == 200  # ended
    page = api("GET", f"/api/v1/users/{user}/sessions", query={"status": "ended"})[1]
    assert page["total"] == 1
    assert api("DELETE", _url(sid), query={"user_id": user, "permanent": "true"})[:2] == (200, DELETED)
    assert api("GET", f"/api/v1/users/{user}/sessions", query={"status": "ended"})[1]["total"] == 0
    assert api("GET", f"/api/v1/users/{user}/sessions")[1]["total"] == 0


def test_without_permanent_delete_still_ends(api: Any, new_session: Callable[..., dict[str, Any]], user: str) -> None:
    for permanent in (None, False):
        sid = new_session()["session_id"]
        query = {"user_id": user, "permanent": permanent}
        assert api("DELETE", _url(sid), query=query)[:2] == (200, {"message": "Session ended successfully"})
        status, session, _ = api("GET", _url(sid), query={"user_id": user})
        assert (status, session["status"]) == (200, "ended")


def test_a_permanent_delete_honours_if_match(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, etag_of: Any
) -> None:
    session = new_session()
    sid, query = session["session_id"], {"user_id": user, "permanent": True}
    assert api("DELETE", _url(sid), query=query, headers={"If-Match": etag_of(7, session)})[0] == 412
    assert api("HEAD", _url(sid), query={"user_id": user})[0] == 200
    assert api("DELETE", _url(sid), query=query, headers={"If-Match": etag_of(1, session)})[:2] == (200, DELETED)


def test_another_users_session_is_not_deleted(
    api: Any, chatty: str, other_user: str, user: str, table_items: Callable[[], list[dict[str, Any]]]
) -> None:
    before = table_items()
    assert api("DELETE", _url(chatty), query={"user_id": other_user, "permanent": True})[:2] == (404, NOT_FOUND)
    assert api("HEAD", _url(chatty), query={"user_id": other_user})[0] == 404
    assert table_items() == before
    assert api("HEAD", _url(chatty), query={"user_id": user})[0] == 200


def test_a_deleted_id_can_be_created_again_as_a_new_empty_session(
    api: Any, chatty: str, other_user: str, user: str
) -> None:
    assert api("DELETE", _url(chatty), query={"user_id": user, "permanent": True})[0] == 200
    status, session, _ = api("POST", SESSIONS, json_body={"user_id": other_user, "session_id": chatty})
    assert (status, session["message_count"]) == (201, 0)
    assert api("GET", _url(chatty, "/messages"), query={"user_id": other_user})[1]["messages"] == []
    assert api("GET", f"/api/v1/users/{user}/sessions")[1]["total"] == 0  # not counted twice
    assert api("GET", f"/api/v1/users/{other_user}/sessions")[1]["total"] == 1


# -- HEAD --------------------------------------------------------------------------------------------------


def test_head_answers_200_or_404_without_a_body(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str
) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("HEAD", _url(sid), query={"user_id": user})
    assert (status, body) == (200, None)
    assert api("HEAD", _url(str(uuid.uuid4())), query={"user_id": user})[0] == 404
    assert api("HEAD", _url("not-an-id"), query={"user_id": user})[0] == 404
    assert api("HEAD", _url(sid))[0] == 422  # no caller


def test_head_of_an_expired_session_is_404(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, advance_clock: Callable[[float], None]
) -> None:
    sid = new_session(ttl_seconds=60)["session_id"]
    advance_clock(61)
    assert api("HEAD", _url(sid), query={"user_id": user})[0] == 404


# -- batch create -------------------------------------------------------------------------------------------


def _batch(user: str, *ids: str | None, **fields: Any) -> dict[str, Any]:
    return {"sessions": [{"user_id": user, **({"session_id": i} if i else {}), **fields} for i in ids]}


def test_a_batch_creates_every_session_in_order(api: Any, user: str) -> None:
    chosen = str(uuid.uuid4())
    body = _batch(user, None, chosen, None, title="imported")
    status, answer, _ = api("POST", f"{SESSIONS}:batch", query={"user_id": user}, json_body=body)
    assert status == 201
    assert [s["title"] for s in answer["sessions"]] == ["imported"] * 3
    assert answer["sessions"][1]["session_id"] == chosen
    for session in answer["sessions"]:
        status, stored, _ = api("GET", _url(session["session_id"]), query={"user_id": user})
        assert status == 200 and stored == session
    assert api("GET", f"/api/v1/users/{user}/sessions")[1]["total"] == 3


def test_a_batch_is_all_or_nothing(
    api: Any,
    new_session: Callable[..., dict[str, Any]],
    user: str,
    other_user: str,
    table_items: Callable[[], list[dict[str, Any]]],
    assert_validation_error: Callable[..., None],
) -> None:
    mine, theirs = new_session()["session_id"], new_session(other_user)["session_id"]
    before = table_items()
    fresh = str(uuid.uuid4())
    send = lambda body: api("POST", f"{SESSIONS}:batch", query={"user_id": user}, json_body=body)  # noqa: E731
    # An id in use, the caller's own or another user's: 409 for the whole batch.
    for taken in (mine, theirs):
        status, answer, _ = send(_batch(user, fresh, taken))
        assert (status, answer) == (409, {"detail": "Session id already exists"})
        assert table_items() == before
    # One invalid body, a repeated id, another user's body, too many or none: 422, nothing written.
    bad = [
        {"sessions": [{"user_id": user}, {"user_id": user, "title": 5}]},
        _batch(user, fresh, fresh),
        {"sessions": [{"user_id": user}, {"user_id": other_user}]},
        _batch(user, *[None] * (MAX_BATCH_SESSIONS + 1)),
        {"sessions": []},
        {"sessions": [{"user_id": user}], "extra": 1},
    ]
    for body in bad:
        status, answer, _ = send(body)
        assert_validation_error(status, answer, str(body)[:80])
        assert table_items() == before
    assert send(_batch(user, *[None] * MAX_BATCH_SESSIONS))[0] == 201


def test_a_batch_retried_with_its_idempotency_key_creates_once(api: Any, user: str) -> None:
    headers = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    body = _batch(user, None, None)
    first = api("POST", f"{SESSIONS}:batch", query={"user_id": user}, json_body=body, headers=headers)
    again = api("POST", f"{SESSIONS}:batch", query={"user_id": user}, json_body=body, headers=headers)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert api("GET", f"/api/v1/users/{user}/sessions")[1]["total"] == 2


def test_a_batch_takes_over_a_deleted_id(api: Any, chatty: str, user: str) -> None:
    assert api("DELETE", _url(chatty), query={"user_id": user, "permanent": True})[0] == 200
    status, answer, _ = api("POST", f"{SESSIONS}:batch", query={"user_id": user}, json_body=_batch(user, chatty))
    assert status == 201 and answer["sessions"][0]["message_count"] == 0
    assert api("GET", f"/api/v1/users/{user}/sessions")[1]["total"] == 1


# -- batch delete -------------------------------------------------------------------------------------------


def test_a_batch_delete_removes_every_named_session(
    api: Any, new_session: Callable[..., dict[str, Any]], user: str, chatty: str
) -> None:
    ids = [chatty, *(new_session()["session_id"] for _ in range(2))]
    kept = new_session()["session_id"]
    body = {"session_ids": ids}
    assert api("POST", f"{SESSIONS}:batchDelete", query={"user_id": user}, json_body=body)[:2] == (200, {"deleted": 3})
    for sid in ids:
        assert api("HEAD", _url(sid), query={"user_id": user})[0] == 404
    page = api("GET", f"/api/v1/users/{user}/sessions")[1]
    assert [row["session_id"] for row in page["sessions"]] == [kept] and page["total"] == 1


def test_a_batch_delete_is_all_or_nothing(
    api: Any,
    new_session: Callable[..., dict[str, Any]],
    user: str,
    other_user: str,
    table_items: Callable[[], list[dict[str, Any]]],
    assert_validation_error: Callable[..., None],
) -> None:
    mine, theirs = new_session()["session_id"], new_session(other_user)["session_id"]
    before = table_items()
    send = lambda body: api("POST", f"{SESSIONS}:batchDelete", query={"user_id": user}, json_body=body)  # noqa: E731
    for stranger in (theirs, str(uuid.uuid4())):
        assert send({"session_ids": [mine, stranger]})[:2] == (404, NOT_FOUND)
        assert table_items() == before
    for body in ({"session_ids": [mine, mine]}, {"session_ids": []}, {"session_ids": ["x"] * 26}, {"ids": [mine]}):
        status, answer, _ = send(body)
        assert_validation_error(status, answer, str(body)[:80])
        assert table_items() == before
    assert api("HEAD", _url(mine), query={"user_id": user})[0] == 200
