"""The sessions API through its handlers (SPEC sections 3-5, issue 2)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import TABLE, Api

USER = "test_user_123"
OTHER = "other_user_456"
SESSIONS = "/api/v1/sessions"
NOT_FOUND = {"detail": "Session not found"}

NewSession = Callable[..., dict[str, Any]]


def table_items(ddb: Any) -> list[dict[str, Any]]:
    """Every item of the table, sorted (a test-only Scan to prove that nothing was written)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def session_url(session_id: str, suffix: str = "") -> str:
    return f"{SESSIONS}/{session_id}{suffix}"


def assert_validation_error(status: int, body: Any, case: str = "") -> None:
    assert status == 422, (case, body)
    assert isinstance(body["detail"], list) and body["detail"], case
    for error in body["detail"]:
        assert set(error) >= {"type", "loc", "msg"}, case


def assert_all_rejected(
    ddb: Any, cases: list[tuple[str, Any]], send: Callable[[Any], tuple[int, Any]], status: int = 422
) -> None:
    """Each bad input answers ``status`` with a ``detail`` and leaves the table exactly as it was.

    The cases share one table (one test) to keep the suite fast; the failing case is named in the message.
    """
    before = table_items(ddb)
    for case, payload in cases:
        code, body = send(payload)
        if status == 422:
            assert_validation_error(code, body, case)
        else:
            assert code == status and body["detail"], (case, code, body)
        assert table_items(ddb) == before, case


def advance_clock(monkeypatch: pytest.MonkeyPatch, repo: Any, seconds: float) -> None:
    """Move the repository's clock forward (TTL deletion runs days late; reads must not wait for it)."""
    later = datetime.now(UTC) + timedelta(seconds=seconds)
    monkeypatch.setattr(repo, "_clock", lambda: later)


# -- create -------------------------------------------------------------------------------------------


def test_create_returns_201_with_a_server_uuid_and_the_seed_002_shape(api: Api) -> None:
    status, body, headers = api(
        "POST",
        SESSIONS,
        json_body={"user_id": USER, "title": "Test Session", "metadata": {"source": "web_app", "device": "desktop"}},
    )
    assert status == 201, body
    assert str(uuid.UUID(body["session_id"])) == body["session_id"]
    assert body["user_id"] == USER
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


def test_client_chosen_id_is_created_then_ensured(api: Api) -> None:
    sid = f"user_abc123_{uuid.uuid4()}"
    status, first, _ = api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid, "title": "first"})
    assert status == 201, first
    assert first["session_id"] == sid
    status, again, _ = api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid, "title": "second"})
    assert status == 200, again
    assert again == first  # unchanged: seed 004's "ensure the session exists"


def test_client_chosen_id_of_another_user_is_409_and_unchanged(api: Api, ddb: Any) -> None:
    sid = str(uuid.uuid4())
    assert api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid})[0] == 201
    before = table_items(ddb)
    status, body, _ = api("POST", SESSIONS, json_body={"user_id": OTHER, "session_id": sid, "title": "mine"})
    assert status == 409
    assert isinstance(body["detail"], str)
    assert table_items(ddb) == before
    assert api("GET", session_url(sid), query={"user_id": USER})[1]["title"] == ""


def test_client_chosen_id_must_follow_seed_004(api: Api, ddb: Any) -> None:
    for sid in ["abc", "not-a-uuid", f"{uuid.uuid4()}x", "_" + str(uuid.uuid4()), "a b", f"a/b_{uuid.uuid4()}"]:
        status, body, _ = api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid})
        assert_validation_error(status, body, sid)
        assert any(error["loc"][-1] == "session_id" for error in body["detail"]), sid
    assert table_items(ddb) == []


# -- bad input writes nothing ----------------------------------------------------------------------------


