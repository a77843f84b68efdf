"""Memory records through their handlers (SPEC sections 3 and 7, issue 3)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

USER = "test_user_123"
OTHER = "other_user_456"
NOT_FOUND = {"detail": "Session not found"}

NewSession = Callable[..., dict[str, Any]]
TYPES = ["preference", "conversation", "entity", "summary", "custom"]


@pytest.fixture
def user() -> str:
    """The tests here act as one user: each works on a session of its own (a fresh id) and never lists the
    user's sessions, so they share the module's table without seeing each other's memory records."""
    return USER


def add_memory(api: Any, sid: str, user: str = USER, **fields: Any) -> tuple[int, Any]:
    body = {"memory_type": "preference", "content": "User prefers dark mode UI", **fields}
    status, answer, _ = api("POST", api.session_url(sid, "/memory"), query={"user_id": user}, json_body=body)
    return status, answer


def list_memories(api: Any, sid: str, **query: Any) -> tuple[int, Any]:
    status, body, _ = api("GET", api.session_url(sid, "/memory"), query={"user_id": USER, **query})
    return status, body


def summary(api: Any, sid: str) -> dict[str, Any]:
    status, body, _ = api("GET", api.session_url(sid, "/summary"), query={"user_id": USER})
    assert status == 200, body
    return dict(body)


@pytest.mark.parametrize("memory_type", TYPES)
def test_add_returns_201_echoing_the_type_sent(api: Any, new_session: NewSession, memory_type: str) -> None:
    sid = new_session()["session_id"]
    status, body = add_memory(api, sid, memory_type=memory_type, metadata={"category": "settings"})
    assert status == 201, body
    assert body["memory_type"] == memory_type  # seed 002 echoed "conversation" for a "preference": not us
    assert str(uuid.UUID(body["memory_id"])) == body["memory_id"]
    assert (body["session_id"], body["user_id"]) == (sid, USER)
    assert body["content"] == "User prefers dark mode UI"
    assert body["metadata"] == {"category": "settings"}
    assert body["created_at"].endswith("Z")


