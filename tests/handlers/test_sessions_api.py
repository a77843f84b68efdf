"""The sessions API through its handlers (SPEC sections 3-5, issue 2)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

REFUSED_USER = "test_user_123"  # in payloads refused before anything is stored
SESSIONS = "/api/v1/sessions"
TABLE = os.environ["TABLE_NAME"]
NOT_FOUND = {"detail": "Session not found"}

NewSession = Callable[..., dict[str, Any]]


# -- create -------------------------------------------------------------------------------------------


def test_create_returns_201_with_a_server_uuid_and_the_seed_002_shape(api: Any, user: str) -> None:
    status, body, headers = api(
        "POST",
        SESSIONS,
        json_body={"user_id": user, "title": "Test Session", "metadata": {"source": "web_app", "device": "desktop"}},
    )
    assert status == 201, body
    assert str(uuid.UUID(body["session_id"])) == body["session_id"]
    assert body["user_id"] == user
    assert body["title"] == "Test Session"
    assert body["status"] == "active" and body["is_active"] is True
    assert body["metadata"] == {"source": "web_app", "device": "desktop"}
    assert body["conversation_data"] == {}
    assert (body["message_count"], body["total_tokens"], body["total_cost"]) == (0, 0, 0.0)
    assert body["session_summary"] == ""
    for field in ("created_at", "updated_at", "last_activity", "expires_at"):
        assert body[field].endswith("Z"), field
    assert headers["Content-Type"].startswith("application/json")


def test_each_create_draws_a_new_id(new_session: NewSession) -> None:
    assert new_session()["session_id"] != new_session()["session_id"]


def test_expires_at_is_last_activity_plus_ttl(new_session: NewSession) -> None:
    body = new_session(ttl_seconds=3600)
    last = datetime.fromisoformat(body["last_activity"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert 3599 <= (expires - last).total_seconds() <= 3600


def test_default_ttl_is_30_days(new_session: NewSession) -> None:
    body = new_session()
    delta = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["last_activity"])
    assert abs(delta.total_seconds() - 30 * 24 * 3600) <= 1


def test_client_chosen_id_is_created_then_ensured(api: Any, user: str) -> None:
    sid = f"user_abc123_{uuid.uuid4()}"
    status, first, _ = api("POST", SESSIONS, json_body={"user_id": user, "session_id": sid, "title": "first"})
    assert status == 201, first
    assert first["session_id"] == sid
    status, again, _ = api("POST", SESSIONS, json_body={"user_id": user, "session_id": sid, "title": "second"})
    assert status == 200, again
    assert again == first  # unchanged: seed 004's "ensure the session exists"


def test_client_chosen_id_of_another_user_is_409_and_unchanged(
    api: Any, table_items: Any, other_user: str, user: str
) -> None:
    sid = str(uuid.uuid4())
    assert api("POST", SESSIONS, json_body={"user_id": user, "session_id": sid})[0] == 201
    before = table_items()
    status, body, _ = api("POST", SESSIONS, json_body={"user_id": other_user, "session_id": sid, "title": "mine"})
    assert status == 409
    assert isinstance(body["detail"], str)
    assert table_items() == before
    assert api("GET", api.session_url(sid), query={"user_id": user})[1]["title"] == ""


def test_client_chosen_id_must_follow_seed_004(
    api: Any, assert_validation_error: Any, table_items: Any, user: str
) -> None:
    for sid in ["abc", "not-a-uuid", f"{uuid.uuid4()}x", "_" + str(uuid.uuid4()), "a b", f"a/b_{uuid.uuid4()}"]:
        status, body, _ = api("POST", SESSIONS, json_body={"user_id": user, "session_id": sid})
        assert_validation_error(status, body, sid)
        assert any(error["loc"][-1] == "session_id" for error in body["detail"]), sid
    assert table_items() == []


# -- bad input writes nothing ----------------------------------------------------------------------------


BAD_CREATES: list[tuple[str, Any]] = [
    ("missing user_id", {"title": "x"}),
    ("user_id wrong type", {"user_id": 123}),
    ("user_id bad chars", {"user_id": "a b"}),
    ("user_id too long", {"user_id": "u" * 129}),
    ("unknown field", {"user_id": REFUSED_USER, "owner": "x"}),
    ("title too long", {"user_id": REFUSED_USER, "title": "t" * 257}),
    ("title wrong type", {"user_id": REFUSED_USER, "title": ["x"]}),
    ("metadata not an object", {"user_id": REFUSED_USER, "metadata": "x"}),
    ("metadata 51 keys", {"user_id": REFUSED_USER, "metadata": {f"k{i}": i for i in range(51)}}),
    ("metadata too large", {"user_id": REFUSED_USER, "metadata": {"a": "x" * 33_000}}),
    ("conversation_data too large", {"user_id": REFUSED_USER, "conversation_data": {"a": "€" * 11_000}}),
    ("ttl too small", {"user_id": REFUSED_USER, "ttl_seconds": 1}),
    ("ttl wrong type", {"user_id": REFUSED_USER, "ttl_seconds": "60"}),
    ("body is null-ish", "text"),
]


def test_bad_create_is_422_with_detail_and_writes_nothing(api: Any, assert_all_rejected: Any, table_items: Any) -> None:
    assert_all_rejected(BAD_CREATES, lambda payload: api("POST", SESSIONS, json_body=payload)[:2])
    assert table_items() == []


def test_a_json_array_body_is_422_not_its_first_element(
    api: Any, assert_validation_error: Any, table_items: Any, user: str, other_user: str
) -> None:
    for payload in ([{"user_id": user}, {"user_id": other_user}], "just a string", 42, None):
        status, body, _ = api("POST", SESSIONS, body=json.dumps(payload))
        assert_validation_error(status, body)
    assert table_items() == []


def test_malformed_json_body_is_422_with_detail_and_writes_nothing(
    api: Any, assert_all_rejected: Any, table_items: Any
) -> None:
    raws = ["{", '{"user_id": "u1",}', "not json", '{"user_id": NaN}', '{"user_id": "u1", "metadata": {"x": NaN}}']
    assert_all_rejected([(raw, raw) for raw in raws], lambda raw: api("POST", SESSIONS, body=raw)[:2])
    assert table_items() == []


def test_empty_body_is_422(api: Any, assert_validation_error: Any, table_items: Any) -> None:
    status, body, _ = api("POST", SESSIONS, body="")
    assert_validation_error(status, body)
    assert table_items() == []


# -- get ----------------------------------------------------------------------------------------------


def test_get_returns_the_session(api: Any, new_session: NewSession, user: str) -> None:
    created = new_session(title="T", conversation_data={"turns": [1, 2]})
    status, body, _ = api("GET", api.session_url(created["session_id"]), query={"user_id": user})
    assert status == 200
    assert body == created


def test_missing_session_is_404(api: Any, user: str) -> None:
    status, body, _ = api("GET", api.session_url(str(uuid.uuid4())), query={"user_id": user})
    assert (status, body) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("GET", "", None),
        ("PUT", "", {"title": "stolen"}),
        ("DELETE", "", None),
        ("GET", "/summary", None),
    ],
)
def test_another_users_session_answers_exactly_like_a_missing_one(
    api: Any, new_session: NewSession, method: str, suffix: str, payload: Any, table_items: Any, other_user: str
) -> None:
    sid = new_session()["session_id"]
    before = table_items()
    foreign = api(method, api.session_url(sid, suffix), query={"user_id": other_user}, json_body=payload)
    missing = api(method, api.session_url(str(uuid.uuid4()), suffix), query={"user_id": other_user}, json_body=payload)
    assert foreign[:2] == missing[:2] == (404, NOT_FOUND)
    assert table_items() == before


def test_missing_user_id_is_422_with_a_detail_list(
    api: Any, new_session: NewSession, assert_validation_error: Any
) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("GET", api.session_url(sid))
    assert_validation_error(status, body)
    assert body["detail"][0]["loc"] == ["query", "user_id"]
    assert body["detail"][0]["type"] == "missing"


def test_bad_session_id_in_path_is_404_like_a_missing_one(api: Any, user: str) -> None:
    for sid in ["abc", "x" * 300, "7e02708b-ad2d-44d6-a851-d02d9713775"]:
        status, body, _ = api("GET", api.session_url(sid), query={"user_id": user})
        assert (status, body) == (404, NOT_FOUND), sid  # SPEC section 4


def test_bad_user_id_in_query_is_422(api: Any, new_session: NewSession, assert_validation_error: Any) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("GET", api.session_url(sid), query={"user_id": "a b"})
    assert_validation_error(status, body)


# -- update -------------------------------------------------------------------------------------------


def test_put_changes_title_and_replaces_metadata(api: Any, new_session: NewSession, user: str) -> None:
    created = new_session(metadata={"source": "web_app", "device": "desktop"}, conversation_data={"a": 1})
    sid = created["session_id"]
    status, body, _ = api(
        "PUT",
        api.session_url(sid),
        query={"user_id": user},
        json_body={"title": "Updated Test Session", "metadata": {"updated": True, "version": 2}},
    )
    assert status == 200, body
    assert body["title"] == "Updated Test Session"
    assert body["metadata"] == {"updated": True, "version": 2}  # replaced, not merged
    assert body["conversation_data"] == {"a": 1}  # not sent, not changed
    assert body["updated_at"] >= created["updated_at"]
    assert api("GET", api.session_url(sid), query={"user_id": user})[1] == body


def test_put_replaces_conversation_data(api: Any, new_session: NewSession, user: str) -> None:
    sid = new_session(conversation_data={"a": 1, "b": 2})["session_id"]
    status, body, _ = api(
        "PUT", api.session_url(sid), query={"user_id": user}, json_body={"conversation_data": {"c": 3}}
    )
    assert status == 200
    assert body["conversation_data"] == {"c": 3}


BAD_UPDATES: list[tuple[str, Any]] = [
    ("unknown field", {"owner": "other_user_456"}),
    ("counter field", {"message_count": 99}),
    ("title too long", {"title": "t" * 257}),
    ("metadata wrong type", {"metadata": [1]}),
    ("metadata 51 keys", {"metadata": {f"k{i}": i for i in range(51)}}),
    ("unknown status", {"status": "deleted"}),
    ("body not an object", ["title"]),
]


def test_bad_update_is_422_and_writes_nothing(
    api: Any, new_session: NewSession, assert_all_rejected: Any, user: str
) -> None:
    sid = new_session()["session_id"]
    q = {"user_id": user}
    assert_all_rejected(BAD_UPDATES, lambda payload: api("PUT", api.session_url(sid), query=q, json_body=payload)[:2])
    assert_all_rejected(
        [("malformed", '{"title": ')], lambda raw: api("PUT", api.session_url(sid), query=q, body=raw)[:2]
    )


# -- status transitions ---------------------------------------------------------------------------------


def put_status(api: Any, sid: str, user: str, status: str) -> tuple[int, Any]:
    code, body, _ = api("PUT", api.session_url(sid), query={"user_id": user}, json_body={"status": status})
    return code, body


def test_active_completed_archived(api: Any, new_session: NewSession, user: str) -> None:
    sid = new_session()["session_id"]
    code, body = put_status(api, sid, user, "completed")
    assert code == 200 and body["status"] == "completed" and body["is_active"] is False
    code, body = put_status(api, sid, user, "archived")
    assert code == 200 and body["status"] == "archived" and body["is_active"] is False


def test_active_to_ended_by_put(api: Any, new_session: NewSession, user: str) -> None:
    sid = new_session()["session_id"]
    code, body = put_status(api, sid, user, "ended")
    assert code == 200 and body["status"] == "ended" and body["is_active"] is False


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "archived"),
        (["completed"], "active"),
        (["completed"], "ended"),
        (["completed", "archived"], "active"),
        (["completed", "archived"], "completed"),
        (["ended"], "active"),
        (["ended"], "completed"),
    ],
)
def test_illegal_transition_is_409_naming_both_and_writes_nothing(
    api: Any, new_session: NewSession, path: list[str], illegal: str, table_items: Any, user: str
) -> None:
    sid = new_session()["session_id"]
    for step in path:
        assert put_status(api, sid, user, step)[0] == 200
    current = path[-1] if path else "active"
    before = table_items()
    code, body = put_status(api, sid, user, illegal)
    assert code == 409, body
    assert current in body["detail"] and illegal in body["detail"]
    assert table_items() == before


@pytest.mark.parametrize("path", [[], ["completed"], ["completed", "archived"], ["ended"]])
def test_setting_the_current_status_is_a_no_op(api: Any, new_session: NewSession, path: list[str], user: str) -> None:
    sid = new_session()["session_id"]
    for step in path:
        assert put_status(api, sid, user, step)[0] == 200
    current = path[-1] if path else "active"
    code, body = put_status(api, sid, user, current)
    assert code == 200, body
    assert body["status"] == current


def test_ended_session_is_read_only(api: Any, new_session: NewSession, table_items: Any, user: str) -> None:
    sid = new_session(title="kept")["session_id"]
    assert api("DELETE", api.session_url(sid), query={"user_id": user})[0] == 200
    before = table_items()
    for payload in ({"title": "changed"}, {"metadata": {"a": 1}}, {"conversation_data": {"b": 2}}):
        status, body, _ = api("PUT", api.session_url(sid), query={"user_id": user}, json_body=payload)
        assert status == 409, body
        assert body["detail"]
    assert table_items() == before
    status, body, _ = api("GET", api.session_url(sid), query={"user_id": user})
    assert (status, body["title"], body["status"]) == (200, "kept", "ended")


def test_completed_session_still_accepts_a_title(api: Any, new_session: NewSession, user: str) -> None:
    sid = new_session()["session_id"]
    assert put_status(api, sid, user, "completed")[0] == 200
    status, body, _ = api("PUT", api.session_url(sid), query={"user_id": user}, json_body={"title": "done"})
    assert (status, body["title"]) == (200, "done")


# -- delete (end) -------------------------------------------------------------------------------------


def test_delete_ends_the_session(api: Any, new_session: NewSession, user: str) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("DELETE", api.session_url(sid), query={"user_id": user})
    assert (status, body) == (200, {"message": "Session ended successfully"})
    status, body, _ = api("GET", api.session_url(sid), query={"user_id": user})
    assert status == 200
    assert body["status"] == "ended" and body["is_active"] is False


def test_delete_twice_is_a_no_op(api: Any, new_session: NewSession, user: str) -> None:
    sid = new_session()["session_id"]
    assert api("DELETE", api.session_url(sid), query={"user_id": user})[0] == 200
    assert api("DELETE", api.session_url(sid), query={"user_id": user})[:2] == (
        200,
        {"message": "Session ended successfully"},
    )


def test_delete_of_a_completed_session_is_409(api: Any, new_session: NewSession, user: str) -> None:
    sid = new_session()["session_id"]
    assert put_status(api, sid, user, "completed")[0] == 200
    status, body, _ = api("DELETE", api.session_url(sid), query={"user_id": user})
    assert status == 409
    assert "completed" in body["detail"] and "ended" in body["detail"]


def test_delete_of_a_missing_session_is_404(api: Any, user: str) -> None:
    assert api("DELETE", api.session_url(str(uuid.uuid4())), query={"user_id": user})[:2] == (404, NOT_FOUND)


# -- summary ------------------------------------------------------------------------------------------


def test_summary_of_a_new_session(api: Any, new_session: NewSession, user: str) -> None:
    created = new_session()
    status, body, _ = api("GET", api.session_url(created["session_id"], "/summary"), query={"user_id": user})
    assert status == 200
    assert body == {
        "session_id": created["session_id"],
        "user_id": user,
        "status": "active",
        "message_count": 0,
        "total_tokens": 0,
        "total_cost": 0.0,
        "has_memory": False,
        "is_active": True,
        "session_summary": "",
        "created_at": created["created_at"],
        "last_activity": created["last_activity"],
    }


# -- expiry -------------------------------------------------------------------------------------------


def test_expired_session_is_gone_for_reads_and_writes(
    api: Any, new_session: NewSession, advance_clock: Any, table_items: Any, user: str
) -> None:
    sid = new_session(ttl_seconds=60)["session_id"]
    advance_clock(61)
    before = table_items()
    q = {"user_id": user}
    assert api("GET", api.session_url(sid), query=q)[:2] == (404, NOT_FOUND)
    assert api("GET", api.session_url(sid, "/summary"), query=q)[:2] == (404, NOT_FOUND)
    assert api("PUT", api.session_url(sid), query=q, json_body={"title": "late"})[:2] == (404, NOT_FOUND)
    assert api("PUT", api.session_url(sid), query=q, json_body={"status": "completed"})[:2] == (404, NOT_FOUND)
    assert api("DELETE", api.session_url(sid), query=q)[:2] == (404, NOT_FOUND)
    assert table_items() == before
    listed = api("GET", f"/api/v1/users/{user}/sessions")[1]
    assert listed["sessions"] == []


def test_a_session_is_live_until_its_ttl(api: Any, new_session: NewSession, advance_clock: Any, user: str) -> None:
    sid = new_session(ttl_seconds=120)["session_id"]
    advance_clock(60)
    assert api("GET", api.session_url(sid), query={"user_id": user})[0] == 200


def test_a_message_cursor_of_an_expired_session_is_400_for_its_successor(
    api: Any, advance_clock: Any, user: str
) -> None:
    sid = str(uuid.uuid4())
    assert api("POST", SESSIONS, json_body={"user_id": user, "session_id": sid, "ttl_seconds": 60})[0] == 201
    batch = {"messages": [{"role": "user", "content": f"old {i}"} for i in range(3)]}
    assert api("POST", api.session_url(sid, "/messages:batch"), query={"user_id": user}, json_body=batch)[0] == 201
    _, page, _ = api("GET", api.session_url(sid, "/messages"), query={"user_id": user, "page_size": 1})
    advance_clock(61)
    assert api("POST", SESSIONS, json_body={"user_id": user, "session_id": sid})[0] == 201
    query = {"user_id": user, "page_size": 1, "next_token": page["next_token"]}
    status, body, _ = api("GET", api.session_url(sid, "/messages"), query=query)
    assert (status, body) == (400, {"detail": "Invalid next_token"})


@pytest.mark.parametrize("same_owner", [True, False])
def test_an_expired_id_is_free_again_and_shows_nothing_of_the_old_session(
    api: Any, advance_clock: Any, user: str, other_user: str, same_owner: bool
) -> None:
    sid = str(uuid.uuid4())
    owner = user if same_owner else other_user
    old = {"user_id": user, "session_id": sid, "ttl_seconds": 60, "title": "old", "metadata": {"old": True}}
    assert api("POST", SESSIONS, json_body=old)[0] == 201
    q = {"user_id": user}
    message = {"role": "user", "content": "old", "tokens_used": 5}
    assert api("POST", api.session_url(sid, "/messages"), query=q, json_body=message)[0] == 201
    memory = {"memory_type": "entity", "content": "old"}
    assert api("POST", api.session_url(sid, "/memory"), query=q, json_body=memory)[0] == 201
    advance_clock(61)
    status, body, _ = api("POST", SESSIONS, json_body={"user_id": owner, "session_id": sid, "title": "new"})
    assert status == 201, body
    assert (body["title"], body["metadata"], body["message_count"], body["total_tokens"]) == ("new", {}, 0, 0)
    q = {"user_id": owner}
    assert api("GET", api.session_url(sid), query=q)[1]["metadata"] == {}
    assert api("GET", api.session_url(sid, "/messages"), query=q)[1]["messages"] == []
    assert api("GET", api.session_url(sid, "/messages"), query={**q, "order": "desc"})[1]["messages"] == []
    assert api("GET", api.session_url(sid, "/memory"), query=q)[1]["memories"] == []
    assert api("GET", api.session_url(sid, "/context"), query=q)[1]["messages"] == []
    assert api("GET", api.session_url(sid, "/summary"), query=q)[1]["has_memory"] is False
    listing = api("GET", f"/api/v1/users/{owner}/sessions", query={})[1]
    assert [s["session_id"] for s in listing["sessions"]] == [sid] and listing["total"] == 1
    if not same_owner:
        assert api("GET", f"/api/v1/users/{user}/sessions", query={})[1]["total"] == 0
    again = api("POST", SESSIONS, json_body={"user_id": other_user if same_owner else user, "session_id": sid})
    assert again[0] == 409  # live again, and someone else's


# -- listing ------------------------------------------------------------------------------------------


def list_sessions(api: Any, user: str, **query: Any) -> tuple[int, Any]:
    status, body, _ = api("GET", f"/api/v1/users/{user}/sessions", query=query)
    return status, body


def make_sessions(new_session: NewSession, count: int, user: str | None = None) -> list[str]:
    """``count`` sessions of ``user`` (default: the test's), oldest first (each created after the previous one)."""
    return [new_session(user, title=f"s{i}")["session_id"] for i in range(count)]


def test_list_is_most_recent_activity_first(
    api: Any, ddb: Any, new_session: NewSession, user: str, move_index_keys: Any
) -> None:
    ids = make_sessions(new_session, 3)
    status, body = list_sessions(api, user)
    assert status == 200
    assert [s["session_id"] for s in body["sessions"]] == ids[::-1]
    assert (body["page"], body["page_size"], body["next_token"]) == (1, 50, None)
    assert body["total"] == 3  # exact at once: creates move the owner's counts
    # activity on the oldest moves it to the front once the stream function moved the index keys
    status, _, _ = api(
        "POST",
        api.session_url(ids[0], "/messages"),
        query={"user_id": user},
        json_body={"role": "user", "content": "hi"},
    )
    assert status == 201
    move_index_keys(ddb, os.environ["TABLE_NAME"])
    assert [s["session_id"] for s in list_sessions(api, user)[1]["sessions"]] == [ids[0], ids[2], ids[1]]


def test_list_shows_only_the_users_sessions(api: Any, new_session: NewSession, other_user: str, user: str) -> None:
    mine = make_sessions(new_session, 2)
    make_sessions(new_session, 2, user=other_user)
    assert {s["session_id"] for s in list_sessions(api, user)[1]["sessions"]} == set(mine)
    assert list_sessions(api, "nobody")[1]["sessions"] == []


def test_next_token_walks_every_session_once(api: Any, new_session: NewSession, user: str) -> None:
    ids = make_sessions(new_session, 7)
    seen: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        status, body = list_sessions(api, user, page_size=3, next_token=token)
        assert status == 200, body
        pages += 1
        assert body["page"] == pages and body["page_size"] == 3
        seen.extend(s["session_id"] for s in body["sessions"])
        token = body["next_token"]
        if token is None:
            break
        assert len(body["sessions"]) == 3
    assert pages == 3
    assert seen == ids[::-1]  # no duplicates, no gaps, in order


def test_next_token_is_url_safe(api: Any, new_session: NewSession, user: str) -> None:
    make_sessions(new_session, 3)
    token = list_sessions(api, user, page_size=1)[1]["next_token"]
    assert token
    assert all(c.isalnum() or c in "-_.~" for c in token)


def test_page_numbers_skip_whole_pages(api: Any, new_session: NewSession, user: str) -> None:
    ids = make_sessions(new_session, 7)[::-1]
    pages = [list_sessions(api, user, page=n, page_size=3)[1] for n in (1, 2, 3, 4)]
    assert [[s["session_id"] for s in p["sessions"]] for p in pages] == [ids[0:3], ids[3:6], ids[6:7], []]
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    assert pages[2]["next_token"] is None


def test_active_only_excludes_ended_and_completed(api: Any, new_session: NewSession, user: str) -> None:
    ids = make_sessions(new_session, 4)
    assert api("DELETE", api.session_url(ids[1]), query={"user_id": user})[0] == 200
    assert put_status(api, ids[2], user, "completed")[0] == 200
    status, body = list_sessions(api, user, active_only=True)
    assert status == 200
    assert [s["session_id"] for s in body["sessions"]] == [ids[3], ids[0]]
    assert all(s["is_active"] for s in body["sessions"])
    assert len(list_sessions(api, user, active_only=False)[1]["sessions"]) == 4


def test_active_only_is_served_by_the_sparse_index(api: Any, ddb: Any, new_session: NewSession, user: str) -> None:
    ids = make_sessions(new_session, 2)
    assert api("DELETE", api.session_url(ids[0]), query={"user_id": user})[0] == 200
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    from session_service import wiring

    events = wiring.dynamodb_client().meta.events
    events.register("provide-client-params.dynamodb.Query", record)
    try:
        list_sessions(api, user, active_only=True)
    finally:
        events.unregister("provide-client-params.dynamodb.Query", record)
    assert [p.get("IndexName") for p in seen] == ["GSI2"]
    index = ddb.query(
        TableName=TABLE,
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :pk AND begins_with(GSI2SK, :active)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user}"}, ":active": {"S": "active#"}},
    )
    assert [item["PK"]["S"] for item in index["Items"]] == [f"SESSION#{ids[1]}"]