BAD_CREATES: list[tuple[str, Any]] = [
    ("missing user_id", {"title": "x"}),
    ("user_id wrong type", {"user_id": 123}),
    ("user_id bad chars", {"user_id": "a b"}),
    ("user_id too long", {"user_id": "u" * 129}),
    ("unknown field", {"user_id": USER, "owner": "x"}),
    ("title too long", {"user_id": USER, "title": "t" * 257}),
    ("title wrong type", {"user_id": USER, "title": ["x"]}),
    ("metadata not an object", {"user_id": USER, "metadata": "x"}),
    ("metadata 51 keys", {"user_id": USER, "metadata": {f"k{i}": i for i in range(51)}}),
    ("metadata too large", {"user_id": USER, "metadata": {"a": "x" * 33_000}}),
    ("conversation_data too large", {"user_id": USER, "conversation_data": {"a": "€" * 11_000}}),
    ("ttl too small", {"user_id": USER, "ttl_seconds": 1}),
    ("ttl wrong type", {"user_id": USER, "ttl_seconds": "60"}),
    ("body is null-ish", "text"),
]


def test_bad_create_is_422_with_detail_and_writes_nothing(api: Api, ddb: Any) -> None:
    assert_all_rejected(ddb, BAD_CREATES, lambda payload: api("POST", SESSIONS, json_body=payload)[:2])
    assert table_items(ddb) == []


def test_a_json_array_body_is_422_not_its_first_element(api: Api, ddb: Any) -> None:
    for payload in ([{"user_id": USER}, {"user_id": OTHER}], "just a string", 42, None):
        status, body, _ = api("POST", SESSIONS, body=json.dumps(payload))
        assert_validation_error(status, body)
    assert table_items(ddb) == []


def test_malformed_json_body_is_422_with_detail_and_writes_nothing(api: Api, ddb: Any) -> None:
    raws = ["{", '{"user_id": "u1",}', "not json", '{"user_id": NaN}', '{"user_id": "u1", "metadata": {"x": NaN}}']
    assert_all_rejected(ddb, [(raw, raw) for raw in raws], lambda raw: api("POST", SESSIONS, body=raw)[:2])
    assert table_items(ddb) == []


def test_empty_body_is_422(api: Api, ddb: Any) -> None:
    status, body, _ = api("POST", SESSIONS, body="")
    assert_validation_error(status, body)
    assert table_items(ddb) == []


# -- get ----------------------------------------------------------------------------------------------


def test_get_returns_the_session(api: Api, new_session: NewSession) -> None:
    created = new_session(title="T", conversation_data={"turns": [1, 2]})
    status, body, _ = api("GET", session_url(created["session_id"]), query={"user_id": USER})
    assert status == 200
    assert body == created


def test_missing_session_is_404(api: Api) -> None:
    status, body, _ = api("GET", session_url(str(uuid.uuid4())), query={"user_id": USER})
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
    api: Api, ddb: Any, new_session: NewSession, method: str, suffix: str, payload: Any
) -> None:
    sid = new_session()["session_id"]
    before = table_items(ddb)
    foreign = api(method, session_url(sid, suffix), query={"user_id": OTHER}, json_body=payload)
    missing = api(method, session_url(str(uuid.uuid4()), suffix), query={"user_id": OTHER}, json_body=payload)
    assert foreign[:2] == missing[:2] == (404, NOT_FOUND)
    assert table_items(ddb) == before