def test_list_returns_every_record_with_total(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    created = [add_memory(api, sid, memory_type=t, content=f"about {t}")[1] for t in ("entity", "preference", "entity")]
    status, body = list_memories(api, sid)
    assert status == 200
    assert isinstance(body["memories"], list)
    assert body["total"] == 3
    assert sorted(m["memory_id"] for m in body["memories"]) == sorted(m["memory_id"] for m in created)
    assert {m["memory_id"]: m for m in body["memories"]} == {m["memory_id"]: m for m in created}


def test_empty_list(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    status, body = list_memories(api, sid)
    assert status == 200
    assert (body["memories"], body["total"]) == ([], 0)


def test_memory_type_filter(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    entities = [add_memory(api, sid, memory_type="entity", content=f"e{i}")[1] for i in range(2)]
    add_memory(api, sid, memory_type="preference")
    add_memory(api, sid, memory_type="custom")
    status, body = list_memories(api, sid, memory_type="entity")
    assert status == 200
    assert [m["content"] for m in body["memories"]] == [m["content"] for m in entities]  # oldest first
    assert body["total"] == 2
    assert list_memories(api, sid, memory_type="summary")[1]["memories"] == []


def test_unknown_memory_type_filter_is_422(api: Any, new_session: NewSession, assert_validation_error: Any) -> None:
    sid = new_session()["session_id"]
    assert_validation_error(*list_memories(api, sid, memory_type="note"))


def test_has_memory_flips_to_true_in_the_summary(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    assert summary(api, sid)["has_memory"] is False
    assert add_memory(api, sid)[0] == 201
    assert summary(api, sid)["has_memory"] is True


def test_adding_memory_is_activity(api: Any, new_session: NewSession) -> None:
    created = new_session()
    sid = created["session_id"]
    assert add_memory(api, sid)[0] == 201
    body = api("GET", api.session_url(sid), query={"user_id": USER})[1]
    assert body["last_activity"] > created["last_activity"]
    assert body["message_count"] == 0  # memory is not a message


@pytest.mark.parametrize("path", [["ended"], ["completed"], ["completed", "archived"]])
def test_non_active_session_refuses_memory_and_stores_nothing(
    api: Any, new_session: NewSession, path: list[str], table_items: Any
) -> None:
    sid = new_session()["session_id"]
    for step in path:
        assert api("PUT", api.session_url(sid), query={"user_id": USER}, json_body={"status": step})[0] == 200
    before = table_items()
    assert add_memory(api, sid) == (409, {"detail": "Session is not active"})
    assert table_items() == before
    assert summary(api, sid)["has_memory"] is False


def test_records_stay_readable_after_the_session_ends(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    add_memory(api, sid, content="kept")
    assert api("DELETE", api.session_url(sid), query={"user_id": USER})[0] == 200
    assert [m["content"] for m in list_memories(api, sid)[1]["memories"]] == ["kept"]


def test_another_users_session_is_404_for_memory(api: Any, new_session: NewSession, table_items: Any) -> None:
    sid = new_session()["session_id"]
    add_memory(api, sid)
    before = table_items()
    assert add_memory(api, sid, user=OTHER) == (404, NOT_FOUND)
    assert list_memories(api, sid, user_id=OTHER) == (404, NOT_FOUND)
    assert add_memory(api, str(uuid.uuid4())) == (404, NOT_FOUND)
    assert list_memories(api, str(uuid.uuid4())) == (404, NOT_FOUND)
    assert table_items() == before


BAD_MEMORIES: list[tuple[str, dict[str, Any]]] = [
    ("unknown type", {"memory_type": "note"}),
    ("missing type", {"memory_type": None}),
    ("empty content", {"content": ""}),
    ("content too large", {"content": "x" * (64 * 1024 + 1)}),
    ("content too large in bytes", {"content": "€" * 22_000}),
    ("content wrong type", {"content": {"a": 1}}),
    ("metadata 51 keys", {"metadata": {f"k{i}": i for i in range(51)}}),
    ("metadata too large", {"metadata": {"a": "x" * (32 * 1024)}}),
    ("unknown field", {"importance": 5}),
]


def test_bad_memory_is_422_and_writes_nothing(api: Any, new_session: NewSession, assert_all_rejected: Any) -> None:
    sid = new_session()["session_id"]
    assert_all_rejected(BAD_MEMORIES, lambda fields: add_memory(api, sid, **fields))
    assert summary(api, sid)["has_memory"] is False


def test_largest_memory_content_is_accepted(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    content = "x" * (64 * 1024)
    assert add_memory(api, sid, content=content)[0] == 201
    assert list_memories(api, sid)[1]["memories"][0]["content"] == content


def test_memory_paging_with_next_token(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    ids = {add_memory(api, sid, memory_type="custom", content=f"c{i}")[1]["memory_id"] for i in range(5)}
    seen: list[str] = []
    tokens: list[str] = []
    token = None
    while True:
        status, body = list_memories(api, sid, page_size=2, next_token=token)
        assert status == 200, body
        seen.extend(m["memory_id"] for m in body["memories"])
        token = body["next_token"]
        if token is None:
            break
        tokens.append(token)
    assert sorted(seen) == sorted(ids) and len(seen) == 5 and len(tokens) == 2
    # a cursor of the unfiltered listing does not continue a filtered one
    assert list_memories(api, sid, page_size=2, memory_type="custom", next_token=tokens[0]) == (
        400,
        {"detail": "Invalid next_token"},
    )


def test_total_counts_every_matching_record_not_the_page(api: Any, new_session: NewSession) -> None:
    sid = new_session()["session_id"]
    for i in range(3):
        assert add_memory(api, sid, memory_type="entity", content=f"e{i}")[0] == 201
    for i in range(2):
        assert add_memory(api, sid, memory_type="preference", content=f"p{i}")[0] == 201
    status, body = list_memories(api, sid, page_size=1)
    assert status == 200 and len(body["memories"]) == 1 and body["total"] == 5
    status, body = list_memories(api, sid, page_size=2, memory_type="entity")
    assert len(body["memories"]) == 2 and body["total"] == 3
    status, body = list_memories(api, sid, page_size=2, memory_type="entity", next_token=body["next_token"])
    assert len(body["memories"]) == 1 and body["total"] == 3
    assert list_memories(api, sid, memory_type="summary")[1]["total"] == 0