def test_active_only_paging(api: Any, new_session: NewSession, user: str) -> None:
    ids = make_sessions(new_session, 5)
    assert api("DELETE", api.session_url(ids[2]), query={"user_id": user})[0] == 200
    first = list_sessions(api, user, active_only=True, page_size=2)[1]
    second = list_sessions(api, user, active_only=True, page_size=2, next_token=first["next_token"])[1]
    got = [s["session_id"] for s in first["sessions"] + second["sessions"]]
    assert got == [ids[4], ids[3], ids[1], ids[0]]
    assert second["next_token"] is None


def test_tampered_next_token_is_400(api: Any, new_session: NewSession, user: str) -> None:
    make_sessions(new_session, 3)
    token = list_sessions(api, user, page_size=1)[1]["next_token"]
    body_part, tag = token.split(".")
    flipped = body_part[:-1] + ("A" if body_part[-1] != "A" else "B")
    for bad in (flipped + "." + tag, body_part + "." + tag[::-1], "garbage", token + "x", "a.b.c", "..."):
        status, body = list_sessions(api, user, page_size=1, next_token=bad)
        assert status == 400, (bad, body)
        assert body == {"detail": "Invalid next_token"}


def test_foreign_next_token_is_400(api: Any, new_session: NewSession, other_user: str, user: str) -> None:
    make_sessions(new_session, 3)
    make_sessions(new_session, 3, user=other_user)
    mine = list_sessions(api, user, page_size=1)[1]["next_token"]
    assert list_sessions(api, other_user, page_size=1, next_token=mine)[0] == 400  # another user's
    assert list_sessions(api, user, page_size=1, active_only=True, next_token=mine)[0] == 400  # another listing
    assert list_sessions(api, user, page_size=2, next_token=mine)[0] == 400  # another page size
    sid = new_session()["session_id"]
    status, body, _ = api("GET", api.session_url(sid, "/messages"), query={"user_id": user, "next_token": mine})
    assert (status, body) == (400, {"detail": "Invalid next_token"})