def test_missing_user_id_is_422_with_a_detail_list(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("GET", session_url(sid))
    assert_validation_error(status, body)
    assert body["detail"][0]["loc"] == ["query", "user_id"]
    assert body["detail"][0]["type"] == "missing"


def test_bad_session_id_in_path_is_404_like_a_missing_one(api: Api) -> None:
    for sid in ["abc", "x" * 300, "7e02708b-ad2d-44d6-a851-d02d9713775"]:
        status, body, _ = api("GET", session_url(sid), query={"user_id": USER})
        assert (status, body) == (404, NOT_FOUND), sid  # SPEC section 4


def test_bad_user_id_in_query_is_422(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("GET", session_url(sid), query={"user_id": "a b"})
    assert_validation_error(status, body)


# -- update -------------------------------------------------------------------------------------------


def test_put_changes_title_and_replaces_metadata(api: Api, new_session: NewSession) -> None:
    created = new_session(metadata={"source": "web_app", "device": "desktop"}, conversation_data={"a": 1})
    sid = created["session_id"]
    status, body, _ = api(
        "PUT",
        session_url(sid),
        query={"user_id": USER},
        json_body={"title": "Updated Test Session", "metadata": {"updated": True, "version": 2}},
    )
    assert status == 200, body
    assert body["title"] == "Updated Test Session"
    assert body["metadata"] == {"updated": True, "version": 2}  # replaced, not merged
    assert body["conversation_data"] == {"a": 1}  # not sent, not changed
    assert body["updated_at"] >= created["updated_at"]
    assert api("GET", session_url(sid), query={"user_id": USER})[1] == body


def test_put_replaces_conversation_data(api: Api, new_session: NewSession) -> None:
    sid = new_session(conversation_data={"a": 1, "b": 2})["session_id"]
    status, body, _ = api("PUT", session_url(sid), query={"user_id": USER}, json_body={"conversation_data": {"c": 3}})
    assert status == 200
    assert body["conversation_data"] == {"c": 3}


BAD_UPDATES: list[tuple[str, Any]] = [
    ("unknown field", {"owner": OTHER}),
    ("counter field", {"message_count": 99}),
    ("title too long", {"title": "t" * 257}),
    ("metadata wrong type", {"metadata": [1]}),
    ("metadata 51 keys", {"metadata": {f"k{i}": i for i in range(51)}}),
    ("unknown status", {"status": "deleted"}),
    ("body not an object", ["title"]),
]


def test_bad_update_is_422_and_writes_nothing(api: Api, ddb: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    q = {"user_id": USER}
    assert_all_rejected(ddb, BAD_UPDATES, lambda payload: api("PUT", session_url(sid), query=q, json_body=payload)[:2])
    assert_all_rejected(
        ddb, [("malformed", '{"title": ')], lambda raw: api("PUT", session_url(sid), query=q, body=raw)[:2]
    )


# -- status transitions ---------------------------------------------------------------------------------


def put_status(api: Api, sid: str, status: str) -> tuple[int, Any]:
    code, body, _ = api("PUT", session_url(sid), query={"user_id": USER}, json_body={"status": status})
    return code, body


def test_active_completed_archived(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    code, body = put_status(api, sid, "completed")
    assert code == 200 and body["status"] == "completed" and body["is_active"] is False
    code, body = put_status(api, sid, "archived")
    assert code == 200 and body["status"] == "archived" and body["is_active"] is False


def test_active_to_ended_by_put(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    code, body = put_status(api, sid, "ended")
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
    api: Api, ddb: Any, new_session: NewSession, path: list[str], illegal: str
) -> None:
    sid = new_session()["session_id"]
    for step in path:
        assert put_status(api, sid, step)[0] == 200
    current = path[-1] if path else "active"
    before = table_items(ddb)
    code, body = put_status(api, sid, illegal)
    assert code == 409, body
    assert current in body["detail"] and illegal in body["detail"]
    assert table_items(ddb) == before


@pytest.mark.parametrize("path", [[], ["completed"], ["completed", "archived"], ["ended"]])
def test_setting_the_current_status_is_a_no_op(api: Api, new_session: NewSession, path: list[str]) -> None:
    sid = new_session()["session_id"]
    for step in path:
        assert put_status(api, sid, step)[0] == 200
    current = path[-1] if path else "active"
    code, body = put_status(api, sid, current)
    assert code == 200, body
    assert body["status"] == current


def test_ended_session_is_read_only(api: Api, ddb: Any, new_session: NewSession) -> None:
    sid = new_session(title="kept")["session_id"]
    assert api("DELETE", session_url(sid), query={"user_id": USER})[0] == 200
    before = table_items(ddb)
    for payload in ({"title": "changed"}, {"metadata": {"a": 1}}, {"conversation_data": {"b": 2}}):
        status, body, _ = api("PUT", session_url(sid), query={"user_id": USER}, json_body=payload)
        assert status == 409, body
        assert body["detail"]
    assert table_items(ddb) == before
    status, body, _ = api("GET", session_url(sid), query={"user_id": USER})
    assert (status, body["title"], body["status"]) == (200, "kept", "ended")


def test_completed_session_still_accepts_a_title(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    assert put_status(api, sid, "completed")[0] == 200
    status, body, _ = api("PUT", session_url(sid), query={"user_id": USER}, json_body={"title": "done"})
    assert (status, body["title"]) == (200, "done")


# -- delete (end) -------------------------------------------------------------------------------------


def test_delete_ends_the_session(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    status, body, _ = api("DELETE", session_url(sid), query={"user_id": USER})
    assert (status, body) == (200, {"message": "Session ended successfully"})
    status, body, _ = api("GET", session_url(sid), query={"user_id": USER})
    assert status == 200
    assert body["status"] == "ended" and body["is_active"] is False


def test_delete_twice_is_a_no_op(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    assert api("DELETE", session_url(sid), query={"user_id": USER})[0] == 200
    assert api("DELETE", session_url(sid), query={"user_id": USER})[:2] == (
        200,
        {"message": "Session ended successfully"},
    )


def test_delete_of_a_completed_session_is_409(api: Api, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    assert put_status(api, sid, "completed")[0] == 200
    status, body, _ = api("DELETE", session_url(sid), query={"user_id": USER})
    assert status == 409
    assert "completed" in body["detail"] and "ended" in body["detail"]


def test_delete_of_a_missing_session_is_404(api: Api) -> None:
    assert api("DELETE", session_url(str(uuid.uuid4())), query={"user_id": USER})[:2] == (404, NOT_FOUND)


# -- summary ------------------------------------------------------------------------------------------


def test_summary_of_a_new_session(api: Api, new_session: NewSession) -> None:
    created = new_session()
    status, body, _ = api("GET", session_url(created["session_id"], "/summary"), query={"user_id": USER})
    assert status == 200
    assert body == {
        "session_id": created["session_id"],
        "user_id": USER,
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
    api: Api, ddb: Any, repo: Any, new_session: NewSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = new_session(ttl_seconds=60)["session_id"]
    advance_clock(monkeypatch, repo, 61)
    before = table_items(ddb)
    q = {"user_id": USER}
    assert api("GET", session_url(sid), query=q)[:2] == (404, NOT_FOUND)
    assert api("GET", session_url(sid, "/summary"), query=q)[:2] == (404, NOT_FOUND)
    assert api("PUT", session_url(sid), query=q, json_body={"title": "late"})[:2] == (404, NOT_FOUND)
    assert api("PUT", session_url(sid), query=q, json_body={"status": "completed"})[:2] == (404, NOT_FOUND)
    assert api("DELETE", session_url(sid), query=q)[:2] == (404, NOT_FOUND)
    assert table_items(ddb) == before
    listed = api("GET", f"/api/v1/users/{USER}/sessions")[1]
    assert listed["sessions"] == []


def test_a_session_is_live_until_its_ttl(
    api: Api, repo: Any, new_session: NewSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = new_session(ttl_seconds=120)["session_id"]
    advance_clock(monkeypatch, repo, 60)
    assert api("GET", session_url(sid), query={"user_id": USER})[0] == 200


def test_recreating_an_expired_id_is_refused_while_ttl_cleans_up(
    api: Api, repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = str(uuid.uuid4())
    assert api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid, "ttl_seconds": 60})[0] == 201
    advance_clock(monkeypatch, repo, 61)
    status, body, _ = api("POST", SESSIONS, json_body={"user_id": USER, "session_id": sid})
    assert status == 409, body


# -- listing ------------------------------------------------------------------------------------------


def list_sessions(api: Api, user: str = USER, **query: Any) -> tuple[int, Any]:
    status, body, _ = api("GET", f"/api/v1/users/{user}/sessions", query=query)
    return status, body


def make_sessions(new_session: NewSession, count: int, user: str = USER) -> list[str]:
    """``count`` sessions of ``user``, oldest first (each created after the previous one)."""
    return [new_session(user, title=f"s{i}")["session_id"] for i in range(count)]


def test_list_is_most_recent_activity_first(api: Api, new_session: NewSession) -> None:
    ids = make_sessions(new_session, 3)
    status, body = list_sessions(api)
    assert status == 200
    assert [s["session_id"] for s in body["sessions"]] == ids[::-1]
    assert (body["page"], body["page_size"], body["next_token"]) == (1, 50, None)
    assert body["total"] == 0 or body["total"] == 3  # kept by the stream function (absent here)
    # activity on the oldest moves it to the front
    status, _, _ = api(
        "POST", session_url(ids[0], "/messages"), query={"user_id": USER}, json_body={"role": "user", "content": "hi"}
    )
    assert status == 201
    assert [s["session_id"] for s in list_sessions(api)[1]["sessions"]] == [ids[0], ids[2], ids[1]]


def test_list_shows_only_the_users_sessions(api: Api, new_session: NewSession) -> None:
    mine = make_sessions(new_session, 2)
    make_sessions(new_session, 2, user=OTHER)
    assert {s["session_id"] for s in list_sessions(api)[1]["sessions"]} == set(mine)
    assert list_sessions(api, user="nobody")[1]["sessions"] == []


def test_next_token_walks_every_session_once(api: Api, new_session: NewSession) -> None:
    ids = make_sessions(new_session, 7)
    seen: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        status, body = list_sessions(api, page_size=3, next_token=token)
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


def test_next_token_is_url_safe(api: Api, new_session: NewSession) -> None:
    make_sessions(new_session, 3)
    token = list_sessions(api, page_size=1)[1]["next_token"]
    assert token
    assert all(c.isalnum() or c in "-_.~" for c in token)


def test_page_numbers_skip_whole_pages(api: Api, new_session: NewSession) -> None:
    ids = make_sessions(new_session, 7)[::-1]
    pages = [list_sessions(api, page=n, page_size=3)[1] for n in (1, 2, 3, 4)]
    assert [[s["session_id"] for s in p["sessions"]] for p in pages] == [ids[0:3], ids[3:6], ids[6:7], []]
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    assert pages[2]["next_token"] is None


def test_active_only_excludes_ended_and_completed(api: Api, new_session: NewSession) -> None:
    ids = make_sessions(new_session, 4)
    assert api("DELETE", session_url(ids[1]), query={"user_id": USER})[0] == 200
    assert put_status(api, ids[2], "completed")[0] == 200
    status, body = list_sessions(api, active_only=True)
    assert status == 200
    assert [s["session_id"] for s in body["sessions"]] == [ids[3], ids[0]]
    assert all(s["is_active"] for s in body["sessions"])
    assert len(list_sessions(api, active_only=False)[1]["sessions"]) == 4


def test_active_only_is_served_by_the_sparse_index(api: Api, ddb: Any, new_session: NewSession) -> None:
    ids = make_sessions(new_session, 2)
    assert api("DELETE", session_url(ids[0]), query={"user_id": USER})[0] == 200
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    from session_service import wiring

    events = wiring.dynamodb_client().meta.events
    events.register("provide-client-params.dynamodb.Query", record)
    try:
        list_sessions(api, active_only=True)
    finally:
        events.unregister("provide-client-params.dynamodb.Query", record)
    assert [p.get("IndexName") for p in seen] == ["GSI2"]
    index = ddb.query(
        TableName=TABLE,
        IndexName="GSI2",
        KeyConditionExpression="GSI2PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"USER#{USER}"}},
    )
    assert [item["session_id"]["S"] for item in index["Items"]] == [ids[1]]


def test_active_only_paging(api: Api, new_session: NewSession) -> None:
    ids = make_sessions(new_session, 5)
    assert api("DELETE", session_url(ids[2]), query={"user_id": USER})[0] == 200
    first = list_sessions(api, active_only=True, page_size=2)[1]
    second = list_sessions(api, active_only=True, page_size=2, next_token=first["next_token"])[1]
    got = [s["session_id"] for s in first["sessions"] + second["sessions"]]
    assert got == [ids[4], ids[3], ids[1], ids[0]]
    assert second["next_token"] is None


def test_tampered_next_token_is_400(api: Api, ddb: Any, new_session: NewSession) -> None:
    make_sessions(new_session, 3)
    token = list_sessions(api, page_size=1)[1]["next_token"]
    body_part, tag = token.split(".")
    flipped = body_part[:-1] + ("A" if body_part[-1] != "A" else "B")
    for bad in (flipped + "." + tag, body_part + "." + tag[::-1], "garbage", token + "x", "a.b.c", "..."):
        status, body = list_sessions(api, page_size=1, next_token=bad)
        assert status == 400, (bad, body)
        assert body == {"detail": "Invalid next_token"}


def test_foreign_next_token_is_400(api: Api, new_session: NewSession) -> None:
    make_sessions(new_session, 3)
    make_sessions(new_session, 3, user=OTHER)
    mine = list_sessions(api, page_size=1)[1]["next_token"]
    assert list_sessions(api, OTHER, page_size=1, next_token=mine)[0] == 400  # another user's
    assert list_sessions(api, page_size=1, active_only=True, next_token=mine)[0] == 400  # another listing
    assert list_sessions(api, page_size=2, next_token=mine)[0] == 400  # another page size
    sid = new_session()["session_id"]
    status, body, _ = api("GET", session_url(sid, "/messages"), query={"user_id": USER, "next_token": mine})
    assert (status, body) == (400, {"detail": "Invalid next_token"})


def test_bad_list_parameters_are_422(api: Api) -> None:
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
        status, body = list_sessions(api, **query)
        assert_validation_error(status, body, str(query)[:40])


def test_bad_user_id_in_list_path_is_422(api: Api) -> None:
    for user in ["u" * 129, "a b", "ü"]:
        status, body = list_sessions(api, user=user)
        assert_validation_error(status, body, user)


def test_list_page_size_200_is_accepted(api: Api, new_session: NewSession) -> None:
    make_sessions(new_session, 2)
    status, body = list_sessions(api, page_size=200)
    assert status == 200 and len(body["sessions"]) == 2 and body["page_size"] == 200


# -- seed 002, end to end -------------------------------------------------------------------------------


def test_seed_002_flow(api: Api) -> None:
    """Create, add a message, list messages, create and get memory, update, summary, list, end."""
    status, session, _ = api(
        "POST",
        SESSIONS,
        json_body={"user_id": USER, "title": "Test Session", "metadata": {"source": "web_app", "device": "desktop"}},
    )
    assert status == 201
    sid = session["session_id"]
    q = {"user_id": USER}

    status, message, _ = api(
        "POST",
        session_url(sid, "/messages"),
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

    status, messages, _ = api("GET", session_url(sid, "/messages"), query={**q, "page": 1, "page_size": 100})
    assert status == 200
    assert messages["messages"] == [message]
    assert (messages["total"], messages["page"], messages["page_size"]) == (1, 1, 100)

    status, memory, _ = api(
        "POST",
        session_url(sid, "/memory"),
        query=q,
        json_body={
            "memory_type": "preference",
            "content": "User prefers dark mode UI",
            "metadata": {"category": "settings", "priority": "high"},
        },
    )
    assert status == 201 and memory["memory_type"] == "preference"

    status, memories, _ = api("GET", session_url(sid, "/memory"), query=q)
    assert status == 200
    assert memories["memories"] == [memory] and memories["total"] == 1

    status, updated, _ = api(
        "PUT",
        session_url(sid),
        query=q,
        json_body={"title": "Updated Test Session", "metadata": {"updated": True, "version": 2}},
    )
    assert status == 200
    assert updated["title"] == "Updated Test Session"
    assert updated["metadata"] == {"updated": True, "version": 2}
    assert updated["message_count"] == 1

    status, summary, _ = api("GET", session_url(sid, "/summary"), query=q)
    assert status == 200
    assert summary["message_count"] == 1 and summary["total_tokens"] == 5 and summary["total_cost"] == 0.0001
    assert summary["has_memory"] is True and summary["is_active"] is True and summary["status"] == "active"

    status, listing, _ = api(
        "GET", f"/api/v1/users/{USER}/sessions", query={"active_only": True, "page": 1, "page_size": 50}
    )
    assert status == 200
    assert [(s["session_id"], s["message_count"]) for s in listing["sessions"]] == [(sid, 1)]
    assert (listing["page"], listing["page_size"]) == (1, 50)

    assert api("DELETE", session_url(sid), query=q)[:2] == (200, {"message": "Session ended successfully"})
    assert api("GET", f"/api/v1/users/{USER}/sessions", query={"active_only": True})[1]["sessions"] == []
    assert api("GET", session_url(sid), query=q)[1]["status"] == "ended"