def test_bad_list_parameters_are_422(api: Any, assert_validation_error: Any, user: str) -> None:
    queries: list[dict[str, Any]] = [
        {"page": 0},
        {"page": "x"},
        {"page_size": 0},
        {"page_size": 201},
        {"page_size": "ten"},
        {"active_only": "maybe"},
        {"next_token": "x" * 3000},
    ]
    for query in queries:
        status, body = list_sessions(api, user, **query)
        assert_validation_error(status, body, str(query)[:40])


def test_bad_user_id_in_list_path_is_422(api: Any, assert_validation_error: Any) -> None:
    for bad in ["u" * 129, "a b", "ü"]:
        status, body = list_sessions(api, bad)
        assert_validation_error(status, body, bad)


def test_list_page_size_200_is_accepted(api: Any, new_session: NewSession, user: str) -> None:
    make_sessions(new_session, 2)
    status, body = list_sessions(api, user, page_size=200)
    assert status == 200 and len(body["sessions"]) == 2 and body["page_size"] == 200


# -- seed 002, end to end -------------------------------------------------------------------------------


def test_seed_002_flow(api: Any, user: str) -> None:
    """Create, add a message, list messages, create and get memory, update, summary, list, end."""
    status, session, _ = api(
        "POST",
        SESSIONS,
        json_body={"user_id": user, "title": "Test Session", "metadata": {"source": "web_app", "device": "desktop"}},
    )
    assert status == 201
    sid = session["session_id"]
    q = {"user_id": user}

    status, message, _ = api(
        "POST",
        api.session_url(sid, "/messages"),
        query=q,
        json_body={
            "role": "user",
            "content": "Hello, this is a test message",
            "message_type": "chat",
            "tokens_used": 5,
            "cost_usd": 0.0001,
            "metadata": {"model": "gpt-4"},
        },
    )
    assert status == 201
    assert (message["tokens_used"], message["cost_usd"]) == (5, 0.0001)

    status, messages, _ = api("GET", api.session_url(sid, "/messages"), query={**q, "page": 1, "page_size": 100})
    assert status == 200
    assert messages["messages"] == [message]
    assert (messages["total"], messages["page"], messages["page_size"]) == (1, 1, 100)

    status, memory, _ = api(
        "POST",
        api.session_url(sid, "/memory"),
        query=q,
        json_body={
            "memory_type": "preference",
            "content": "User prefers dark mode UI",
            "metadata": {"category": "settings", "priority": "high"},
        },
    )
    assert status == 201 and memory["memory_type"] == "preference"

    status, memories, _ = api("GET", api.session_url(sid, "/memory"), query=q)
    assert status == 200
    assert memories["memories"] == [memory] and memories["total"] == 1

    status, updated, _ = api(
        "PUT",
        api.session_url(sid),
        query=q,
        json_body={"title": "Updated Test Session", "metadata": {"updated": True, "version": 2}},
    )
    assert status == 200
    assert updated["title"] == "Updated Test Session"
    assert updated["metadata"] == {"updated": True, "version": 2}
    assert updated["message_count"] == 1

    status, summary, _ = api("GET", api.session_url(sid, "/summary"), query=q)
    assert status == 200
    assert summary["message_count"] == 1 and summary["total_tokens"] == 5 and summary["total_cost"] == 0.0001
    assert summary["has_memory"] is True and summary["is_active"] is True and summary["status"] == "active"

    status, listing, _ = api(
        "GET", f"/api/v1/users/{user}/sessions", query={"active_only": True, "page": 1, "page_size": 50}
    )
    assert status == 200
    assert [(s["session_id"], s["message_count"]) for s in listing["sessions"]] == [(sid, 1)]
    assert (listing["page"], listing["page_size"]) == (1, 50)

    assert api("DELETE", api.session_url(sid), query=q)[:2] == (200, {"message": "Session ended successfully"})
    assert api("GET", f"/api/v1/users/{user}/sessions", query={"active_only": True})[1]["sessions"] == []
    assert api("GET", api.session_url(sid), query=q)[1]["status"] == "ended"


def test_status_lists_the_sessions_of_any_status_from_the_index(api: Any, new_session: NewSession, user: str) -> None:
    ids = make_sessions(new_session, 4)
    assert api("DELETE", api.session_url(ids[1]), query={"user_id": user})[0] == 200
    assert put_status(api, ids[2], user, "completed")[0] == 200
    assert put_status(api, ids[3], user, "completed")[0] == 200
    for status, expected in (("ended", [ids[1]]), ("completed", [ids[3], ids[2]]), ("active", [ids[0]])):
        answer, body = list_sessions(api, user, status=status)
        assert answer == 200 and [s["session_id"] for s in body["sessions"]] == expected, status
        assert body["total"] == len(expected)
    assert list_sessions(api, user, status="archived")[1]["sessions"] == []
    answer, body = list_sessions(api, user, status="paused")
    assert answer == 422 and body["detail"][0]["loc"] == ["query", "status"]
    answer, body = list_sessions(api, user, status="ended", active_only=True)
    assert answer == 422 and body["detail"][0]["loc"] == ["query", "status"]
    assert list_sessions(api, user, status="active", active_only=True)[0] == 200
